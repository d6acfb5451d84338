"""Speech recognition for the pipeline: one `StreamingRecognizer` per call, two implementations.

- `BatchRecognizer` wraps any `SpeechToText` (local Whisper): it transcribes each utterance
  the pipeline's endpointer closes, one at a time, in a worker thread (Whisper is CPU-bound
  and must never run on the event loop), with a timeout.
- `DeepgramRecognizer` streams every inbound frame to Deepgram and turns its results into
  the same events; Deepgram endpoints by itself (speech_final / UtteranceEnd), and its
  non-empty interim results let the pipeline detect barge-in before the endpointer does.

Both report through the `emit` callback given to `start()`: `Interim`, `Final`, or
`RecognizerFailure` (``fatal`` when recognition cannot continue for this call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from anvil_voice.speech.deepgram import DeepgramResult, DeepgramStream, DeepgramUtteranceEnd
from anvil_voice.speech.protocols import ProviderError, SpeechToText
from sessions.pipeline.vad import SpeechEnded

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Interim:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    text: str  # may be empty: the recogniser heard no words
    start_ms: int | None = None  # stream time of the speech, when the recogniser knows it
    end_ms: int | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class RecognizerFailure:
    code: str
    message: str
    fatal: bool = False


RecognizerEvent = Interim | Final | RecognizerFailure
Emit = Callable[[RecognizerEvent], None]


class StreamingRecognizer(Protocol):
    @property
    def name(self) -> str: ...

    async def start(self, emit: Emit) -> None:
        """Connect/prepare; report everything through `emit` from now on. Must not raise:
        a failure to start is reported as a fatal `RecognizerFailure`."""

    def feed(self, frame: bytes) -> None:
        """Every inbound 20 ms mu-law frame, in order. Never blocks."""

    def end_of_utterance(self, utterance: SpeechEnded) -> None:
        """The endpointer closed an utterance (batch recognisers transcribe it)."""

    async def aclose(self) -> None:
        """Stop and release everything; no task may outlive this."""


class BatchRecognizer:
    """Endpointed utterances through `SpeechToText.transcribe`, off the event loop."""

    def __init__(self, stt: SpeechToText, *, timeout: float = 8.0) -> None:
        self._stt = stt
        self._timeout = timeout
        self._queue: asyncio.Queue[SpeechEnded] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._emit: Emit | None = None

    @property
    def name(self) -> str:
        return self._stt.name

    async def start(self, emit: Emit) -> None:
        self._emit = emit
        self._worker = asyncio.create_task(self._work(emit), name="stt-batch")

    def feed(self, frame: bytes) -> None:
        return None  # the endpointer buffers the utterance for us

    def end_of_utterance(self, utterance: SpeechEnded) -> None:
        self._queue.put_nowait(utterance)

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _work(self, emit: Emit) -> None:
        while True:
            utterance = await self._queue.get()
            try:
                # The thread cannot be interrupted: on timeout it finishes in the background
                # and its answer is dropped. The default executor bounds how many run at once.
                transcript = await asyncio.wait_for(
                    asyncio.to_thread(
                        self._stt.transcribe,
                        audio=utterance.audio,
                        encoding="ulaw",
                        sample_rate=8000,
                    ),
                    self._timeout,
                )
            except TimeoutError:
                emit(RecognizerFailure("stt_timeout", f"{self.name} took over {self._timeout}s"))
                continue
            except ProviderError as error:
                emit(RecognizerFailure(error.code, error.message))
                continue
            except Exception as error:  # a provider bug must not kill the call
                logger.exception("pipeline.stt_failed provider=%s", self.name)
                emit(RecognizerFailure("stt_error", repr(error)))
                continue
            final = Final(
                text=transcript.text.strip(),
                start_ms=utterance.start_ms,
                end_ms=utterance.end_ms,
                confidence=transcript.confidence,
            )
            try:
                emit(final)
            except Exception:  # the listener's bug must not stop recognition for the call
                logger.exception("pipeline.stt_listener_failed")


class DeepgramRecognizer:
    """A `DeepgramStream` as a `StreamingRecognizer`.

    Deepgram splits a turn into several ``is_final`` results; they are joined until
    ``speech_final`` or ``UtteranceEnd`` closes the turn (the documented rule).
    """

    name = "deepgram"

    def __init__(self, stream: DeepgramStream) -> None:
        self._stream = stream
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._parts: list[DeepgramResult] = []

    async def start(self, emit: Emit) -> None:
        self._reader = asyncio.create_task(self._read(emit), name="stt-deepgram")

    def feed(self, frame: bytes) -> None:
        self._stream.send_audio(frame)

    def end_of_utterance(self, utterance: SpeechEnded) -> None:
        return None  # Deepgram endpoints on its own

    async def aclose(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._stream.finish()
        await self._stream.aclose()

    async def _read(self, emit: Emit) -> None:
        try:
            await self._stream.connect()
            async for event in self._stream.results():
                if isinstance(event, DeepgramUtteranceEnd):
                    self._flush(emit)
                elif not event.is_final:
                    if event.transcript:
                        emit(Interim(event.transcript))
                else:
                    if event.transcript:
                        self._parts.append(event)
                    if event.speech_final:
                        self._flush(emit)
        except ProviderError as error:
            emit(RecognizerFailure(error.code, error.message, fatal=True))
            return
        except Exception as error:
            logger.exception("pipeline.deepgram_failed")
            emit(RecognizerFailure("stt_error", repr(error), fatal=True))
            return
        if not self._closing:
            emit(RecognizerFailure("deepgram_closed", "Deepgram ended the stream.", fatal=True))

    def _flush(self, emit: Emit) -> None:
        if not self._parts:
            return
        parts, self._parts = self._parts, []
        confidences = [part.confidence for part in parts if part.confidence is not None]
        emit(
            Final(
                text=" ".join(part.transcript for part in parts),
                start_ms=round(parts[0].start * 1000),
                end_ms=round((parts[-1].start + parts[-1].duration) * 1000),
                confidence=min(confidences) if confidences else None,
            )
        )
