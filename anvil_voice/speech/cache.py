"""A memory-bounded cache of synthesised lines in front of any `VoiceProvider`.

A scripted call says mostly known words: the opening as rendered for the contact, the closing,
the objection responses and the agent's fixed phrases. Synthesising them while the callee is
still saying "Hello?" (`CachingVoiceProvider.warm`) makes a reply's first audio a memory read
instead of 100-300 ms of Piper (seconds under load).

- The key is (provider name, voice id, exact text): the pipeline sends sentences, so the texts
  warmed must be split as it splits them (`sessions.pipeline.speaking.spoken_sentences`).
- What is kept is the provider's raw `stream_synthesize` output for the whole line (8 kHz
  mu-law, or whatever the provider sent: `synthesize_frames` still unwraps a RIFF answer), in
  one process-wide LRU bounded in bytes (`TTS_CACHE_BYTES`).
- A miss streams through as the provider produces it: caching never delays first audio. Only a
  line that completed is stored; a failure or a stream nobody listens to any more is not.
- Requests for a line already being made share that synthesis, whichever call made them. The
  provider's stream runs in a task of its own, so a listener that goes away (barge-in cancels
  it, a first-audio timeout cancels it) does not end the stream for another; the last listener
  to leave cancels it.
- Repeated lines get identical audio. Piper samples noise per utterance (and cloud voices vary
  from take to take) so that a line said twice sounds natural; one take per line per process is
  the trade (docs/decisions.md).

Everything here runs on the event loop except the warm-up's synthesis (`_run_background`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from anvil_voice import usage
from anvil_voice.speech.inference import Priority, run_inference
from anvil_voice.speech.protocols import CloneResult, OutputFormat, SampleInput, VoiceProvider

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024  # ~45 minutes of 8 kHz mu-law
# What an entry costs besides its audio (key, tuple, dict slot), so a flood of tiny lines is
# bounded too.
_ENTRY_OVERHEAD = 200

CacheKey = tuple[str, str, str]  # provider name, voice id, text


async def _run_background[T](fn: Callable[[], T]) -> T:
    """Run the warm-up's synthesis off the loop, on the shared inference executor at the lowest
    priority: a warm-up must never hold back a live reply's first audio or a finished
    utterance's recognition."""
    return await run_inference(fn, priority=Priority.BACKGROUND)


class AudioCache:
    """Whole lines of audio by key, least recently used first out, bounded in bytes.

    Thread-safe: a process may run several event loops (tests, a Celery worker).
    """

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lines: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Lines being made, whichever call asked: a second request reads the same synthesis.
        # Touched only on an event loop; a line made on another loop is not shared.
        self.in_flight: dict[CacheKey, _Line] = {}
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, key: CacheKey) -> bool:
        with self._lock:
            return key in self._lines

    def get(self, key: CacheKey) -> bytes | None:
        with self._lock:
            audio = self._lines.get(key)
            if audio is None:
                self.misses += 1
                return None
            self._lines.move_to_end(key)
            self.hits += 1
            return audio

    def put(self, key: CacheKey, audio: bytes) -> bool:
        """Keep `audio` for `key`, evicting the least recently used; False if it cannot fit."""
        cost = _cost(key, audio)
        if not audio or cost > self.max_bytes:
            return False
        with self._lock:
            old = self._lines.pop(key, None)
            if old is not None:
                self._bytes -= _cost(key, old)
            self._lines[key] = audio
            self._bytes += cost
            while self._bytes > self.max_bytes:
                evicted_key, evicted = self._lines.popitem(last=False)
                self._bytes -= _cost(evicted_key, evicted)
        return True

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()
            self._bytes = 0


def _cost(key: CacheKey, audio: bytes) -> int:
    return len(audio) + len(key[2]) + _ENTRY_OVERHEAD


_warm_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _warm_slot(loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
    """One warm-up synthesis at a time per event loop (the web process has one), whatever
    the number of calls: until the warm-ups run at background priority, five calls warming at
    once would take every core from the live calls' own speech. Lines queued here are not
    started, so a live request that needs one takes it over instead of waiting."""
    slot = _warm_slots.get(loop)
    if slot is None:
        slot = _warm_slots[loop] = asyncio.Semaphore(1)
    return slot


@functools.cache
def process_cache() -> AudioCache:
    """The process-wide cache, sized by `settings.TTS_CACHE_BYTES` on first use."""
    return AudioCache(max_bytes=int(settings.TTS_CACHE_BYTES))


@dataclass(eq=False)
class _Line:
    """A line being made: its audio so far, for every listener to read at its own pace."""

    loop: asyncio.AbstractEventLoop
    chunks: list[bytes] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None
    listeners: int = 0
    # A streaming synthesis (a live miss): cancelled when its last listener leaves.
    producer: asyncio.Task[None] | None = None
    # A warm-up's synthesis: joinable once its thread started; a live request that finds it
    # still queued takes the line over (`abandoned`) rather than wait behind background work.
    started: bool = False
    abandoned: bool = False
    claim: threading.Lock = field(default_factory=threading.Lock)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def append(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.notify()

    def finish(self) -> None:
        self.done = True
        self.notify()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.notify()

    def take_over(self) -> bool:
        """True when this (warm-up) line's synthesis had not started and never will."""
        with self.claim:
            if self.producer is None and not self.started and not self.done:
                self.abandoned = True
        return self.abandoned

    def begin_in_thread(self) -> bool:
        """The warm-up's thread claims the line; False when a live request took it over."""
        with self.claim:
            if self.abandoned:
                return False
            self.started = True
            return True


class CachingVoiceProvider:
    """A `VoiceProvider` that serves `stream_synthesize` from an `AudioCache` (see module doc).

    Build one per call around the call's voice; the cache is shared by all of them.
    """

    def __init__(self, inner: VoiceProvider, *, cache: AudioCache | None = None) -> None:
        self.inner = inner
        self.cache = cache if cache is not None else process_cache()
        self._lines = self.cache.in_flight
        # Warm-up jobs whose result is still to be stored (a strong reference: the loop keeps
        # only weak ones).
        self._jobs: set[asyncio.Future[bytes | None]] = set()

    @property
    def name(self) -> str:
        return str(self.inner.name)

    # --- pass-through -------------------------------------------------------------------------
    def clone_voice(
        self,
        *,
        name: str,
        description: str,
        labels: Mapping[str, str],
        samples: Sequence[SampleInput],
    ) -> CloneResult:
        return self.inner.clone_voice(
            name=name, description=description, labels=labels, samples=samples
        )

    def delete_voice(self, *, provider_voice_id: str) -> None:
        self.inner.delete_voice(provider_voice_id=provider_voice_id)

    def synthesize(
        self, *, provider_voice_id: str, text: str, output_format: OutputFormat
    ) -> bytes:
        return self.inner.synthesize(
            provider_voice_id=provider_voice_id, text=text, output_format=output_format
        )

    # --- the cache ----------------------------------------------------------------------------
    def key(self, voice_id: str, text: str) -> CacheKey:
        return (self.name, voice_id, text)

    def is_cached(self, *, provider_voice_id: str, text: str) -> bool:
        return self.key(provider_voice_id, text) in self.cache

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        key = self.key(provider_voice_id, text)
        audio = self.cache.get(key)
        if audio is not None:
            yield audio
            return
        line = self._join(key, provider_voice_id, text)
        line.listeners += 1
        try:
            read = 0
            while True:
                if read < len(line.chunks):
                    read += 1
                    yield line.chunks[read - 1]
                    continue
                if line.error is not None:
                    raise line.error
                if line.done:
                    return
                await line.changed.wait()
        finally:
            line.listeners -= 1
            if line.listeners == 0 and line.producer is not None and not line.producer.done():
                # Nobody listens any more (barge-in, a timeout): stop making audio no one hears.
                # Nothing is stored; the next request for the line starts afresh.
                line.producer.cancel()
                self._forget(key, line)

    def _join(self, key: CacheKey, voice_id: str, text: str) -> _Line:
        loop = asyncio.get_running_loop()
        line = self._lines.get(key)
        if line is not None and line.loop is loop and line.error is None and not line.take_over():
            return line  # share the synthesis under way
        line = _Line(loop)
        line.producer = loop.create_task(
            self._stream(key, line, voice_id, text), name=f"tts-cache-{len(text)}"
        )
        self._lines[key] = line
        return line

    async def _stream(self, key: CacheKey, line: _Line, voice_id: str, text: str) -> None:
        usage.record_tts(self.inner.name, text)  # a miss: the provider is paid for the text
        stream = self.inner.stream_synthesize(provider_voice_id=voice_id, text=text)
        try:
            async for chunk in stream:
                if chunk:
                    line.append(chunk)
        except asyncio.CancelledError:
            line.fail(asyncio.CancelledError())
            raise
        except Exception as error:
            # Each listener raises it; `synthesize_frames` makes it the turn's TTS failure.
            line.fail(error)
        else:
            self.cache.put(key, b"".join(line.chunks))
            line.finish()
        finally:
            self._forget(key, line)
            close = getattr(stream, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    def _forget(self, key: CacheKey, line: _Line) -> None:
        if self._lines.get(key) is line:
            del self._lines[key]

    # --- warm-up ------------------------------------------------------------------------------
    async def warm(self, voice_id: str, texts: Iterable[str]) -> int:
        """Synthesise the texts not cached yet, one at a time, in order; the number made.

        Each text is one `stream_synthesize` request as the pipeline will make it (a sentence).
        A line a live request is already making is skipped; a live request for a line being
        warmed shares it. Cancelling stops after the line under way (whose audio is still
        stored: its thread cannot be stopped anyway). Failures are logged, not raised.
        """
        made = 0
        loop = asyncio.get_running_loop()
        for text in dict.fromkeys(texts):
            key = self.key(voice_id, text)
            if not text.strip() or key in self.cache:
                continue
            existing = self._lines.get(key)
            if existing is not None and existing.loop is loop:
                continue
            line = _Line(loop)
            self._lines[key] = line
            try:
                await _warm_slot(loop).acquire()
            except asyncio.CancelledError:
                self._forget(key, line)
                raise
            try:
                if line.abandoned:
                    continue  # a live request took it over while it waited for the slot
                job = asyncio.ensure_future(
                    _run_background(functools.partial(self._synthesize_whole, line, voice_id, text))
                )
                self._jobs.add(job)
                job.add_done_callback(functools.partial(self._warmed, key, line))
                await asyncio.wait({job})
            finally:
                _warm_slot(loop).release()
            if not job.cancelled() and job.exception() is None and job.result():
                made += 1
        return made

    def _synthesize_whole(self, line: _Line, voice_id: str, text: str) -> bytes | None:
        """In a worker thread: the whole line, unless a live request took it over meanwhile."""
        if not line.begin_in_thread():
            return None
        usage.record_tts(self.inner.name, text)
        return self.inner.synthesize(
            provider_voice_id=voice_id, text=text, output_format="ulaw_8000"
        )

    def _warmed(self, key: CacheKey, line: _Line, job: asyncio.Future[bytes | None]) -> None:
        self._jobs.discard(job)
        if line.abandoned:
            return  # a live request took the line over and streams it itself
        self._forget(key, line)
        if job.cancelled():
            line.fail(asyncio.CancelledError())
            return
        error = job.exception()
        if error is not None:
            logger.warning("tts_cache.warm_failed provider=%s error=%r", self.name, error)
            line.fail(error)
            return
        audio = job.result()
        if audio:
            self.cache.put(key, audio)
            line.append(audio)
        line.finish()
