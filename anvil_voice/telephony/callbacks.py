"""What a carrier reports about a call, in carrier-neutral terms.

The carrier adapter reads its own webhook forms (`twilio_callbacks` for Twilio) into these
types; the product (`sessions.carrier.status`) applies them. The enum values are the product's own
(`sessions.models.CallStatus` / `AnsweredBy`): telephony never imports the product apps, so
the values are repeated here and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CarrierCallStatus(StrEnum):
    """How far a call got, as every carrier can say it."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELED = "canceled"
    FAILED = "failed"


class CarrierAnsweredBy(StrEnum):
    """Who answered (answering-machine detection); UNKNOWN when the carrier could not tell."""

    UNKNOWN = ""
    HUMAN = "human"
    MACHINE = "machine"
    FAX = "fax"


class InvalidCallback(ValueError):
    """A signed callback we cannot read (garbage status, missing call id): answered 400."""


@dataclass(frozen=True)
class StatusCallback:
    call_sid: str
    status: CarrierCallStatus
    # The carrier's own word for the status ("in-progress"), kept for events and logs.
    carrier_status: str
    sequence_number: int | None
    timestamp: datetime | None
    duration_seconds: int | None
    answered_by: CarrierAnsweredBy | None
    carrier_answered_by: str
    # Our session token from the callback URL's query (signed with it): finds the session when
    # the callback beats our own `calls.create` answer.
    session_token: str = ""


@dataclass(frozen=True)
class AmdCallback:
    call_sid: str
    answered_by: CarrierAnsweredBy
    carrier_answered_by: str
    detection_ms: int | None
    session_token: str = ""


@dataclass(frozen=True)
class RecordingCallback:
    call_sid: str
    recording_sid: str
    recording_url: str
    recording_status: str
    duration_seconds: int | None
