"""Text to 8 kHz mu-law for personas and `<Say>`: the injected `speak`, or the local Piper voice."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from . import audio

Speak = Callable[[str], bytes]

logger = logging.getLogger(__name__)


def local_speak() -> Speak:
    """The project's local TTS, imported lazily so the simulator starts without it.

    Falls back to synthetic babble when `anvil_voice.speech.local` is missing, so the simulator
    still plays audible, speech-shaped audio instead of failing the call.
    """
    try:
        from anvil_voice.speech.local import get_local_tts
    except ImportError:
        logger.warning("event=simulator_tts_unavailable fallback=babble")
        return audio.babble
    # Noise off: a persona says the same words the same way on every call, so what the
    # agent's recogniser hears is reproducible across runs.
    return functools.partial(get_local_tts().synthesize_ulaw8k, exact=True)


class Voice:
    """Caches synthesis per text: personas repeat the same few lines on every call."""

    def __init__(self, speak: Speak | None) -> None:
        self._speak = speak
        self._cache: dict[str, asyncio.Future[bytes]] = {}
        # One synthesis at a time: a TTS engine is not necessarily thread-safe, and the cache
        # makes repeated lines free anyway.
        self._lock = asyncio.Lock()

    async def synthesize(self, text: str) -> bytes:
        # Shielded: one caller giving up (its call ended) must not cancel a shared synthesis.
        return await asyncio.shield(self._future(text))

    def prefetch(self, texts: tuple[str, ...]) -> None:
        for text in texts:
            self._future(text)

    def _future(self, text: str) -> asyncio.Future[bytes]:
        future = self._cache.get(text)
        if future is None:
            future = asyncio.ensure_future(self._synthesize(text))
            self._cache[text] = future
            future.add_done_callback(lambda done: self._forget_failure(text, done))
        return future

    def _forget_failure(self, text: str, future: asyncio.Future[bytes]) -> None:
        # Do not cache a failure (the next call may succeed), and mark it retrieved so a
        # prefetch nobody awaited does not warn.
        if (future.cancelled() or future.exception() is not None) and self._cache.get(
            text
        ) is future:
            del self._cache[text]

    async def _synthesize(self, text: str) -> bytes:
        async with self._lock:
            if self._speak is None:
                self._speak = await asyncio.to_thread(local_speak)
            # Synthesis is CPU-bound (Piper): keep it off the loop that paces the audio.
            return await asyncio.to_thread(self._speak, text)
