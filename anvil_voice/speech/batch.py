"""`BatchRecognizer`: any `SpeechToText` (local Whisper) as a call's `StreamingRecognizer`.

It transcribes each utterance the pipeline's endpointer closes, one at a time, in a worker
thread (Whisper is CPU-bound and must never run on the event loop), with a timeout; failures are
reported as `RecognizerFailure`s, never raised.

It also recognises speculatively (`speculate`): at a pause the pipeline asks for the words so
far, to judge whether the turn is over. When the utterance then ends with no speech after that
pause, its final is the speculation's result (already there, or on its way): recognition
started ~`pause` after the caller's last word instead of after the whole end-of-turn silence.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from anvil_voice import usage
from anvil_voice.speech.inference import Priority, run_inference
from anvil_voice.speech.protocols import (
    Emit,
    Final,
    ProviderError,
    RecognizerFailure,
    SpeechToText,
    Utterance,
)

logger = logging.getLogger(__name__)


class BatchRecognizer:
    """Endpointed utterances through `SpeechToText.transcribe`, off the event loop."""

    def __init__(self, stt: SpeechToText, *, timeout: float = 8.0) -> None:
        self._stt = stt
        self._timeout = timeout
        self._queue: asyncio.Queue[Utterance] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._emit: Emit | None = None
        # Speculative recognitions by (start_ms, end_ms) of the utterance so far: the key an
        # utterance that ended with no more speech has too.
        self._speculations: dict[tuple[int, int], asyncio.Task[Final | RecognizerFailure]] = {}

    @property
    def name(self) -> str:
        return self._stt.name

    async def start(self, emit: Emit) -> None:
        self._emit = emit
        self._worker = asyncio.create_task(self._work(emit), name="stt-batch")

    def feed(self, frame: bytes) -> None:
        return None  # the endpointer buffers the utterance for us

    def end_of_utterance(self, utterance: Utterance) -> None:
        self._queue.put_nowait(utterance)

    async def speculate(self, utterance: Utterance) -> str | None:
        key = (utterance.start_ms, utterance.end_ms)
        task = self._speculations.get(key)
        if task is None:
            # An earlier pause of the same utterance (the caller went on) is of no use now.
            for stale in [k for k in self._speculations if k[0] == key[0]]:
                self._speculations.pop(stale).cancel()
            task = asyncio.create_task(
                self._transcribe(utterance, Priority.SPECULATIVE),
                name=f"stt-speculate-{utterance.start_ms}",
            )
            self._speculations[key] = task
        # Shielded: the pipeline giving up on the question must not cancel a transcript the
        # utterance's end may still take.
        event = await asyncio.shield(task)
        return event.text if isinstance(event, Final) else None

    async def finish(self) -> None:
        """Until every utterance handed over has been answered (a final or a failure)."""
        if self._worker is not None and not self._worker.done():
            await self._queue.join()

    async def aclose(self) -> None:
        tasks: list[asyncio.Task[Any]] = [*self._speculations.values()]
        self._speculations.clear()
        if self._worker is not None:
            tasks.append(self._worker)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self, emit: Emit) -> None:
        while True:
            utterance = await self._queue.get()
            try:
                event = await self._final_for(utterance)
                try:
                    emit(event)
                except Exception:  # the listener's bug must not stop recognition for the call
                    logger.exception("pipeline.stt_listener_failed")
            finally:
                self._queue.task_done()

    async def _final_for(self, utterance: Utterance) -> Final | RecognizerFailure:
        """The utterance's final: its speculation's when one heard all of it."""
        key = (utterance.start_ms, utterance.end_ms)
        speculation = self._speculations.pop(key, None)
        # Speculations of this utterance that stopped short (and any older) are not needed.
        for stale in [k for k in self._speculations if k[0] <= key[0]]:
            self._speculations.pop(stale).cancel()
        if speculation is not None and not speculation.cancelled():
            return await speculation
        return await self._transcribe(utterance, Priority.FINAL)

    async def _transcribe(
        self, utterance: Utterance, priority: Priority
    ) -> Final | RecognizerFailure:
        """The utterance's final, or why there is none (naming the utterance)."""
        start_ms, end_ms = utterance.start_ms, utterance.end_ms
        # 8 kHz mu-law: one byte a sample. A speculative run is work done too, so it counts.
        usage.record_stt(self.name, len(utterance.audio) / 8000)
        try:
            # On the process's bounded inference executor (`run_inference`). The timeout
            # counts time queued too: a job that has not started by then is never run; one
            # that has finishes in the background and its answer is dropped.
            transcript = await asyncio.wait_for(
                run_inference(
                    self._stt.transcribe,
                    audio=utterance.audio,
                    encoding="ulaw",
                    sample_rate=8000,
                    priority=priority,
                ),
                self._timeout,
            )
        except TimeoutError:
            message = f"{self.name} took over {self._timeout}s"
            return RecognizerFailure("stt_timeout", message, start_ms=start_ms, end_ms=end_ms)
        except ProviderError as error:
            return RecognizerFailure(error.code, error.message, start_ms=start_ms, end_ms=end_ms)
        except Exception as error:  # a provider bug must not kill the call
            logger.exception("pipeline.stt_failed provider=%s", self.name)
            return RecognizerFailure("stt_error", repr(error), start_ms=start_ms, end_ms=end_ms)
        return Final(
            text=transcript.text.strip(),
            start_ms=start_ms,
            end_ms=end_ms,
            confidence=transcript.confidence,
        )
