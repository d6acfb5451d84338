"""Test doubles for the campaigns tests: a carrier that records what it was asked."""

from __future__ import annotations

from typing import Any, ClassVar

from anvil_voice.telephony.carrier import OutboundCall


class RecordingCarrier:
    """Records cancels; fails for numbers in `failing` (to prove failures are tolerated)."""

    name = "recording"
    cancelled: ClassVar[list[int]] = []
    placed: ClassVar[list[int]] = []
    failing: ClassVar[set[str]] = set()

    def place_call(self, call: OutboundCall) -> str:
        self.placed.append(call.reference)
        return f"CA{call.reference:032d}"

    def cancel(self, call: OutboundCall) -> None:
        if call.to_number in self.failing:
            raise RuntimeError("carrier unavailable")
        self.cancelled.append(call.reference)

    def hang_up(self, call: OutboundCall) -> None:
        pass

    def find_call(self, call: OutboundCall, **kwargs: Any) -> None:
        return None

    @classmethod
    def reset(cls) -> None:
        cls.cancelled.clear()
        cls.placed.clear()
        cls.failing.clear()
