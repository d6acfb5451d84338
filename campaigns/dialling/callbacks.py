"""Scheduled callbacks: a session's contact is called back at a set time, whoever asked for it.

A person asks through the API or the admin (`requested_by` person); the callee asks on a
campaign call (outcome `callback_requested`: `campaigns.dialling.outcomes` schedules it with
`requested_by` callee, moved into the window). Either way it is one `ScheduledCallback`, with the
same rules, the same cancel and the same "one pending per contact".

While a callback is pending, the contact's own campaign attempts wait for it (the dialler's
claim skips contacts with a pending callback). When it is placed and the contact is still
pending in the campaign, the callback call is the contact's next attempt (the session has the
contact's `target` and the next attempt number), so its outcome is the campaign's: no answer is
retried under the campaign's rules and cap, opt-out and completion as for any attempt. A contact
the campaign is done with (completed, exhausted, ...) is called outside its attempts.
Cancelling a pending callback puts a pending contact back on the retry schedule: one retry delay
(`retry_no_answer_minutes`) after the cancel, inside the calling window; the cap still applies.

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
from campaigns.compliance import Callee, Schedule, next_allowed_moment, next_window_after
from campaigns.models import (
    Campaign,
    CampaignContact,
    CampaignContactState,
    CampaignStatus,
    Contact,
    DoNotCallEntry,
)
from sessions import selectors
from sessions.models import (
    CALLBACK_STATES,
    CallbackRequestedBy,
    CallbackStatus,
    CallEvent,
    CallEventKind,
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
ASKED_ON_THE_CALL = "Asked for on the call"


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(VALIDATION_MESSAGE, details={field: [message]})


class OutsideCallingWindow(ApplicationError):
    """`at` lies outside the contact's calling window; `allowed` is the next moment inside it
    (the API names it in its message, the admin offers it in the contact's own time)."""

    def __init__(self, *, allowed: datetime) -> None:
        super().__init__(
            VALIDATION_MESSAGE,
            details={
                "at": [
                    "Outside the contact's calling window; the next allowed time is "
                    f"{allowed.isoformat()} (send adjust: true to use it)."
                ]
            },
        )
        self.allowed = allowed


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
    requested_by: str = CallbackRequestedBy.PERSON,
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
        raise OutsideCallingWindow(allowed=allowed)
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
                requested_by=requested_by,
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


def callback_cancel(
    *,
    session: CallSession,
    user: User | None = None,
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> ScheduledCallback:
    """Cancel the session's pending callback; 404 when it has none. Never placed afterwards:
    the dialler only claims rows that are still pending under its lock. Audited: a
    `callback_cancelled` event on the session names the callback and who cancelled it."""
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
            audit=lambda _moved: _audit_cancel(callback, user=user, api_key=api_key, at=moment),
        ):
            raise NotFound("This session has no pending callback.")
        callback.status = CallbackStatus.CANCELLED
        callback.updated_at = moment
        _resume_attempts(callback, now=moment)
    logger.info("callback.cancelled callback=%s session=%s", callback.pk, session.pk)
    return callback


def _audit_cancel(
    callback: ScheduledCallback, *, user: User | None, api_key: ApiKey | None, at: datetime
) -> None:
    CallEvent.objects.create(
        session_id=callback.source_session_id,
        kind=CallEventKind.CALLBACK_CANCELLED,
        at=at,
        data={
            "callback": callback.pk,
            "at": callback.at.isoformat(),
            "user": user.pk if user is not None and user.pk else None,
            "apiKey": api_key.pk if api_key is not None else None,
        },
    )


def _resume_attempts(callback: ScheduledCallback, *, now: datetime) -> None:
    """A pending contact whose callback was cancelled is dialled again by the campaign's retry
    rules: one retry delay after the cancel, inside the window (the dialler's gate applies the
    cap and the do-not-call list when it is due)."""
    if callback.target_id is None:
        return
    target = (
        CampaignContact.objects.select_related("campaign", "contact")
        .filter(pk=callback.target_id, state=CampaignContactState.PENDING)
        .first()
    )
    if target is None:
        return  # on a call, or finished in the campaign: nothing waits for this callback
    at = now + timedelta(minutes=target.campaign.retry_no_answer_minutes)
    planned = next_window_after(contact=target.contact, campaign=target.campaign, at=at)
    # A reschedule keeps the contact pending: not a transition.
    CampaignContact.objects.filter(pk=target.pk, state=CampaignContactState.PENDING).update(
        next_attempt_at=planned or at, updated_at=now
    )


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
    """What a finished `callback` call outside the contact's attempts means (one with a
    `target` is an attempt: `campaigns.dialling.outcomes` applies it). Two rules must not be
    lost: an opt-out adds the number to the do-not-call list, and a callee who asks to be
    called back again gets a new scheduled callback (moved into the window if needed)."""
    if session.kind == SessionKind.TEST and session.outcome == Outcome.DO_NOT_CALL:
        # "Stop calling me" on a test call binds the organization too (no contact, no campaign).
        _add_to_do_not_call(session, session.to_number)
        return
    if session.kind != SessionKind.CALLBACK or session.contact_id is None:
        return
    if session.target_id is not None:
        return  # the contact's campaign attempt: the campaign's outcome handler applies it
    moment = now or timezone.now()
    contact = Contact.objects.get(pk=session.contact_id)
    if session.outcome == Outcome.DO_NOT_CALL:
        _add_to_do_not_call(session, contact.phone_number)
        return
    if session.outcome != Outcome.CALLBACK_REQUESTED:
        return
    at = _requested_time(session, contact.time_zone) or moment + CALLBACK_AGAIN_AFTER
    callback_requested_on_call(session=session, at=at, now=moment)


def callback_requested_on_call(
    *, session: CallSession, at: datetime, now: datetime
) -> ScheduledCallback | None:
    """The callee asked on `session` to be called back at `at`: a callback like a person's,
    moved into the calling window (`adjust`), `requested_by` callee. None when a rule refuses
    it (do-not-call, a callback already pending for the contact, a stopped campaign, too far
    ahead): the caller decides what the contact does instead."""
    try:
        return callback_schedule(
            session=session,
            at=max(at, now + timedelta(minutes=1)),
            adjust=True,
            note=ASKED_ON_THE_CALL,
            requested_by=CallbackRequestedBy.CALLEE,
            now=now,
        ).callback
    except ApplicationError as exc:
        logger.info("callback.not_scheduled session=%s reason=%s", session.pk, exc.message)
        return None


def handle_session_finished(sender: Any, *, session: CallSession, **kwargs: Any) -> None:
    """`session_finished` receiver (connected in CampaignsConfig.ready)."""
    if session.kind in (SessionKind.CALLBACK, SessionKind.TEST):
        callback_session_finished(session=session)
