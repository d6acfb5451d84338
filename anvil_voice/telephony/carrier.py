"""The carrier protocol: how the rest of the system reaches the phone network.

Campaigns, test calls and the live pipeline talk to a `Carrier`, never to Twilio directly;
`get_carrier()` returns the configured implementation (Twilio, pointed at the real API or at
the Twilio simulator through `TWILIO_API_BASE_URL`), so tests and the embedded default swap it by
configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from anvil_voice.telephony.callbacks import CarrierCallStatus
from anvil_voice.telephony.dtmf import LiveStream

if TYPE_CHECKING:
    from django.http import HttpRequest


class PlaceCallErrorKind(StrEnum):
    # The request was never processed (e.g. Twilio 20429): safe to retry after a backoff.
    RETRY = "retry"
    # The number cannot be called (21211 and friends): mark the contact invalid, never retry.
    INVALID_NUMBER = "invalid_number"
    # The account is at capacity (10004, 22005): put the attempt back and try later.
    BACK_PRESSURE = "back_pressure"
    # We do not know whether the call was created (timeout, 5xx): reconcile before anything else.
    UNKNOWN = "unknown"
    # Anything else that will not get better by retrying (auth, bad caller ID, …).
    PERMANENT = "permanent"


class PlaceCallError(Exception):
    def __init__(
        self,
        kind: PlaceCallErrorKind,
        message: str,
        *,
        carrier_code: str = "",
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.carrier_code = carrier_code
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class OutboundCall:
    """One outbound call as a carrier sees it: what `calls.create` and friends need.

    Carrier-neutral and model-free: the product builds it from its own records (a session) and
    telephony never imports the product apps.
    """

    reference: int  # the product's id for this call (a session's pk): logs only
    token: str  # signs our media-stream and callback URLs
    to_number: str
    from_number: str
    record: bool = False  # record the call (and tell us when the recording is ready)
    leave_voicemail_message: bool = False  # AMD waits for the beep before the verdict
    placed_at: datetime | None = None  # when we asked the carrier (reconciliation window)
    call_sid: str = ""  # the carrier's id for the call, once known


class RecordingErrorKind(StrEnum):
    # The call is not talking any more (ended, or never answered): nothing to record.
    CALL_NOT_IN_PROGRESS = "call_not_in_progress"
    # The carrier refused or did not answer; the call goes on unrecorded.
    FAILED = "failed"


class RecordingError(Exception):
    def __init__(self, kind: RecordingErrorKind, message: str, *, carrier_code: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.carrier_code = carrier_code


@dataclass(frozen=True)
class StartedRecording:
    """A recording the carrier began on a live call (`Carrier.start_recording`)."""

    recording_sid: str
    started_at: datetime | None  # the carrier's start time, when it says


class TransferError(Exception):
    """The carrier refused to move the call to a transfer target (the call may have ended, or
    the request failed): the caller is still with us, or already gone."""

    def __init__(self, message: str, *, carrier_code: str = "", call_ended: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.carrier_code = carrier_code
        self.call_ended = call_ended


@dataclass(frozen=True)
class ColdTransfer:
    """Connect the live call to `target` and leave (`Carrier.transfer_cold`)."""

    target: str  # E.164, validated by the product
    caller_id: str  # what the target's phone shows: our number on the call
    timeout_seconds: int  # ring this long before the result is "no-answer"
    # Told the leg's result when it ends (signed, with the session token in its query); its
    # answer is the TwiML the caller hears next: nothing after a talk, an apology otherwise.
    action_url: str
    # Warm: the person hears this URL's TwiML (the briefing) when they answer, before the two
    # are connected; the request also tells us the moment they answered. Empty: none.
    briefing_url: str = ""


@dataclass(frozen=True)
class WarmTransfer:
    """Put the caller on hold in a conference and call `target` (`Carrier.transfer_warm`): the
    person hears a briefing, then joins the caller; nobody answering sends the caller back."""

    target: str  # E.164, validated by the product
    caller_id: str  # what the target's phone shows: our number on the call
    timeout_seconds: int  # ring the person this long before their leg ends `no-answer`
    conference: str  # the conference's name, unique to this transfer
    hold_url: str  # what the caller hears while waiting (TwiML: our hold audio, looped)
    # What the person's leg runs when they answer: their briefing, then joining the caller.
    briefing_url: str
    # The person's leg reports initiated/ringing/answered/completed here (signed).
    leg_status_url: str
    hold_line: str = ""  # said to the caller before the hold audio (empty: nothing)


@dataclass(frozen=True)
class ReturnToAgent:
    """Send a caller back from a transfer nobody took to a new media stream
    (`Carrier.return_to_stream`); `parameters` ride along on the stream's `start`."""

    parameters: dict[str, str]


# Given candidate call ids, the ones other calls of ours already hold (reconciliation).
HeldElsewhere = Callable[[Sequence[str]], Collection[str]]


@dataclass(frozen=True)
class CarrierCall:
    """What the carrier knows about a call (for reconciliation)."""

    call_sid: str
    status: CarrierCallStatus | None  # None: a status the adapter does not know
    to: str
    from_: str
    carrier_status: str = ""  # the carrier's own word for the status


class Carrier(Protocol):
    name: str

    def place_call(self, call: OutboundCall) -> str:
        """Dial `call.to_number`; return the carrier's call id. Raises PlaceCallError."""

    def find_call(
        self, call: OutboundCall, *, held_elsewhere: HeldElsewhere | None = None
    ) -> CarrierCall | None:
        """The call `place_call(call)` created, if the carrier has one (reconciliation);
        never one whose id `held_elsewhere` reports as another call's."""

    def hang_up(self, call: OutboundCall) -> None:
        """End an answered call. An already ended call (or none yet) is not an error."""

    def cancel(self, call: OutboundCall) -> None:
        """Cancel a queued or ringing call. An already ended call (or none yet) is not an error."""

    def start_recording(self, call: OutboundCall) -> StartedRecording:
        """Begin recording the live call `call.call_sid` from now on (both sides, one file),
        and report it to our recording callback like a from-answer recording. Raises
        RecordingError (CALL_NOT_IN_PROGRESS when the call already ended)."""

    def send_digits(self, call: LiveStream, digits: str) -> int:
        """Press keys on a live call (`0-9*#`, ``w`` waits 0.5 s): raises InvalidDigitsError
        for anything else, before sending. Returns how long the presses take to play (ms)."""

    def transfer_cold(self, call: OutboundCall, transfer: ColdTransfer) -> None:
        """Move the live call `call.call_sid` from our media stream to a new leg ringing
        `transfer.target`; the carrier reports the leg's result to `transfer.action_url`.
        Raises TransferError (`call_ended` when the call is already over)."""

    def transfer_warm(self, call: OutboundCall, transfer: WarmTransfer) -> str:
        """Move the live call `call.call_sid` from our media stream to a waiting conference with
        hold audio, and place a new call to `transfer.target` that joins it after its briefing.
        Returns the new leg's carrier id. Raises TransferError (`call_ended` when the caller's
        call is over; when the person's leg cannot be placed the caller is already on hold)."""

    def return_to_stream(self, call: OutboundCall, back: ReturnToAgent) -> None:
        """Move the live call `call.call_sid` (waiting in a transfer's conference) back to a new
        media stream of the session. Raises TransferError (`call_ended` when it is over)."""

    def cancel_leg(self, leg_sid: str) -> None:
        """End a transfer's leg to the person, ringing or answered (the caller left). An already
        ended leg is not an error."""

    def end_with_message(self, call: OutboundCall, text: str) -> None:
        """Say `text` on the live call, then end it (a transfer that could not start: the
        caller is never dropped in silence). An already ended call is not an error."""

    def validate_webhook(self, request: HttpRequest) -> bool:
        """True when the request carries a valid carrier signature for our public URL."""

    def validate_stream_handshake(self, scope: dict[str, Any]) -> bool:
        """True when a media-stream websocket handshake carries a valid signature."""

    def build_twiml(self, call: OutboundCall) -> str:
        """The call instructions: connect the call to our media-stream websocket."""


def get_carrier() -> Carrier:
    """The configured carrier (`settings.CARRIER_BACKEND`, a dotted path to a class)."""
    carrier: Carrier = import_string(settings.CARRIER_BACKEND)()
    return carrier
