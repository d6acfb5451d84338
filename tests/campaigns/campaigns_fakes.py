"""Test doubles for the campaigns tests: a carrier that records what it was asked."""

from __future__ import annotations

from typing import Any, ClassVar


class RecordingCarrier:
    """Records cancels; fails for numbers in `failing` (to prove failures are tolerated)."""

    name = "recording"
    cancelled: ClassVar[list[int]] = []
    placed: ClassVar[list[int]] = []
    failing: ClassVar[set[str]] = set()

    def place_call(self, session: Any) -> str:
        self.placed.append(session.pk)
        return f"CA{session.pk:032d}"

    def cancel(self, session: Any) -> None:
        if session.to_number in self.failing:
            raise RuntimeError("carrier unavailable")
        self.cancelled.append(session.pk)

    def hang_up(self, session: Any) -> None:
        pass

    def find_call(self, session: Any) -> None:
        return None

    @classmethod
    def reset(cls) -> None:
        cls.cancelled.clear()
        cls.placed.clear()
        cls.failing.clear()
