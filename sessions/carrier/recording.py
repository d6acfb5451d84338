"""Recording consent: whether and when a call records, and the evidence it leaves.

A campaign that records picks one of two ways per call, from the script version the session
uses (`recording_plan`):

- `from_answer`: the script requires no disclosure (the customer's choice). The carrier
  records from the answer (`Record=true` on the create), `recording_started_at` is the answer
  time, and the evidence says no disclosure was required.
- `after_disclosure`: the script requires a recording disclosure. The call is placed without
  recording; the live pipeline says the disclosure right after the opening line, not
  interruptible by speech, and once the carrier echoed the Media Streams `mark` after its last
  audio (it was played in full, not merely sent) `session_disclosure_played` asks the carrier
  to start recording (`Carrier.start_recording`). A call that ends first is never recorded.

The evidence lives in `CallSession.compliance["recording"]`. It is written when the call is
placed saying "not recorded" and why (the disclosure was not played / the call was not
answered), and changes only when recording really starts or fails to: a call that ends
anywhere in between keeps the conservative answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone

from anvil_voice.telephony.carrier import (
    Carrier,
    RecordingError,
    RecordingErrorKind,
    get_carrier,
)
from sessions.carrier.calls import RecordingMode, RecordingPlan, outbound_call
from sessions.models import CallEvent, CallEventKind, CallSession

logger = logging.getLogger(__name__)

EVIDENCE_KEY = "recording"


class RecordingReason(StrEnum):
    """Why the evidence says `recorded` is what it is."""

    NOT_ANSWERED = "not_answered"  # from_answer, until the answer
    NO_DISCLOSURE_REQUIRED = "no_disclosure_required"  # recorded from the answer
    DISCLOSURE_NOT_PLAYED = "disclosure_not_played"  # until the disclosure's mark comes back
    DISCLOSURE_CONFIRMED = "disclosure_confirmed"  # recorded after the disclosure's mark
    # The disclosure's audio was sent but the carrier never echoed its mark: not recorded.
    PLAYBACK_NOT_CONFIRMED = "playback_not_confirmed"
    CALL_ENDED = "call_ended"  # confirmed, but the call had ended when we asked to record
    CARRIER_FAILED = "carrier_failed"  # confirmed, the carrier refused to record


def recording_evidence(session: CallSession) -> dict[str, Any] | None:
    evidence = (session.compliance or {}).get(EVIDENCE_KEY)
    return evidence if isinstance(evidence, dict) else None


def disclosure_to_say(session: CallSession) -> str:
    """The disclosure the live call must say before recording ('' when none): read from the
    evidence written at placement, so the call says exactly what the evidence records."""
    evidence = recording_evidence(session) or {}
    if evidence.get("mode") != RecordingMode.AFTER_DISCLOSURE:
        return ""
    return str(evidence.get("disclosure_text") or "")


def _update_evidence(session_id: int, changes: dict[str, Any], **fields: Any) -> bool:
    """Merge `changes` into the recording evidence under the row lock (JSON read-modify-write)."""
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            return False
        compliance = dict(session.compliance or {})
        compliance[EVIDENCE_KEY] = {**(compliance.get(EVIDENCE_KEY) or {}), **changes}
        CallSession.objects.filter(pk=session_id).update(compliance=compliance, **fields)
    return True


def plan_evidence(plan: RecordingPlan) -> dict[str, Any]:
    """What the evidence says when the call is placed (nothing recorded yet)."""
    after_disclosure = plan.mode is RecordingMode.AFTER_DISCLOSURE
    return {
        "requested": True,
        "mode": plan.mode.value,
        "disclosure_required": after_disclosure,
        "disclosure_text": plan.disclosure_text,
        "disclosure_played_at": None,
        "playback_confirmed_by": None,
        "recording_started_at": None,
        "recorded": False,
        "reason": (
            RecordingReason.DISCLOSURE_NOT_PLAYED
            if after_disclosure
            else RecordingReason.NOT_ANSWERED
        ).value,
    }


def session_note_recording_plan(*, session_id: int, plan: RecordingPlan) -> None:
    """Right before dialling: the evidence says how the call will record (nothing yet)."""
    if plan.mode is RecordingMode.NONE:
        return
    _update_evidence(session_id, plan_evidence(plan))


def answered_recording_fields(session: CallSession, answered_at: datetime) -> dict[str, Any]:
    """For the status callback that says the call was answered: a from-answer recording began
    then (the carrier records from the answer), so its start and evidence are set with it. The
    caller holds the session's row lock."""
    evidence = recording_evidence(session)
    if evidence is None or evidence.get("mode") != RecordingMode.FROM_ANSWER:
        return {}
    if session.recording_started_at is not None:
        return {}
    compliance = dict(session.compliance)
    compliance[EVIDENCE_KEY] = {
        **evidence,
        "recording_started_at": answered_at.isoformat(),
        "recorded": True,
        "reason": RecordingReason.NO_DISCLOSURE_REQUIRED.value,
    }
    return {"recording_started_at": answered_at, "compliance": compliance}


def session_disclosure_played(
    *,
    session_id: int,
    confirmed: bool,
    mark: str,
    played_at: datetime | None = None,
    carrier: Carrier | None = None,
) -> bool:
    """The live call finished saying the recording disclosure: start recording if the carrier
    confirmed it played in full (`confirmed`: its last `mark` came back). True when recording
    started. Idempotent: a second report changes nothing."""
    played_at = played_at or timezone.now()
    session = (
        CallSession.objects.select_related("campaign", "organization").filter(pk=session_id).first()
    )
    evidence = recording_evidence(session) if session is not None else None
    if session is None or evidence is None:
        return False
    if evidence.get("mode") != RecordingMode.AFTER_DISCLOSURE or evidence.get("recorded"):
        return False
    if not confirmed:
        _update_evidence(
            session_id,
            {"disclosure_mark": mark, "reason": RecordingReason.PLAYBACK_NOT_CONFIRMED.value},
        )
        _event(session_id, CallEventKind.RECORDING_NOT_STARTED, reason="playback_not_confirmed")
        logger.warning("event=disclosure_unconfirmed session=%s mark=%s", session_id, mark)
        return False
    heard = {
        "disclosure_played_at": played_at.isoformat(),
        "playback_confirmed_by": "mark",
        "disclosure_mark": mark,
    }
    # Nothing before this moment can be in the file: the recording starts between our request
    # and the carrier's answer. Stored as the start, it is a bound the evidence can rely on.
    asked_at = timezone.now()
    try:
        started = (carrier or get_carrier()).start_recording(outbound_call(session))
    except RecordingError as error:
        reason = (
            RecordingReason.CALL_ENDED
            if error.kind is RecordingErrorKind.CALL_NOT_IN_PROGRESS
            else RecordingReason.CARRIER_FAILED
        )
        _update_evidence(
            session_id, {**heard, "reason": reason.value, "carrier_code": error.carrier_code}
        )
        _event(
            session_id,
            CallEventKind.RECORDING_NOT_STARTED,
            reason=reason.value,
            code=error.carrier_code,
        )
        logger.warning(
            "event=recording_not_started session=%s reason=%s code=%s",
            session_id,
            reason,
            error.carrier_code,
        )
        return False
    _update_evidence(
        session_id,
        {
            **heard,
            "recording_started_at": asked_at.isoformat(),
            "recording_sid": started.recording_sid,
            "recorded": True,
            "reason": RecordingReason.DISCLOSURE_CONFIRMED.value,
        },
        recording_started_at=asked_at,
    )
    _event(
        session_id,
        CallEventKind.RECORDING_STARTED,
        recording_sid=started.recording_sid,
        after_mark=mark,
    )
    logger.info(
        "event=recording_started session=%s recording_sid=%s", session_id, started.recording_sid
    )
    return True


def _event(session_id: int, kind: str, **data: object) -> None:
    CallEvent.objects.create(session_id=session_id, kind=kind, data=data)
