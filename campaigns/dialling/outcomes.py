"""What a finished call means for its contact and campaign (receiver of `session_finished`).

In one transaction: the contact's state and next attempt, the campaign's counters, a
do-not-call entry on opt-out, and the campaign's completion when nothing is left. Handling is
idempotent: a session counts only while its contact is `in_progress` on that very attempt, so a
redelivered signal (or a stale session) changes nothing.

| how the call ended                                   | contact becomes                     |
|------------------------------------------------------|-------------------------------------|
| interested / not_interested / completed              | completed                           |
| no_conversation with a human on the line             | completed (no retry after a human)  |
| no_conversation otherwise, no_answer, busy, voicemail| pending after the retry delay, in   |
| failed (not an invalid number), cancelled after dial | the window; exhausted at the cap    |
| failed because the number is invalid                 | failed                              |
| do_not_call                                          | do_not_call + organization DNC entry|
| callback_requested                                   | pending, waiting for its callback   |
| cancelled before dialling (pause, stop, gate)        | pending, attempt not counted        |

A callback the callee asks for becomes a `ScheduledCallback` (`requested_by` callee, the time
moved into the calling window), the same as one a person schedules
(`campaigns.dialling.callbacks`): while it is pending the dialler's claim skips the contact, and
when it is placed the callback call is the contact's next attempt (a `callback` session with the
contact's target), whose outcome this handler applies like any attempt's. When no callback can be
scheduled (do-not-call, one already pending, more than 90 days ahead), the contact is simply
pending at the requested time, as a retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from anvil_voice.state_machine import transition
from campaigns import best_time, compliance
from campaigns.dialling import callbacks
from campaigns.dialling.rules import (
    PRE_DIAL_DO_NOT_CALL,
    effective_outcome,
    is_invalid_number,
    was_dialled,
)
from campaigns.models import (
    CAMPAIGN_CONTACT_STATES,
    Campaign,
    CampaignContact,
    CampaignContactState,
    CampaignStats,
    CampaignStatus,
    DoNotCallEntry,
)
from campaigns.services import lifecycle
from sessions.models import (
    TERMINAL_CALL_STATUSES,
    AnsweredBy,
    CallSession,
    CallStatus,
    ConversationState,
    Outcome,
    SessionKind,
)

logger = logging.getLogger("campaigns.outcomes")

_STATE_COUNTER = {
    CampaignContactState.PENDING: "pending",
    CampaignContactState.IN_PROGRESS: "in_progress",
    CampaignContactState.COMPLETED: "completed",
    CampaignContactState.FAILED: "failed",
    CampaignContactState.DO_NOT_CALL: "do_not_call",
    CampaignContactState.EXHAUSTED: "exhausted",
}


# Sessions that are one of a contact's campaign attempts (those with a `target`): the campaign's
# own calls, and callbacks placed while the contact was still pending in the campaign.
ATTEMPT_KINDS = (SessionKind.CAMPAIGN, SessionKind.CALLBACK)


@dataclass(frozen=True)
class Verdict:
    state: str
    outcome: str
    next_attempt_at: datetime | None = None
    counted: bool = True  # False: the call never reached the carrier


def _callback_time(session: CallSession, contact_zone: str, now: datetime) -> datetime | None:
    raw: Any = (session.extracted or {}).get("callback_at")
    value = raw if isinstance(raw, datetime) else parse_datetime(str(raw)) if raw else None
    if value is None:
        return None
    if timezone.is_naive(value):
        # A wall-clock time the callee said: in their zone.
        value = value.replace(tzinfo=ZoneInfo(contact_zone))
    return max(value, now)


def decide(
    *, session: CallSession, target: CampaignContact, campaign: Campaign, now: datetime
) -> Verdict:
    outcome = effective_outcome(session)
    if not was_dialled(session):
        if session.end_reason in PRE_DIAL_DO_NOT_CALL:
            return Verdict(CampaignContactState.DO_NOT_CALL, Outcome.DO_NOT_CALL, counted=False)
        if session.status == CallStatus.CANCELED or session.end_reason.startswith("compliance:"):
            # Paused, stopped or held back by the pre-dial gate: try again, uncounted.
            return Verdict(
                CampaignContactState.PENDING,
                target.last_outcome,
                next_attempt_at=now,
                counted=False,
            )
    if outcome in (
        Outcome.INTERESTED,
        Outcome.NOT_INTERESTED,
        Outcome.COMPLETED,
        Outcome.TRANSFERRED,  # a person has them now
    ):
        return Verdict(CampaignContactState.COMPLETED, outcome)
    if outcome == Outcome.DO_NOT_CALL:
        return Verdict(CampaignContactState.DO_NOT_CALL, outcome)
    if outcome == Outcome.NO_CONVERSATION and session.answered_by == AnsweredBy.HUMAN:
        return Verdict(CampaignContactState.COMPLETED, outcome)
    if outcome == Outcome.FAILED and is_invalid_number(session):
        return Verdict(CampaignContactState.FAILED, outcome)
    if outcome == Outcome.CALLBACK_REQUESTED:
        at = _callback_time(session, target.contact.time_zone, now)
        if at is None:
            at = now + timedelta(minutes=campaign.retry_no_answer_minutes)
        planned = compliance.next_window_after(contact=target.contact, campaign=campaign, at=at)
        return Verdict(CampaignContactState.PENDING, outcome, next_attempt_at=planned or at)
    # Retryable: no answer, busy, voicemail, no conversation, other failures.
    if target.counted_attempts >= campaign.max_attempts:
        return Verdict(CampaignContactState.EXHAUSTED, outcome)
    delays: dict[str, int] = {
        Outcome.BUSY.value: campaign.retry_busy_minutes,
        Outcome.VOICEMAIL.value: campaign.retry_voicemail_minutes,
    }
    delay = delays.get(outcome, campaign.retry_no_answer_minutes)
    at = now + timedelta(minutes=delay)
    planned = compliance.next_window_after(contact=target.contact, campaign=campaign, at=at)
    if planned is not None:
        # Best-time campaigns move it toward the hours that answer, inside the window.
        planned = best_time.retry_moment(contact=target.contact, campaign=campaign, planned=planned)
    return Verdict(CampaignContactState.PENDING, outcome, next_attempt_at=planned or at)


def _schedule_the_callees_callback(
    *, session: CallSession, target: CampaignContact, campaign: Campaign, now: datetime
) -> None:
    """The callee's request as a scheduled callback; the contact waits for it (pending, its
    next attempt shown at the callback's time, skipped by the claim while it is pending)."""
    asked = _callback_time(session, target.contact.time_zone, now)
    at = asked or now + timedelta(minutes=campaign.retry_no_answer_minutes)
    callback = callbacks.callback_requested_on_call(session=session, at=at, now=now)
    if callback is not None:
        # A reschedule keeps the contact pending: not a transition.
        CampaignContact.objects.filter(pk=target.pk, state=CampaignContactState.PENDING).update(
            next_attempt_at=callback.at
        )


def _call_counters(session: CallSession, outcome: str) -> dict[str, Any]:
    counters: dict[str, Any] = {"calls_finished": F("calls_finished") + 1}
    answered = session.answered_at is not None or session.answered_by in (
        AnsweredBy.HUMAN,
        AnsweredBy.MACHINE,
        AnsweredBy.IVR,
    )
    if answered:
        counters["calls_answered"] = F("calls_answered") + 1
        counters["talk_seconds"] = F("talk_seconds") + int(session.duration_seconds or 0)
    if session.answered_by == AnsweredBy.HUMAN:
        counters["answered_human"] = F("answered_human") + 1
    elif session.answered_by == AnsweredBy.MACHINE:
        counters["answered_machine"] = F("answered_machine") + 1
    if session.status == CallStatus.BUSY:
        counters["calls_busy"] = F("calls_busy") + 1
    elif session.status == CallStatus.NO_ANSWER:
        counters["calls_no_answer"] = F("calls_no_answer") + 1
    elif session.status == CallStatus.FAILED:
        counters["calls_failed"] = F("calls_failed") + 1
    if outcome in Outcome.values:
        name = f"outcome_{outcome}"
        counters[name] = F(name) + 1
    if session.cost is not None:
        counters["cost_total"] = F("cost_total") + session.cost
        counters["cost_calls"] = F("cost_calls") + 1
    return counters


def record_outcome(*, session_id: int, now: datetime | None = None) -> bool:
    """Apply a finished campaign session to its contact and campaign; False if it already was
    (or is not a campaign call)."""
    moment = now or timezone.now()
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None or session.kind not in ATTEMPT_KINDS or session.target_id is None:
        return False
    campaign_id = (
        CampaignContact.objects.filter(pk=session.target_id)
        .values_list("campaign_id", flat=True)
        .first()
    )
    if campaign_id is None:
        return False
    completed = False
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign_id)
        target = (
            CampaignContact.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=session.target_id)
        )
        # The claim: the one caller that stamps `outcome_applied_at` applies the outcome (a
        # redelivered signal and the sweeper may race for the same session).
        if not CallSession.objects.filter(pk=session.pk, outcome_applied_at__isnull=True).update(
            outcome_applied_at=moment
        ):
            return False
        if (
            target.state != CampaignContactState.IN_PROGRESS
            or target.attempts != session.attempt_number
        ):
            return False  # a stale attempt: its contact moved on (stamped, so not looked at again)
        verdict = decide(session=session, target=target, campaign=campaign, now=moment)
        updates: dict[str, Any] = {"last_outcome": verdict.outcome, "updated_at": moment}
        if not verdict.counted:
            updates["skipped_attempts"] = F("skipped_attempts") + 1
        if verdict.next_attempt_at is not None:
            updates["next_attempt_at"] = verdict.next_attempt_at
        moved = transition(
            CampaignContact.objects.filter(pk=target.pk, attempts=session.attempt_number),
            machine=CAMPAIGN_CONTACT_STATES,
            to=verdict.state,
            updates=updates,
        )
        if not moved:
            return False  # the contact left in_progress meanwhile (its row lock is a no-op here)
        if (
            verdict.counted
            and verdict.outcome == Outcome.CALLBACK_REQUESTED
            and verdict.state == CampaignContactState.PENDING
        ):
            _schedule_the_callees_callback(
                session=session, target=target, campaign=campaign, now=moment
            )
        counters: dict[str, Any] = {"in_progress": F("in_progress") - 1}
        column = _STATE_COUNTER[CampaignContactState(verdict.state)]
        counters[column] = F(column) + 1
        if verdict.counted:
            counters.update(_call_counters(session, effective_outcome(session)))
            if session.cost is not None and session.cost_currency:
                counters["cost_currency"] = session.cost_currency
        else:
            counters["sessions_skipped"] = F("sessions_skipped") + 1
        CampaignStats.objects.filter(campaign_id=campaign.pk).update(**counters)
        if verdict.outcome == Outcome.DO_NOT_CALL and verdict.counted:
            source = (
                DoNotCallEntry.Source.DTMF
                if (session.extracted or {}).get("opt_out_via") == "dtmf"
                else DoNotCallEntry.Source.OPT_OUT
            )
            DoNotCallEntry.objects.get_or_create(
                organization_id=session.organization_id,
                phone_number=target.contact.phone_number,
                defaults={
                    "source": source,
                    "reason": f"Asked to be removed during call session {session.pk}.",
                    "session_id_ref": session.pk,
                },
            )
        if campaign.status == CampaignStatus.RUNNING:
            stats = CampaignStats.objects.get(campaign_id=campaign.pk)
            if lifecycle.campaign_is_finished(campaign, stats):
                lifecycle.campaign_transition(
                    campaign=campaign,
                    to=CampaignStatus.COMPLETED,
                    actor=lifecycle.Actor.named("dialler"),
                    now=moment,
                )
                completed = True
    logger.info(
        "campaign.outcome campaign=%s session=%s outcome=%s state=%s completed=%s",
        campaign_id,
        session.pk,
        verdict.outcome,
        verdict.state,
        completed,
    )
    return True


# How long after a session ended its outcome may still be on its way (the signal runs on
# commit; a held-back conversation closes within seconds).
MISSED_AFTER = timedelta(minutes=5)


def apply_missed_outcomes(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply finished campaign calls whose outcome nobody applied (`outcome_applied_at` null).

    `session_finished` runs after the session's commit, in its own transaction: a process that
    dies in between leaves the contact in progress forever. Each `record_outcome` claims its
    session with a conditional update, so this may run beside the signal, or twice.
    """
    moment = now or timezone.now()
    stale = (
        CallSession.objects.filter(
            kind__in=ATTEMPT_KINDS,
            target__isnull=False,
            outcome_applied_at__isnull=True,
            ended_at__lt=moment - MISSED_AFTER,
            status__in=TERMINAL_CALL_STATUSES,
        )
        # An open conversation holds the signal back on purpose (sessions.live.conversation).
        .exclude(conversation_state=ConversationState.OPEN)
        .order_by("ended_at")
        .values_list("pk", flat=True)[:limit]
    )
    applied = 0
    for session_id in list(stale):
        applied += record_outcome(session_id=session_id, now=moment)
    if applied:
        logger.warning("campaign.missed_outcomes_applied count=%s", applied)
    return applied


def handle_session_finished(sender: Any, *, session: CallSession, **kwargs: Any) -> None:
    """`session_finished` receiver (connected in CampaignsConfig.ready)."""
    if session.kind not in ATTEMPT_KINDS or session.target_id is None:
        return
    record_outcome(session_id=session.pk)
