"""One object per process, built on first use: the speech models and the inference executor.

Loading a model takes up to seconds and hundreds of MB, so each process keeps one and builds it
lazily (a web process that never takes a call never loads Whisper). Several threads may ask at
once (the inference workers, the event loop's thread): the lock makes exactly one of them build
it while the others wait, and the check before the lock keeps the common path lock-free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ProcessSingleton[T]:
    """`get()` builds the value with `factory` the first time and returns it from then on."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:  # another thread may have built it while we waited
                    value = self._value = self._factory()
        return value

    @property
    def loaded(self) -> bool:
        return self._value is not None
