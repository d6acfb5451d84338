"""Applying what the carrier reports about a call: status callbacks, AMD verdicts, recordings.

Twilio posts each callback as a separate request with no ordering guarantee and may repeat one,
so every write here is idempotent and order-safe:

- A status applies only when its `SequenceNumber` is above the session's
  `last_sequence_number` AND its rank (`CALL_STATUS_RANK`) does not go backwards; a terminal
  session never changes status again. A `completed` that overtakes `ringing` ends the session;
  the late `ringing` is kept as an event and otherwise ignored.
- Every callback leaves one `CallEvent`; a repeat of the same (session, kind, sequence) leaves
  none (the session row is locked while we look, so two copies racing each other agree).
- Reaching a terminal status goes through `session_finish`, a conditional update from "not
  terminal" to terminal: only the request that wins it sends `session_finished` (after commit).
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from anvil_voice.privacy.recording import UnsupportedRecording, mute_wav
from anvil_voice.state_machine import transition
from anvil_voice.telephony.callbacks import (
    AmdCallback,
    CarrierAnsweredBy,
    CarrierCallStatus,
    RecordingCallback,
    StatusCallback,
)
from anvil_voice.telephony.carrier import Carrier, get_carrier
from sessions.carrier.calls import (
    HANG_UP_ON_MACHINES,
    LEAVE_MESSAGE_ON_MACHINES,
    outbound_call,
)
from sessions.carrier.recording import answered_recording_fields
from sessions.costs import session_cost_record_safely
from sessions.live.groups import broadcast, send_control
from sessions.models import (
    CALL_STATUS_RANK,
    CALL_STATUSES,
    TERMINAL_CALL_STATUSES,
    AnsweredBy,
    CallEvent,
    CallEventKind,
    CallSession,
    CallStatus,
    ConversationState,
    Outcome,
)
from sessions.privacy import organization_redacts_pii, recording_mute_spans
from sessions.signals import session_finished
from sessions.tasks import session_hang_up_task, session_store_recording_task

logger = logging.getLogger(__name__)


class ApplyResult(StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # recorded, but it would move the session backwards
    DUPLICATE = "duplicate"  # seen before: nothing written
    UNKNOWN_CALL = "unknown_call"  # no session holds this CallSid: nothing written


def _call_status(status: CarrierCallStatus) -> CallStatus:
    """The carrier-neutral status as our model's choice (the same values)."""
    return CallStatus(status.value)


def _answered_by(answered_by: CarrierAnsweredBy) -> AnsweredBy:
    return AnsweredBy(answered_by.value)


# --- finishing ----------------------------------------------------------------------------
def preliminary_outcome(status: str, answered_by: str) -> str:
    """The outcome the carrier alone can tell; the conversation pipeline may know better."""
    if status == CallStatus.COMPLETED:
        if answered_by == AnsweredBy.MACHINE:
            return Outcome.VOICEMAIL
        if answered_by == AnsweredBy.FAX:
            return Outcome.NO_CONVERSATION
        return Outcome.COMPLETED
    return {
        CallStatus.BUSY: Outcome.BUSY,
        CallStatus.NO_ANSWER: Outcome.NO_ANSWER,
        CallStatus.FAILED: Outcome.FAILED,
        # Outcome has no "canceled": we hung up before anyone answered.
        CallStatus.CANCELED: Outcome.NO_CONVERSATION,
    }.get(CallStatus(status), Outcome.FAILED)


def _record_event(session_id: int, kind: str, data: dict[str, Any]) -> CallEvent:
    return CallEvent.objects.create(session_id=session_id, kind=kind, data=data)


def _send_finished(session_id: int) -> None:
    # Priced first: the receivers (campaign counters, the budget) read the call's cost.
    session_cost_record_safely(session_id=session_id)
    session = CallSession.objects.filter(pk=session_id).first()
    if session is not None:
        session_finished.send(sender=CallSession, session=session)


def send_finished_on_commit(session_id: int) -> None:
    transaction.on_commit(lambda: _send_finished(session_id))


def session_finish(
    *,
    session_id: int,
    status: str,
    outcome: str = "",
    end_reason: str = "",
    error_code: str = "",
    error_message: str = "",
    ended_at: datetime | None = None,
    require_no_call: bool = False,
    expected_status: str | None = None,
    **fields: Any,
) -> bool:
    """Move a session to terminal `status` once; True for the one caller that did it.

    `outcome` defaults to the preliminary one unless the session already has an outcome (the
    pipeline may have classified the conversation first). `require_no_call` makes it a no-op
    when a call id was bound meanwhile (placement failures race the stream's `start`);
    `expected_status` when the session moved on meanwhile.
    """
    assert status in TERMINAL_CALL_STATUSES, status
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None or session.is_finished:
            return False
        answered_by = str(fields.get("answered_by") or session.answered_by)
        updates: dict[str, Any] = {"ended_at": ended_at or timezone.now(), **fields}
        if not session.outcome:
            updates["outcome"] = outcome or preliminary_outcome(status, answered_by)
        if end_reason and not session.end_reason:
            updates["end_reason"] = end_reason
        if error_code:
            updates["error_code"] = error_code[:32]
            updates["error_message"] = error_message[:500]
        candidates = CallSession.objects.filter(pk=session_id)
        if require_no_call:
            candidates = candidates.filter(carrier_call_sid__isnull=True)
        if expected_status is not None:
            candidates = candidates.filter(status=expected_status)
        # The conditional update is the once-only guard, even where the row lock is a no-op.
        if transition(candidates, machine=CALL_STATUSES, to=status, updates=updates) != 1:
            return False
        deferred = session.conversation_state == ConversationState.OPEN
        _record_event(
            session_id,
            CallEventKind.FINISHED,
            {
                "status": status,
                "outcome": updates.get("outcome", session.outcome),
                "signal_deferred": deferred,
            },
        )
        if not deferred:
            # Otherwise the conversation's close sends it, with the agent's outcome.
            send_finished_on_commit(session_id)
        _tell_monitors_on_commit(session, status)
    logger.info("event=session_finished session=%s status=%s", session_id, status)
    return True


# --- status callbacks ---------------------------------------------------------------------
def _moves_forward(session: CallSession, status: str, sequence_number: int | None) -> bool:
    if session.is_finished:
        return False
    if sequence_number is not None and sequence_number <= session.last_sequence_number:
        return False
    rank = CALL_STATUS_RANK[CallStatus(status)]
    current = CALL_STATUS_RANK[CallStatus(session.status)]
    # Without a sequence number only a strictly later status can be trusted to be new.
    return rank > current if sequence_number is None else rank >= current


def _status_fields(session: CallSession, status: str, at: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if status == CallStatus.RINGING and session.ringing_at is None:
        fields["ringing_at"] = at
    if status == CallStatus.IN_PROGRESS and session.answered_at is None:
        fields["answered_at"] = at
        # A from-answer recording starts with the answer.
        fields.update(answered_recording_fields(session, at))
    return fields


def bind_call_from_callback(*, call_sid: str, session_token: str) -> bool:
    """A call that fails within milliseconds can have its callbacks arrive before our worker
    has stored the id `calls.create` answered. The callback URL carries the session token (and
    Twilio signed the URL with it), so the call id is bound here instead of the callback being
    dropped as an unknown call. Same rule as the stream's `start`: only onto a session with no
    call id yet."""
    if not session_token or not call_sid:
        return False
    if CallSession.objects.filter(carrier_call_sid=call_sid).exists():
        return False
    try:
        with transaction.atomic():
            bound = CallSession.objects.filter(
                token=session_token, carrier_call_sid__isnull=True, placed_at__isnull=False
            ).update(carrier_call_sid=call_sid)
    except IntegrityError:
        return False
    if bound:
        session_id = CallSession.objects.values_list("pk", flat=True).get(token=session_token)
        _record_event(
            session_id, CallEventKind.CALL_CREATED, {"call_sid": call_sid, "how": "callback"}
        )
        logger.info("event=call_bound_by_callback session=%s call_sid=%s", session_id, call_sid)
    return bool(bound)


def session_apply_status_callback(*, callback: StatusCallback) -> ApplyResult:
    bind_call_from_callback(call_sid=callback.call_sid, session_token=callback.session_token)
    with transaction.atomic():
        session = (
            CallSession.objects.select_for_update()
            .filter(carrier_call_sid=callback.call_sid)
            .first()
        )
        if session is None:
            # Twilio must not retry (answer 200), and there is nothing to write it against.
            logger.warning(
                "event=status_callback_unknown_call call_sid=%s status=%s",
                callback.call_sid,
                callback.carrier_status,
            )
            return ApplyResult.UNKNOWN_CALL
        seen = CallEvent.objects.filter(session=session, kind=CallEventKind.CARRIER_STATUS)
        if callback.sequence_number is not None:
            seen = seen.filter(data__sequence_number=callback.sequence_number)
        else:
            seen = seen.filter(data__sequence_number=None, data__status=callback.carrier_status)
        if seen.exists():
            return ApplyResult.DUPLICATE
        status = _call_status(callback.status)
        applies = _moves_forward(session, status, callback.sequence_number)
        _record_event(
            session.pk,
            CallEventKind.CARRIER_STATUS,
            {
                "status": callback.carrier_status,
                "sequence_number": callback.sequence_number,
                "timestamp": callback.timestamp.isoformat() if callback.timestamp else None,
                "duration": callback.duration_seconds,
                "answered_by": callback.carrier_answered_by or None,
                "applied": applies,
            },
        )
        if not applies:
            logger.info(
                "event=status_callback_stale session=%s status=%s sequence=%s current=%s",
                session.pk,
                callback.carrier_status,
                callback.sequence_number,
                session.status,
            )
            return ApplyResult.STALE
        at = callback.timestamp or timezone.now()
        fields = _status_fields(session, status, at)
        if callback.sequence_number is not None:
            fields["last_sequence_number"] = callback.sequence_number
        if callback.answered_by is not None and not session.answered_by:
            fields["answered_by"] = _answered_by(callback.answered_by)
        if status in TERMINAL_CALL_STATUSES:
            if callback.duration_seconds is not None:
                fields["duration_seconds"] = callback.duration_seconds
            session_finish(
                session_id=session.pk,
                status=status,
                end_reason=callback.carrier_status,
                ended_at=at,
                **fields,
            )
        else:
            transition(
                CallSession.objects.filter(pk=session.pk),
                machine=CALL_STATUSES,
                to=status,
                updates=fields,
            )
            _tell_monitors_on_commit(session, status)
    return ApplyResult.APPLIED


def _tell_monitors_on_commit(session: CallSession, status: str) -> None:
    """The live monitor shows ringing calls and drops finished ones (busy, no answer, hung
    up), including calls whose conversation never started."""
    organization_id, session_id, campaign_id = (
        session.organization_id,
        session.pk,
        session.campaign_id,
    )

    def tell() -> None:
        try:
            broadcast(
                organization_id=organization_id,
                session_id=session_id,
                campaign_id=campaign_id,
                event={"type": "status", "status": status},
            )
        except Exception:
            # The monitor is a nicety: a full channel layer must not fail a carrier callback.
            logger.exception("event=live_broadcast_failed session=%s", session_id)

    transaction.on_commit(tell)


def session_apply_carrier_status(
    *, session_id: int, status: CarrierCallStatus | None, raw_status: str = ""
) -> bool:
    """A status learnt by looking the call up (reconciliation): no sequence number, so it
    applies only if it is strictly further along than what we have. `raw_status` is the
    carrier's own word for it (the end reason); None (a status the carrier adapter did not
    know) changes nothing."""
    if status is None:
        return False
    call_status = _call_status(status)
    end_reason = raw_status or status.value
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None or not _moves_forward(session, call_status, None):
            return False
        now = timezone.now()
        if call_status in TERMINAL_CALL_STATUSES:
            return session_finish(session_id=session_id, status=call_status, end_reason=end_reason)
        fields = _status_fields(session, call_status, now)
        transition(
            CallSession.objects.filter(pk=session_id),
            machine=CALL_STATUSES,
            to=call_status,
            updates=fields,
        )
    return True


# --- answering-machine detection ----------------------------------------------------------
def session_apply_amd_result(*, callback: AmdCallback) -> ApplyResult:
    bind_call_from_callback(call_sid=callback.call_sid, session_token=callback.session_token)
    with transaction.atomic():
        session = (
            # of=self: PostgreSQL cannot lock the nullable side of the campaign outer join.
            CallSession.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .filter(carrier_call_sid=callback.call_sid)
            .first()
        )
        if session is None:
            logger.warning("event=amd_callback_unknown_call call_sid=%s", callback.call_sid)
            return ApplyResult.UNKNOWN_CALL
        # Twilio sends one verdict per call: any earlier AMD event makes this a repeat.
        if CallEvent.objects.filter(session=session, kind=CallEventKind.CARRIER_AMD).exists():
            return ApplyResult.DUPLICATE
        _record_event(
            session.pk,
            CallEventKind.CARRIER_AMD,
            {"answered_by": callback.carrier_answered_by, "detection_ms": callback.detection_ms},
        )
        answered_by = _answered_by(callback.answered_by)
        if answered_by != AnsweredBy.UNKNOWN:
            # Not once the session has ended: its campaign counted the call with what the row
            # said then, and a verdict arriving after the final callback must not contradict
            # the outcome (a "machine" whose outcome is "completed") or the counters.
            CallSession.objects.filter(pk=session.pk, answered_by="").exclude(
                status__in=TERMINAL_CALL_STATUSES
            ).update(answered_by=answered_by)
        # What a campaign call does when a machine answers (a test call just goes on).
        on_machine = (
            session.campaign.voicemail_behaviour
            if answered_by == AnsweredBy.MACHINE
            and not session.is_finished
            and session.campaign is not None
            else None
        )
        if on_machine == HANG_UP_ON_MACHINES:
            session_id = session.pk
            _record_event(session_id, CallEventKind.HANG_UP_REQUESTED, {"reason": "machine"})
            transaction.on_commit(lambda: _enqueue_hang_up(session_id))
        if on_machine == LEAVE_MESSAGE_ON_MACHINES:
            # The live call's consumer says the script's message (or hangs up without one).
            session_id = session.pk
            transaction.on_commit(lambda: _tell_consumer_machine(session_id))
    return ApplyResult.APPLIED


def _tell_consumer_machine(session_id: int) -> None:
    try:
        send_control(session_id=session_id, message={"type": "call.machine"})
    except Exception:
        # No consumer to tell (or no channel layer): the call ends at Twilio's time limit.
        logger.exception("event=voicemail_signal_failed session=%s", session_id)


def _enqueue_hang_up(session_id: int) -> None:
    session_hang_up_task.delay(session_id)


def session_hang_up(*, session_id: int, carrier: Carrier | None = None) -> bool:
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None or session.is_finished or not session.carrier_call_sid:
        return False
    (carrier or get_carrier()).hang_up(outbound_call(session))
    return True


# --- recordings ---------------------------------------------------------------------------
@runtime_checkable
class RecordingDownloader(Protocol):
    def download_recording(self, url: str) -> bytes: ...


def session_apply_recording_callback(*, callback: RecordingCallback) -> ApplyResult:
    with transaction.atomic():
        session = (
            CallSession.objects.select_for_update()
            .filter(carrier_call_sid=callback.call_sid)
            .first()
        )
        if session is None:
            logger.warning("event=recording_callback_unknown_call call_sid=%s", callback.call_sid)
            return ApplyResult.UNKNOWN_CALL
        seen = CallEvent.objects.filter(
            session=session,
            kind=CallEventKind.CARRIER_RECORDING,
            data__recording_sid=callback.recording_sid,
            data__status=callback.recording_status,
        )
        if seen.exists():
            return ApplyResult.DUPLICATE
        _record_event(
            session.pk,
            CallEventKind.CARRIER_RECORDING,
            {
                "recording_sid": callback.recording_sid,
                "status": callback.recording_status,
                "duration": callback.duration_seconds,
            },
        )
        if callback.recording_status != "completed" or not callback.recording_url:
            return ApplyResult.APPLIED
        claimed = CallSession.objects.filter(pk=session.pk, recording_sid="").update(
            recording_sid=callback.recording_sid,
            recording_duration_seconds=callback.duration_seconds,
        )
        if claimed:
            session_id, url = session.pk, callback.recording_url
            # Downloading can take longer than Twilio's 15 s webhook timeout: a task does it.
            transaction.on_commit(lambda: _enqueue_recording_download(session_id, url))
    return ApplyResult.APPLIED


def _enqueue_recording_download(session_id: int, url: str) -> None:
    session_store_recording_task.delay(session_id, url)


class RecordingNotReady(Exception):
    """The organization redacts personal data and the conversation is still closing: its last
    turns (what to mute) are not all stored yet. The task tries again later."""


def session_store_recording(*, session_id: int, url: str, carrier: Carrier | None = None) -> bool:
    """Download the call's recording and keep it on `session.recording` (once); when the
    organization redacts personal data, the turns that held some are muted first."""
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None or session.recording:
        return False
    redacting = organization_redacts_pii(session.organization_id)
    if redacting and session.conversation_state == ConversationState.OPEN:
        raise RecordingNotReady(f"session {session_id}: conversation still open")
    carrier = carrier or get_carrier()
    if not isinstance(carrier, RecordingDownloader):
        logger.warning("event=recording_not_downloadable carrier=%s", carrier.name)
        return False
    try:
        content = carrier.download_recording(url)
    except ValueError as error:
        # Not a URL we trust with our credentials: nothing a retry would change.
        logger.warning("event=recording_url_refused session=%s reason=%s", session_id, error)
        return False
    muted: list[tuple[int, int]] = []
    if redacting and (muted := recording_mute_spans(session)):
        try:
            content = mute_wav(content, muted)
        except UnsupportedRecording as error:
            # Muting is the promise: a recording we cannot mute is not kept at all.
            _record_event(
                session_id,
                CallEventKind.RECORDING_DISCARDED,
                {"reason": f"cannot mute personal data: {error}"},
            )
            logger.warning("event=recording_discarded session=%s reason=%s", session_id, error)
            return False
    name = f"{session.pk}-{session.recording_sid or 'recording'}.wav"
    session.recording.save(name, ContentFile(content), save=False)
    stored_name = str(session.recording.name)
    # Two deliveries of the task may download at once: the first to write the field wins.
    if not CallSession.objects.filter(pk=session_id, recording="").update(recording=stored_name):
        session.recording.storage.delete(stored_name)
        return False
    stored: dict[str, Any] = {"name": stored_name, "bytes": len(content)}
    if redacting:
        stored["muted_ms"] = [list(span) for span in muted]
    _record_event(session_id, CallEventKind.RECORDING_STORED, stored)
    return True
