"""The compliance gate: may this contact be dialled now, and if not, when?

Checked when the dispatcher claims a contact and again right before the call is placed
(`campaigns.dialling.gate`, the dial gate the placement service calls). Rules, in order:

1. Do-not-call: the organization's list (never dialled; the contact becomes `do_not_call`).
2. Attempt cap: `max_attempts` counted calls (claims cancelled before dialling do not count;
   a callback the callee asked for may exceed the cap by `CALLBACK_EXTRA_ATTEMPTS`).
3. Campaign end: nothing is claimed at or after `end_at`.
4. Calling window in the callee's local time: the intersection of the country's rule, the
   state's rule (`calling_rules`), and the campaign's days of week and hours. A contact is
   checked in *every* zone its number may be in, and in its explicit zone too when it has one
   (an import's `time_zone` column adds a zone, it never replaces the number's). Outside the
   window the contact is rescheduled to the next allowed moment, computed with zoneinfo so
   daylight-saving days are right.

Test calls (`POST /calls/test`) have no campaign: they are checked against the legal window
alone (`LEGAL_SCHEDULE`), in every zone of the number (`Callee.of_number`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from campaigns import phones
from campaigns.calling_rules import LEGAL_WINDOW, CallingRule, DayWindow, rules_for
from campaigns.models import (
    Campaign,
    Contact,
    TimeZoneSource,
)

logger = logging.getLogger(__name__)

# How many calls past max_attempts a callee's own callback requests may cause.
CALLBACK_EXTRA_ATTEMPTS = 2
# Look this many days ahead for an allowed moment (a week covers every weekday rule).
_SEARCH_DAYS = 8


class GateReason(StrEnum):
    ALLOWED = "allowed"
    DO_NOT_CALL = "do_not_call"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    CAMPAIGN_ENDED = "campaign_ended"
    OUTSIDE_CALLING_WINDOW = "outside_calling_window"
    NO_CALLING_WINDOW = "no_calling_window"
    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    CALLER_ID_NOT_REGISTERED = "caller_id_not_registered"


@dataclass(frozen=True)
class Schedule:
    """The campaign's narrowing of the legal window."""

    days_of_week: frozenset[int]
    window_start: time
    window_end: time
    end_at: datetime | None

    @classmethod
    def of(cls, campaign: Campaign) -> Schedule:
        return cls(
            days_of_week=frozenset(int(day) for day in campaign.days_of_week),
            window_start=campaign.window_start,
            window_end=campaign.window_end,
            end_at=campaign.end_at,
        )

    def effective_window(self, rules: Sequence[CallingRule], weekday: int) -> DayWindow | None:
        if weekday not in self.days_of_week:
            return None
        start = max(self.window_start, LEGAL_WINDOW.start)
        end = min(self.window_end, LEGAL_WINDOW.end)
        for rule in rules:
            window = rule.window_for(weekday)
            if window is None:
                return None
            start, end = max(start, window.start), min(end, window.end)
        return DayWindow(start, end) if start < end else None


@dataclass(frozen=True)
class Callee:
    """Where and when a contact is: the zones to check and the rules that apply."""

    zones: tuple[str, ...]
    country: str
    region: str
    rules: tuple[CallingRule, ...]

    @classmethod
    def of(cls, contact: Contact) -> Callee:
        # Several zones (a split area code, Alaska, toll-free): allowed in all of them.
        number_zones = phones.zones_for_number(contact.phone_number)
        if contact.time_zone_source == TimeZoneSource.NUMBER:
            zones = number_zones or (contact.time_zone,)
        else:
            # A zone given with the contact may be right (a New York mobile carried to Los
            # Angeles) or wrong (a bad import column): when it disagrees with the number the
            # call is allowed only inside the window in both, so a typo never rings at 04:00.
            zones = tuple(dict.fromkeys((contact.time_zone, *number_zones)))
        country = phones.country_of(contact.phone_number)
        return cls(
            zones, country, contact.region, rules_for(country=country, region=contact.region)
        )

    @classmethod
    def of_number(cls, e164: str) -> Callee:
        """A callee known only by a number (a test call): its zones, country and state."""
        zones = phones.zones_for_number(e164) or (settings.CAMPAIGNS_DEFAULT_TIME_ZONE,)
        country = phones.country_of(e164)
        region = phones.infer_region(e164)
        return cls(zones, country, region, rules_for(country=country, region=region))


# A call outside any campaign: the legal window on every day the rules allow.
LEGAL_SCHEDULE = Schedule(
    days_of_week=frozenset(range(7)),
    window_start=LEGAL_WINDOW.start,
    window_end=LEGAL_WINDOW.end,
    end_at=None,
)


def _next_in_zone(
    zone: ZoneInfo, rules: Sequence[CallingRule], schedule: Schedule, at: datetime
) -> datetime | None:
    local = at.astimezone(zone)
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        window = schedule.effective_window(rules, day.weekday())
        if window is None:
            continue
        # Wall-clock times on that date in that zone: zoneinfo applies the offset in force
        # that day, so 08:00 is right on both sides of a daylight-saving change.
        start = datetime.combine(day, window.start, tzinfo=zone)
        end = datetime.combine(day, window.end, tzinfo=zone)
        if at < start:
            return start
        if at < end:
            return at
    return None


def next_allowed_moment(*, callee: Callee, schedule: Schedule, at: datetime) -> datetime | None:
    """The earliest moment at or after `at` inside the window in every zone (None: never,
    or not before the campaign ends)."""
    moment = at
    # Moving forward for one zone can leave another's window; repeat until all agree.
    for _ in range(4 * len(callee.zones) + 4):
        moved = False
        for name in callee.zones:
            candidate = _next_in_zone(ZoneInfo(name), callee.rules, schedule, moment)
            if candidate is None:
                return None
            if candidate != moment:
                moment, moved = candidate, True
        if not moved:
            if schedule.end_at is not None and moment >= schedule.end_at:
                return None
            return moment.astimezone(UTC)
    return None


@dataclass
class GateDecision:
    allowed: bool
    reason: GateReason
    next_allowed_at: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def local_times(callee: Callee, now: datetime) -> dict[str, str]:
    """`now` on the callee's clocks, per zone, for evidence and messages."""
    return {
        name: now.astimezone(ZoneInfo(name)).strftime("%Y-%m-%d %H:%M %Z (%A)")
        for name in callee.zones
    }


def legal_window_evidence(*, callee: Callee, now: datetime) -> dict[str, Any]:
    """What a call outside any campaign was checked against (the session's evidence)."""
    return {
        "checked_at": now.isoformat(),
        "time_zones": list(callee.zones),
        "time_zone_source": TimeZoneSource.NUMBER.value,
        "country": callee.country,
        "region": callee.region,
        "local_times": local_times(callee, now),
        "rules": [
            {"rule": rule.key, "summary": rule.summary, "source": rule.source}
            for rule in callee.rules
        ],
    }


def _window_evidence(callee: Callee, schedule: Schedule, now: datetime) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {
            "rule": rule.key,
            "summary": rule.summary,
            "source": rule.source,
        }
        for rule in callee.rules
    ]
    checks.append(
        {
            "rule": "campaign-schedule",
            "summary": (
                f"{schedule.window_start:%H:%M}-{schedule.window_end:%H:%M} on days "
                f"{sorted(schedule.days_of_week)} (Monday = 0)"
            ),
            "source": "campaign settings (narrow the legal window only)",
        }
    )
    return checks


def evaluate(
    *,
    contact: Contact,
    schedule: Schedule,
    now: datetime,
    on_do_not_call_list: bool,
    counted_attempts: int,
    max_attempts: int,
    callback_requested: bool = False,
) -> GateDecision:
    """The whole gate for one contact at `now`. Pure: the caller looks up the DNC list."""
    callee = Callee.of(contact)
    if on_do_not_call_list:
        return GateDecision(False, GateReason.DO_NOT_CALL)
    cap = max_attempts + (CALLBACK_EXTRA_ATTEMPTS if callback_requested else 0)
    if counted_attempts >= cap:
        return GateDecision(False, GateReason.ATTEMPTS_EXHAUSTED)
    if schedule.end_at is not None and now >= schedule.end_at:
        return GateDecision(False, GateReason.CAMPAIGN_ENDED)
    moment = next_allowed_moment(callee=callee, schedule=schedule, at=now)
    if moment is None:
        return GateDecision(False, GateReason.NO_CALLING_WINDOW)
    if moment > now:
        return GateDecision(False, GateReason.OUTSIDE_CALLING_WINDOW, next_allowed_at=moment)
    times = local_times(callee, now)
    evidence = {
        "checked_at": now.isoformat(),
        "allowed": True,
        "time_zones": list(callee.zones),
        "time_zone_source": contact.time_zone_source,
        "country": callee.country,
        "region": callee.region,
        "local_times": times,
        "rules": [
            *_window_evidence(callee, schedule, now),
            {"rule": "do-not-call", "result": "not on the organization's list"},
            {"rule": "attempt-cap", "result": f"attempt {counted_attempts + 1} of {cap}"},
        ],
        "why": (
            f"Local time {', '.join(times.values())} is inside every calling window; "
            f"the number is not on the do-not-call list; attempt {counted_attempts + 1} of {cap}."
        ),
    }
    return GateDecision(True, GateReason.ALLOWED, evidence=evidence)


def next_window_after(*, contact: Contact, campaign: Campaign, at: datetime) -> datetime | None:
    """When a retry planned for `at` may happen (the window's next opening, or `at` itself)."""
    return next_allowed_moment(callee=Callee.of(contact), schedule=Schedule.of(campaign), at=at)
