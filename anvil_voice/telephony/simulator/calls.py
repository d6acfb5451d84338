"""A simulated call: its Twilio-visible state, its REST representation, and its control events."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from .log import CallLog
from .personas import Persona
from .twiml import Verb

API_VERSION = "2010-04-01"

QUEUED = "queued"
INITIATED = "initiated"
RINGING = "ringing"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
BUSY = "busy"
NO_ANSWER = "no-answer"
CANCELED = "canceled"
FAILED = "failed"
# Twilio's statuses from which a call never moves again.
FINAL_STATUSES = frozenset({COMPLETED, BUSY, NO_ANSWER, CANCELED, FAILED})


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format in JSON and callbacks: `Tue, 10 Nov 2020 16:32:15 +0000`."""
    return format_datetime(moment) if moment else None


@dataclass
class CallRequest:
    """The validated `Calls.json` parameters the simulator acts on."""

    to: str
    from_: str
    twiml: list[Verb] | None
    url: str | None
    method: str = "POST"
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset({"completed"})
    status_callback_method: str = "POST"
    machine_detection: str | None = None
    machine_detection_timeout: int = 30
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    record: bool = False
    recording_status_callback: str | None = None
    timeout: int = 60
    time_limit: int = 14400


@dataclass
class SimulatedCall:
    sid: str
    account_sid: str
    request: CallRequest
    persona: Persona
    log: CallLog = field(default_factory=CallLog)
    status: str = QUEUED
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    start_time: datetime | None = None
    end_time: datetime | None = None
    answered_at: float | None = None
    duration: int | None = None
    answered_by: str | None = None
    recording_sid: str | None = None
    recording: bytearray | None = None
    # Where the recording came from (`OutboundAPI`: `Record=true` from the answer;
    # `StartCallRecordingAPI`: the Call Recordings resource, from that request on), when it
    # began, and where its status callback goes.
    recording_source: str = "OutboundAPI"
    recording_started_at: datetime | None = None
    recording_callback: str | None = None
    recording_callback_method: str = "POST"
    # How many `<Connect><Stream>`s the call has begun (a transfer can send it back to one).
    streams_started: int = 0
    # Control: the REST API and the persona ask; the call's runner acts.
    end_request: str | None = None
    end_requested: asyncio.Event = field(default_factory=asyncio.Event)
    redirect_to: list[Verb] | str | None = None
    redirected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def request_end(self, status: str) -> None:
        """Ask the runner to end the call with `status` (first request wins)."""
        if self.end_request is None:
            self.end_request = status
        self.end_requested.set()

    def request_redirect(self, target: list[Verb] | str) -> None:
        """Replace the TwiML being executed (parsed verbs, or a URL to fetch)."""
        self.redirect_to = target
        self.redirected.set()

    def set_status(self, status: str) -> None:
        self.status = status
        self.date_updated = datetime.now(UTC)
        self.log.add("status", status=status)

    def to_json(self) -> dict[str, Any]:
        """The call as Twilio's `Calls/{Sid}.json` returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "sid": self.sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "parent_call_sid": None,
            "account_sid": self.account_sid,
            "to": self.request.to,
            "to_formatted": self.request.to,
            "from": self.request.from_,
            "from_formatted": self.request.from_,
            "phone_number_sid": None,
            "status": self.status,
            "start_time": rfc2822(self.start_time),
            "end_time": rfc2822(self.end_time),
            "duration": str(self.duration) if self.duration is not None else None,
            "price": None,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
                "payments": f"{uri}/Payments.json",
                "events": f"{uri}/Events.json",
                "siprec": f"{uri}/Siprec.json",
                "streams": f"{uri}/Streams.json",
                "transcriptions": f"{uri}/Transcriptions.json",
                "user_defined_message_subscriptions": (
                    f"{uri}/UserDefinedMessageSubscriptions.json"
                ),
                "user_defined_messages": f"{uri}/UserDefinedMessages.json",
            },
        }

    def recording_json(self) -> dict[str, Any]:
        """The call's recording as Twilio's `Calls/{Sid}/Recordings/{Sid}.json` returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        finished = self.recording is not None and self.is_final
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": self.sid,
            "conference_sid": None,
            "date_created": rfc2822(self.recording_started_at),
            "date_updated": rfc2822(self.recording_started_at),
            "start_time": rfc2822(self.recording_started_at),
            "duration": str(len(self.recording or b"") // 8000) if finished else "-1",
            "sid": self.recording_sid,
            "price": None,
            "price_unit": "USD",
            "status": "completed" if finished else "in-progress",
            "channels": 1,
            "source": self.recording_source,
            "error_code": None,
            "track": "both",
            "encryption_details": None,
            "uri": f"{uri}/Recordings/{self.recording_sid}.json",
        }

    def summary(self) -> dict[str, Any]:
        """What `GET /_sim/calls` shows: the Twilio JSON, the persona and the whole log."""
        return {
            **self.to_json(),
            "persona": self.persona.key,
            "log": self.log.entries,
        }
