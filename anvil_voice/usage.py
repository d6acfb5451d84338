"""What one live call used of each paid (or CPU-bound) provider, counted where the work happens.

A call's usage is what its cost is computed from (`sessions.costs`): the carrier's minutes come
from the carrier's own duration; the rest is counted here, during the call, by the code that
talks to each provider:

- speech-to-text: seconds of audio handed to the recogniser (Deepgram bills the audio streamed
  to it; local Whisper is counted per utterance transcribed, speculative runs included);
- text-to-speech: characters sent to the voice provider (a TTS-cache hit sends none, so it
  costs none; a warm-up's synthesis is paid by the call that asked for it);
- the LLM: prompt and completion tokens as the provider reports them (`usage` in the stream);
- compute: CPU seconds of the speech models run on the call's behalf on the process's
  inference executor (Whisper, Piper, Smart Turn), measured with the worker thread's CPU clock.

The meter travels in a context variable, set by the live-call consumer when a conversation
starts: every task the pipeline spawns copies it, and the inference executor runs each job in
its caller's context (`anvil_voice.speech.inference`), so no signature in the pipeline, the
engine or the providers changes. Outside a call (a voice preview, a test) there is no meter
and counting is a no-op. Django-free: the pipeline and the engine (pure cores) import it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallUsage:
    """Counters for one call; safe to add to from the inference executor's threads."""

    stt_provider: str = ""
    stt_audio_seconds: float = 0.0
    tts_provider: str = ""
    tts_characters: int = 0
    llm_provider: str = ""
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_requests: int = 0
    # LLM replies whose stream carried no `usage` (a provider that ignores `stream_options`):
    # their tokens are unknown, and the cost says so rather than guessing.
    llm_requests_without_usage: int = 0
    compute_cpu_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_stt(self, provider: str, seconds: float) -> None:
        with self._lock:
            self.stt_provider = self.stt_provider or provider
            self.stt_audio_seconds += seconds

    def add_tts(self, provider: str, characters: int) -> None:
        with self._lock:
            self.tts_provider = self.tts_provider or provider
            self.tts_characters += characters

    def add_llm(self, provider: str, usage: dict[str, Any] | None) -> None:
        with self._lock:
            self.llm_provider = self.llm_provider or provider
            self.llm_requests += 1
            if not usage:
                self.llm_requests_without_usage += 1
                return
            self.llm_prompt_tokens += _count(usage.get("prompt_tokens"))
            self.llm_completion_tokens += _count(usage.get("completion_tokens"))

    def add_cpu(self, seconds: float) -> None:
        with self._lock:
            self.compute_cpu_seconds += seconds

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "stt_provider": self.stt_provider,
                "stt_audio_seconds": round(self.stt_audio_seconds, 3),
                "tts_provider": self.tts_provider,
                "tts_characters": self.tts_characters,
                "llm_provider": self.llm_provider,
                "llm_prompt_tokens": self.llm_prompt_tokens,
                "llm_completion_tokens": self.llm_completion_tokens,
                "llm_requests": self.llm_requests,
                "llm_requests_without_usage": self.llm_requests_without_usage,
                "compute_cpu_seconds": round(self.compute_cpu_seconds, 4),
            }


def _count(value: object) -> int:
    # A provider's number, never trusted to be one (a negative or a string counts nothing).
    return value if isinstance(value, int) and value > 0 else 0


call_usage: contextvars.ContextVar[CallUsage | None] = contextvars.ContextVar(
    "call_usage", default=None
)


def current() -> CallUsage | None:
    return call_usage.get()


def record_stt(provider: str, seconds: float) -> None:
    meter = call_usage.get()
    if meter is not None and seconds > 0:
        meter.add_stt(provider, seconds)


def record_tts(provider: str, text: str) -> None:
    meter = call_usage.get()
    if meter is not None and text:
        meter.add_tts(provider, len(text))


def record_llm(provider: str, usage: dict[str, Any] | None) -> None:
    meter = call_usage.get()
    if meter is not None:
        meter.add_llm(provider, usage)


@contextmanager
def cpu_metered() -> Iterator[None]:
    """Charge the CPU time this thread spends inside the block to the call in context.

    The thread's own clock: CPU of other threads (another call's job, intra-op threads when
    `SPEECH_MODEL_THREADS` > 1, and CTranslate2's replica threads, where Whisper computes) is
    not counted here: for Whisper the figure is a lower bound (docs/benchmarks.md)."""
    meter = call_usage.get()
    if meter is None:
        yield
        return
    started = time.thread_time()
    try:
        yield
    finally:
        meter.add_cpu(time.thread_time() - started)


def metered[T](fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` with its CPU time charged to the call in context."""
    with cpu_metered():
        return fn(*args, **kwargs)
