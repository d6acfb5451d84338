"""Reading Twilio's webhook forms (status callbacks, async AMD, recording status).

Twilio's words ("in-progress", "machine_end_beep") become the carrier-neutral types of
`anvil_voice.telephony.callbacks`; anything we cannot read raises `InvalidCallback`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from anvil_voice.telephony.callbacks import (
    AmdCallback,
    CarrierAnsweredBy,
    CarrierCallStatus,
    InvalidCallback,
    RecordingCallback,
    StatusCallback,
)

# Twilio's `CallStatus` values (hyphenated) to ours.
TWILIO_CALL_STATUSES: dict[str, CarrierCallStatus] = {
    "queued": CarrierCallStatus.QUEUED,
    "initiated": CarrierCallStatus.INITIATED,
    "ringing": CarrierCallStatus.RINGING,
    "in-progress": CarrierCallStatus.IN_PROGRESS,
    "completed": CarrierCallStatus.COMPLETED,
    "busy": CarrierCallStatus.BUSY,
    "no-answer": CarrierCallStatus.NO_ANSWER,
    "canceled": CarrierCallStatus.CANCELED,
    "failed": CarrierCallStatus.FAILED,
}
# Twilio's `AnsweredBy` values to ours; every machine_* verdict is a machine.
TWILIO_ANSWERED_BY: dict[str, CarrierAnsweredBy] = {
    "human": CarrierAnsweredBy.HUMAN,
    "machine_start": CarrierAnsweredBy.MACHINE,
    "machine_end_beep": CarrierAnsweredBy.MACHINE,
    "machine_end_silence": CarrierAnsweredBy.MACHINE,
    "machine_end_other": CarrierAnsweredBy.MACHINE,
    "fax": CarrierAnsweredBy.FAX,
    "unknown": CarrierAnsweredBy.UNKNOWN,
}


def call_status(twilio_status: str) -> CarrierCallStatus | None:
    """Twilio's `CallStatus` (a callback's or a Call resource's), None when unknown."""
    return TWILIO_CALL_STATUSES.get(twilio_status)


def _required(params: Mapping[str, Any], name: str) -> str:
    value = str(params.get(name, "") or "").strip()
    if not value:
        raise InvalidCallback(f"{name} is required")
    return value


def _optional_int(params: Mapping[str, Any], name: str, *, strict: bool) -> int | None:
    raw = str(params.get(name, "") or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        if strict:
            raise InvalidCallback(f"{name} must be an integer") from None
        return None
    if value < 0:
        if strict:
            raise InvalidCallback(f"{name} must not be negative")
        return None
    return value


def _timestamp(params: Mapping[str, Any]) -> datetime | None:
    raw = str(params.get("Timestamp", "") or "").strip()
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None


def _answered_by(params: Mapping[str, Any]) -> tuple[CarrierAnsweredBy | None, str]:
    raw = str(params.get("AnsweredBy", "") or "").strip()
    if not raw:
        return None, ""
    if raw not in TWILIO_ANSWERED_BY:
        raise InvalidCallback(f"unknown AnsweredBy {raw[:32]!r}")
    return TWILIO_ANSWERED_BY[raw], raw


def parse_status_callback(params: Mapping[str, Any], *, session_token: str = "") -> StatusCallback:
    call_sid = _required(params, "CallSid")
    twilio_status = _required(params, "CallStatus")
    status = call_status(twilio_status)
    if status is None:
        raise InvalidCallback(f"unknown CallStatus {twilio_status[:32]!r}")
    answered_by, raw_answered_by = _answered_by(params)
    return StatusCallback(
        call_sid=call_sid,
        status=status,
        carrier_status=twilio_status,
        sequence_number=_optional_int(params, "SequenceNumber", strict=True),
        timestamp=_timestamp(params),
        duration_seconds=_optional_int(params, "CallDuration", strict=False),
        answered_by=answered_by,
        carrier_answered_by=raw_answered_by,
        session_token=session_token[:64],
    )


def parse_amd_callback(params: Mapping[str, Any], *, session_token: str = "") -> AmdCallback:
    call_sid = _required(params, "CallSid")
    answered_by, raw = _answered_by(params)
    if answered_by is None:
        raise InvalidCallback("AnsweredBy is required")
    return AmdCallback(
        call_sid=call_sid,
        answered_by=answered_by,
        carrier_answered_by=raw,
        detection_ms=_optional_int(params, "MachineDetectionDuration", strict=False),
        session_token=session_token[:64],
    )


def parse_recording_callback(
    params: Mapping[str, Any], *, session_token: str = ""
) -> RecordingCallback:
    # The recording callback URL carries no session token; the argument keeps one signature.
    return RecordingCallback(
        call_sid=_required(params, "CallSid"),
        recording_sid=_required(params, "RecordingSid"),
        recording_url=str(params.get("RecordingUrl", "") or "").strip(),
        recording_status=str(params.get("RecordingStatus", "") or "completed").strip(),
        duration_seconds=_optional_int(params, "RecordingDuration", strict=False),
    )
