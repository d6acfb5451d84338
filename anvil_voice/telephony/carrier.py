"""The carrier protocol: how the rest of the system reaches the phone network.

Campaigns, test calls and the live pipeline talk to a `Carrier`, never to Twilio directly;
`get_carrier()` returns the configured implementation (Twilio, pointed at the real API or at
the Twilio simulator through `TWILIO_API_BASE_URL`), so tests and the embedded default swap it by
configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.http import HttpRequest

    from sessions.models import CallSession


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
class CarrierCall:
    """What the carrier knows about a call (for reconciliation)."""

    call_sid: str
    status: str
    to: str
    from_: str


class Carrier(Protocol):
    name: str

    def place_call(self, session: CallSession) -> str:
        """Dial `session.to_number`; return the carrier's call id. Raises PlaceCallError."""

    def find_call(self, session: CallSession) -> CarrierCall | None:
        """The call this session created, if the carrier has one (reconciliation)."""

    def hang_up(self, session: CallSession) -> None:
        """End an answered call. An already ended call is not an error."""

    def cancel(self, session: CallSession) -> None:
        """Cancel a queued or ringing call. An already ended call is not an error."""

    def validate_webhook(self, request: HttpRequest) -> bool:
        """True when the request carries a valid carrier signature for our public URL."""

    def validate_stream_handshake(self, scope: dict[str, Any]) -> bool:
        """True when a media-stream websocket handshake carries a valid signature."""

    def build_twiml(self, session: CallSession) -> str:
        """The call instructions: connect the call to our media-stream websocket."""


def get_carrier() -> Carrier:
    """The configured carrier (`settings.CARRIER_BACKEND`, a dotted path to a class)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    backend = str(settings.CARRIER_BACKEND)
    carrier: Carrier = import_string(backend)()
    return carrier
