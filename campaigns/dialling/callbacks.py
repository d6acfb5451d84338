"""Scheduled callbacks: a person asks for a session's contact to be called back at a set time.

Writes (`callback_schedule`, `callback_cancel`) used by the API and the admin (the reads are
sessions' selectors: `callback_pending_for_contact`, `callback_latest_for`,
`sessions_with_callback_scheduled`); the dialler places due callbacks
(`campaigns.dialling.dispatch.claim_due_callbacks`); a finished callback call is handled by
`callback_session_finished`.

Rules when scheduling (each broken rule is a 4xx envelope):
- the session belongs to a campaign and still knows its contact (test calls have none: 409
  INVALID_STATE), and that campaign was not stopped (a stop is final: 409 INVALID_STATE);
- `at` carries a UTC offset (a naive time is ambiguous: whose 15:00?), lies in the future and
  at most `MAX_AHEAD` ahead;
- the contact's number is not on the organization's do-not-call list (409 CONFLICT);
- `at` is inside the contact's calling window (the campaign's days and hours within the legal
  rules, in every zone the contact may be in). With `adjust` it moves to the next allowed
  moment and the answer says so; without it the request is refused and names that moment;
- no other callback is pending for the same contact in the same campaign (409 CONFLICT;
  cancel it first). A partial unique constraint makes this hold under concurrent requests.

The campaign's `end_at` does not bound callbacks: they happen even after the campaign ended.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from anvil_voice.accounts.models import ApiKey
from anvil_voice.errors import (
    VALIDATION_MESSAGE,
    ApplicationError,
    Conflict,
    InvalidState,
    NotFound,
)
from anvil_voice.state_machine import transition
from campaigns.compliance import Callee, Schedule, next_allowed_moment
from campaigns.models import Campaign, CampaignContact, CampaignStatus, Contact, DoNotCallEntry
from sessions import selectors
from sessions.models import (
    CALLBACK_STATES,
    CallbackStatus,
    CallSession,
    Outcome,
    ScheduledCallback,
    SessionKind,
)

logger = logging.getLogger("campaigns.callbacks")

# Far enough for "call me after my holiday", near enough that the rules and the contact are
# still what they were when it was asked.
MAX_AHEAD = timedelta(days=90)
# A callee on a callback call who asks again without saying when: try again this much later.
CALLBACK_AGAIN_AFTER = timedelta(hours=2)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(VALIDATION_MESSAGE, details={field: [message]})


@dataclass(frozen=True)
class ScheduledResult:
    callback: ScheduledCallback
    adjusted: bool


def callback_allowed_moment(
    *, contact: Contact, campaign: Campaign, at: datetime
) -> datetime | None:
    """The earliest moment at or after `at` inside the contact's calling window.

    The campaign's days and hours narrow the legal window as for its own calls, but its end
    time does not apply: a callback is a promise to the callee and outlives the campaign.
    """
    schedule = dataclasses.replace(Schedule.of(campaign), end_at=None)
    return next_allowed_moment(callee=Callee.of(contact), schedule=schedule, at=at)


def _on_do_not_call_list(*, organization_id: int, phone_number: str) -> bool:
    return DoNotCallEntry.objects.filter(
        organization_id=organization_id, phone_number=phone_number
    ).exists()


def callback_schedule(
    *,
    session: CallSession,
    at: datetime,
    note: str = "",
    adjust: bool = False,
    user: User | None = None,
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> ScheduledResult:
    """Schedule a callback to `session`'s contact in `session`'s campaign (rules above)."""
    moment = now or timezone.now()
    if timezone.is_naive(at):
        raise _invalid("at", "Include a UTC offset (for example 2026-03-03T15:00:00-05:00).")
    if session.campaign_id is None or session.contact_id is None:
        raise InvalidState(
            "Only a campaign call with a known contact can be called back; "
            "place a test call instead.",
            details={"session": ["This session has no campaign or no contact."]},
        )
    campaign = Campaign.objects.get(pk=session.campaign_id)
    contact = Contact.objects.get(pk=session.contact_id)
    if campaign.status == CampaignStatus.STOPPED:
        raise InvalidState(
            "The session's campaign was stopped; a stopped campaign places no more calls.",
            details={"campaign": [f"Campaign {campaign.pk} is stopped."]},
        )
    if at <= moment:
        raise _invalid("at", "Must be in the future.")
    if at > moment + MAX_AHEAD:
        raise _invalid("at", f"Must be at most {MAX_AHEAD.days} days ahead.")
    if _on_do_not_call_list(
        organization_id=session.organization_id, phone_number=contact.phone_number
    ):
        raise Conflict(
            "This contact's number is on your organization's do-not-call list.",
            details={"contact": ["This number is on the do-not-call list."]},
        )
    allowed = callback_allowed_moment(contact=contact, campaign=campaign, at=at)
    if allowed is None:
        raise _invalid(
            "at", "The contact has no calling window in the week after this time; pick another."
        )
    adjusted = allowed != at
    if adjusted and not adjust:
        raise _invalid(
            "at",
            "Outside the contact's calling window; the next allowed time is "
            f"{allowed.isoformat()} (send adjust: true to use it).",
        )
    target = CampaignContact.objects.filter(campaign_id=campaign.pk, contact_id=contact.pk).first()
    try:
        with transaction.atomic():
            callback = ScheduledCallback.objects.create(
                organization_id=session.organization_id,
                source_session=session,
                campaign=campaign,
                contact=contact,
                target=target,
                at=allowed,
                requested_at=at,
                note=note,
                created_by=user if user is not None and user.pk else None,
                created_by_key=api_key,
                created_at=moment,
                updated_at=moment,
            )
    except IntegrityError as exc:
        # The partial unique constraint: one pending callback per contact and campaign.
        pending = selectors.callback_pending_for_contact(
            campaign_id=campaign.pk, contact_id=contact.pk
        )
        where = f" (from session {pending.source_session_id})" if pending is not None else ""
        raise Conflict(
            f"A callback is already pending for this contact in this campaign{where}; "
            "cancel it first.",
            details={"at": ["A callback is already pending for this contact."]},
        ) from exc
    logger.info(
        "callback.scheduled callback=%s session=%s campaign=%s at=%s adjusted=%s",
        callback.pk,
        session.pk,
        campaign.pk,
        callback.at.isoformat(),
        adjusted,
    )
    return ScheduledResult(callback=callback, adjusted=adjusted)


def callback_cancel(*, session: CallSession, now: datetime | None = None) -> ScheduledCallback:
    """Cancel the session's pending callback; 404 when it has none. Never placed afterwards:
    the dialler only claims rows that are still pending under its lock."""
    moment = now or timezone.now()
    with transaction.atomic():
        callback = (
            ScheduledCallback.objects.select_for_update()
            .filter(source_session=session, status=CallbackStatus.PENDING)
            .first()
        )
        # The conditional move, not the lock, decides (SQLite has no row locks).
        if callback is None or not transition(
            ScheduledCallback.objects.filter(pk=callback.pk, status=CallbackStatus.PENDING),
            machine=CALLBACK_STATES,
            to=CallbackStatus.CANCELLED,
            updates={"updated_at": moment},
        ):
            raise NotFound("This session has no pending callback.")
        callback.status = CallbackStatus.CANCELLED
        callback.updated_at = moment
    logger.info("callback.cancelled callback=%s session=%s", callback.pk, session.pk)
    return callback


# --- When a callback call ends ------------------------------------------------------------


def _requested_time(session: CallSession, zone: str) -> datetime | None:
    raw = (session.extracted or {}).get("callback_at")
    value = raw if isinstance(raw, datetime) else parse_datetime(str(raw)) if raw else None
    if value is not None and timezone.is_naive(value):
        # A wall-clock time the callee said: in their zone (as dialling.outcomes reads it).
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value


def _add_to_do_not_call(session: CallSession, phone_number: str) -> None:
    DoNotCallEntry.objects.get_or_create(
        organization_id=session.organization_id,
        phone_number=phone_number,
        defaults={
            "source": DoNotCallEntry.Source.DTMF
            if (session.extracted or {}).get("opt_out_via") == "dtmf"
            else DoNotCallEntry.Source.OPT_OUT,
            "reason": f"Asked to be removed during call session {session.pk}.",
            "session_id_ref": session.pk,
        },
    )


def callback_session_finished(*, session: CallSession, now: datetime | None = None) -> None:
    """What a finished `callback` call means; the campaign's outcome handler ignores these
    sessions (they are not one of its attempts), so the two rules that must not be lost live
    here: an opt-out adds the number to the do-not-call list, and a callee who asks to be
    called back again gets a new scheduled callback (moved into the window if needed)."""
    if session.kind == SessionKind.TEST and session.outcome == Outcome.DO_NOT_CALL:
        # "Stop calling me" on a test call binds the organization too (no contact, no campaign).
        _add_to_do_not_call(session, session.to_number)
        return
    if session.kind != SessionKind.CALLBACK or session.contact_id is None:
        return
    moment = now or timezone.now()
    contact = Contact.objects.get(pk=session.contact_id)
    if session.outcome == Outcome.DO_NOT_CALL:
        _add_to_do_not_call(session, contact.phone_number)
        return
    if session.outcome != Outcome.CALLBACK_REQUESTED:
        return
    at = _requested_time(session, contact.time_zone) or moment + CALLBACK_AGAIN_AFTER
    try:
        callback_schedule(
            session=session, at=max(at, moment + timedelta(minutes=1)), adjust=True, now=moment
        )
    except ApplicationError as exc:
        # Do-not-call, a pending callback already, a stopped campaign: nothing to schedule.
        logger.info("callback.not_rescheduled session=%s reason=%s", session.pk, exc.message)


def handle_session_finished(sender: Any, *, session: CallSession, **kwargs: Any) -> None:
    """`session_finished` receiver (connected in CampaignsConfig.ready)."""
    if session.kind in (SessionKind.CALLBACK, SessionKind.TEST):
        callback_session_finished(session=session)
