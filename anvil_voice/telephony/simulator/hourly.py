"""Callees whose answer depends on their local hour (the best-time-to-call evaluation).

A person answers or not by the hour on their own clock: someone at work rarely picks up at
11:00 and often at 19:00. `HourlyPersonas` gives numbers one of the `PROFILES` and a time zone;
a call to such a number is answered with the profile's probability at the callee's local hour
(read from `clock`, which a test or a benchmark runs as it likes), else it rings out
(`no-answer`). Numbers without a profile keep their usual persona (`persona_for`).

Seeded and deterministic: the draw for a number's n-th call is a function of (seed, number, n)
alone, so two dialling strategies calling the same numbers the same number of times meet the
same luck and differ only by *when* they call (common random numbers: a fair comparison).

Used as the simulator's persona chooser: `TwilioSimulator(..., personas=hourly)`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .personas import GENERIC_HUMAN, PERSONAS, Persona, persona_for


def _curve(base: float, peaks: dict[range, float]) -> tuple[float, ...]:
    return tuple(
        next((rate for hours, rate in peaks.items() if hour in hours), base) for hour in range(24)
    )


@dataclass(frozen=True)
class HourlyProfile:
    key: str
    rates: tuple[float, ...]  # answer probability at each local hour, 0-23

    def rate(self, hour: int) -> float:
        return self.rates[hour]


PROFILES: dict[str, HourlyProfile] = {
    # At work all day: lunch and the evening.
    "evening": HourlyProfile("evening", _curve(0.08, {range(12, 13): 0.30, range(17, 21): 0.65})),
    # Early and late, on the way: before work and after it.
    "commuter": HourlyProfile("commuter", _curve(0.10, {range(7, 9): 0.55, range(18, 20): 0.55})),
    # Home in the day: mornings and early afternoons, not at dinner time.
    "daytime": HourlyProfile(
        "daytime", _curve(0.20, {range(9, 12): 0.55, range(13, 16): 0.45, range(17, 20): 0.10})
    ),
    # Answers whenever (the control: no hour is better).
    "anytime": HourlyProfile("anytime", _curve(0.35, {})),
}


def _uniform(seed: int, number: str, call: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{number}:{call}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class HourlyPersonas:
    """Persona chooser: numbers with an hourly profile answer by their local hour."""

    def __init__(
        self,
        *,
        seed: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        answering: Persona = GENERIC_HUMAN,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.answering = answering
        self._numbers: dict[str, tuple[HourlyProfile, ZoneInfo]] = {}
        self._calls: dict[str, int] = defaultdict(int)

    def assign(self, number: str, *, profile: str, time_zone: str) -> None:
        self._numbers[number] = (PROFILES[profile], ZoneInfo(time_zone))

    def probability(self, number: str, at: datetime) -> float:
        profile, zone = self._numbers[number]
        return profile.rate(at.astimezone(zone).hour)

    def answers(self, number: str, at: datetime) -> bool:
        """Whether this call (the number's next) is answered at `at`; counts the call."""
        call = self._calls[number]
        self._calls[number] = call + 1
        return _uniform(self.seed, number, call) < self.probability(number, at)

    def __call__(self, number: str) -> Persona:
        if number not in self._numbers:
            return persona_for(number)
        return self.answering if self.answers(number, self.clock()) else PERSONAS[0]
