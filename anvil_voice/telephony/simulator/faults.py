"""Test knobs: make upcoming `Calls.json` creations misbehave like a flaky Twilio edge."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import INTERNAL_ERROR, TOO_MANY_REQUESTS, TwilioError


@dataclass
class Faults:
    stall_count: int = 0
    stall_seconds: float = 0.0
    fail_count: int = 0
    fail_status: int = 500
    fail_code: int = INTERNAL_ERROR

    def stall_next_creates(self, count: int, seconds: float) -> None:
        """The next `count` creations make the call, then hold the HTTP answer `seconds`."""
        self.stall_count, self.stall_seconds = count, seconds

    def fail_next_creates(self, count: int, *, status: int = 500, code: int | None = None) -> None:
        """The next `count` creations answer an error without making a call.

        `status=429` gives Twilio's 20429 (too many concurrent requests), 500 gives 20500.
        """
        default_code = TOO_MANY_REQUESTS if status == 429 else INTERNAL_ERROR
        self.fail_count, self.fail_status = count, status
        self.fail_code = code if code is not None else default_code

    def reset(self) -> None:
        self.stall_count = self.fail_count = 0

    def take_failure(self) -> TwilioError | None:
        if self.fail_count <= 0:
            return None
        self.fail_count -= 1
        message = "Too Many Requests" if self.fail_status == 429 else "Internal Server Error"
        return TwilioError(self.fail_status, self.fail_code, message)

    def take_stall(self) -> float:
        if self.stall_count <= 0:
            return 0.0
        self.stall_count -= 1
        return self.stall_seconds
