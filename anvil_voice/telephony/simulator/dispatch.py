"""The calls-per-second cap: calls over it wait in a FIFO queue, as at Twilio."""

from __future__ import annotations

import asyncio
from collections import deque

from .errors import QUEUE_FULL, TwilioError
from .runner import CallRunner


class Dispatcher:
    """Releases queued calls in creation order, at most `cps` per second.

    Calls are never rejected for going over the rate, only when the queue itself is full
    (Twilio's 22005). A call canceled while queued leaves without using a slot.
    """

    def __init__(self, cps: float, queue_limit: int) -> None:
        if cps <= 0:
            raise ValueError("cps must be positive")
        self._interval = 1.0 / cps
        self._queue_limit = queue_limit
        self._queue: deque[CallRunner] = deque()
        self._wakeup = asyncio.Event()
        self._last_release: float | None = None

    def check_capacity(self) -> None:
        waiting = sum(1 for runner in self._queue if runner.call.end_request is None)
        if waiting >= self._queue_limit:
            raise TwilioError(
                429, QUEUE_FULL, "The call queue for this account is full; try again later"
            )

    def submit(self, runner: CallRunner) -> None:
        self._queue.append(runner)
        self._wakeup.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            runner = self._queue[0]
            if runner.call.end_request is not None:
                self._queue.popleft()
                continue
            if self._last_release is not None:
                delay = self._last_release + self._interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    # The head may have been canceled while we waited: look again.
                    continue
            self._queue.popleft()
            self._last_release = loop.time()
            runner.dispatched.set()
