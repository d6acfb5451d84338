"""The dial gate: the last word before the carrier is asked to ring a number.

Placement (`sessions.carrier.placement`) claims a queued session, then asks the configured gate
(`settings.DIAL_GATE`, a dotted path to a class, chosen like the carrier) whether the call may
still be made and waits for the gate's dial slot. The rules themselves (do-not-call list,
calling window, campaign status, calls-per-second pacing) belong to the campaigns app, which
depends on sessions and not the reverse: it provides the gate, sessions only calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from sessions.models import CallSession

# The reason a gate gives when the number is on the organization's do-not-call list: placement
# ends such a session as a do-not-call failure rather than a cancelled call.
DO_NOT_CALL = "do_not_call"


@dataclass(frozen=True)
class DialDecision:
    allowed: bool
    reason: str  # why not, in a word (`do_not_call`, `outside_calling_window`, ...) or "allowed"

    @classmethod
    def allow(cls) -> DialDecision:
        return cls(True, "allowed")


class DialGate(Protocol):
    def check(self, session: CallSession) -> DialDecision:
        """May `session`'s call be placed now? Runs after the claim, outside any transaction."""
        ...

    def check_transfer(
        self, session: CallSession, number: str, *, person: bool = True
    ) -> DialDecision:
        """May `session`'s caller be handed to `number` now (a transfer target)? A person's
        number only inside its calling window; a business line (`person=False`) at any time."""
        ...

    def wait_for_slot(self, session: CallSession) -> float:
        """Block until the call may go out (pacing); returns the seconds waited."""
        ...


def get_dial_gate() -> DialGate:
    gate: DialGate = import_string(settings.DIAL_GATE)()
    return gate
