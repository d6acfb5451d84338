"""The "why not dialling / next dial" line: one explanation for the campaign page, the campaign
list, the control room and `GET /campaigns/:id` (`dialling.message`, `dialling.nextDialLocal`).

The dispatcher notes on the campaign row why its last tick placed no call and, when it knows,
the moment it expects to dial next (`Campaign.next_dial_at`, UTC: a window opening, a retry, a
callback). A campaign manager thinks in the contacts' clock, not UTC nor the server's, so that
moment is told in the time zone of the contact who is due then ("Next dial 09:00
America/New_York (in 3 h 20 min)"). A list spanning several zones names the zone of that next
due contact; without one (a scheduled start, a stale note) the campaign's first pending contact,
then its list's first contact, then the deployment's default zone stand in.

The zone is read with the campaign (`selectors.with_next_dial_zone`: an annotation, so the
admin list and the API list cost no query a row); a campaign read without it costs one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from campaigns import costs
from campaigns.models import BudgetState, Campaign
from campaigns.selectors import Dialling, campaign_dialling, next_dial_zone

# Why a campaign places no call, as a person would say it (one per `Dialling.reason`).
REASON_TEXTS = {
    None: "Dialling.",
    "capacity": "Waiting for a free line: every live call this deployment can hold is in use.",
    "pacing": "Waiting: the campaign's own concurrent-call or calls-per-second limit is reached.",
    "window": "Waiting: outside the contacts' calling window.",
    "nothing_due": "Waiting: no contact is due now.",
    "paused": "Paused.",
    "scheduled": "Scheduled to start.",
    "budget": costs.BUDGET_SPENT_TEXT,
}
# When there is no moment to name: what the next dial waits for instead.
UNTIMED_NEXT = {
    "capacity": "Next dial as soon as a line is free.",
    "pacing": "Next dial as soon as one of its calls ends or its calls-per-second allow.",
    "nothing_due": "No further call is scheduled: the remaining contacts are on calls or done.",
    "window": "Next dial when the window opens.",
    "paused": "It dials again when resumed.",
    "budget": costs.BUDGET_SPENT_NEXT,
}


@dataclass(frozen=True)
class NextDial:
    """When the campaign dials next, and the zone to tell it in (the next due contact's)."""

    at: datetime
    time_zone: str

    @property
    def local(self) -> datetime:
        return self.at.astimezone(_zone(self.time_zone))


@dataclass(frozen=True)
class DiallingLine:
    state: str
    reason: str | None
    waiting: int
    next_dial: NextDial | None
    text: str


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.CAMPAIGNS_DEFAULT_TIME_ZONE)


def duration_in_words(delta: timedelta) -> str:
    """A wait as a person says it: 3 h 20 min, 45 min, 2 days 3 h, less than a minute.

    Rounded up to the minute: "in 0 min" would read as now."""
    minutes = -(-int(delta.total_seconds()) // 60)
    if minutes <= 0:
        return "less than a minute"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        head = f"{days} day{'s' if days != 1 else ''}"
        return f"{head} {hours} h" if hours else head
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def local_moment_text(next_dial: NextDial, *, now: datetime) -> str:
    """The moment on the contact's clock, with how long until then.

    "09:00 America/New_York (in 3 h 20 min)"; another local day is named ("tomorrow 09:00",
    "Thu 5 Mar 09:00")."""
    local = next_dial.local
    today = now.astimezone(local.tzinfo).date()
    clock = f"{local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        clock = f"tomorrow {clock}"
    elif local.date() != today:
        clock = f"{local:%a} {local.day} {local:%b} {clock}"
    when = "due now" if next_dial.at <= now else f"in {duration_in_words(next_dial.at - now)}"
    return f"{clock} {next_dial.time_zone} ({when})"


def campaign_dialling_line(
    campaign: Campaign, *, now: datetime | None = None, dialling: Dialling | None = None
) -> DiallingLine | None:
    """Why `campaign` is (not) dialling and when it dials next; None when it cannot dial
    (a draft, stopped or completed campaign)."""
    dialling = dialling or campaign_dialling(campaign)
    if dialling.state == "idle":
        return None
    moment = now or timezone.now()
    text = REASON_TEXTS.get(dialling.reason, dialling.reason or "")
    if dialling.state != "idle" and campaign.budget_state == BudgetState.SLOW:
        percent = settings.CAMPAIGNS_BUDGET_SLOW_PERCENT
        text += " " + costs.BUDGET_SLOW_TEXT.format(percent=percent)
    if dialling.waiting_for_capacity:
        count = dialling.waiting_for_capacity
        text += f" {count} due contact{'s' if count != 1 else ''} waiting."
    next_dial = None
    if dialling.next_dial_at is not None:
        next_dial = NextDial(at=dialling.next_dial_at, time_zone=next_dial_zone(campaign))
        verb = "Starts" if dialling.reason == "scheduled" else "Next dial"
        text += f" {verb} {local_moment_text(next_dial, now=moment)}."
    elif dialling.reason in UNTIMED_NEXT:
        text += f" {UNTIMED_NEXT[dialling.reason]}"
    return DiallingLine(
        state=dialling.state,
        reason=dialling.reason,
        waiting=dialling.waiting_for_capacity,
        next_dial=next_dial,
        text=text,
    )
