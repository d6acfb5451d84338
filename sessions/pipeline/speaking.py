"""One agent turn on the wire: agent text → sentences → TTS → paced frames and marks.

Two tasks per turn. The producer iterates the agent's stream, cuts it into sentences
(`speakable_chunks`) and synthesises each one, staying one sentence ahead of what is playing
so the next sentence is ready before the current one ends (a gap of 600 ms reads as "your
turn" to the caller). The sender (`AgentTurn.run`) paces frames out, sends a mark after each
sentence, and waits until Twilio echoed the last mark: the turn ends when it has been heard.

Barge-in cancels `run`; its cleanup cancels the producer, which closes the agent's stream
(an LLM agent then stops generating and records what it had streamed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

from anvil_voice.speech.inference import Priority, synthesis_priority
from anvil_voice.speech.protocols import VoiceProvider
from scripts.engine.agent import speakable_chunks
from sessions.pipeline.clock import Clock
from sessions.pipeline.config import PipelineConfig
from sessions.pipeline.pacer import AgentSpeech, Pacer, SpokenChunk
from sessions.pipeline.tts_stream import SynthesisFailure, synthesize_frames
from sessions.pipeline.turns import PipelineEventKind

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*$")
_SENTENCE_START = re.compile(r"[A-Z\"'(\[]")
_CLAUSE_END = re.compile(r"[,;:]$")


class TurnResult(Enum):
    DONE = auto()
    INTERRUPTED = auto()
    TTS_FAILED = auto()
    AGENT_FAILED = auto()


@dataclass(slots=True)
class TurnTiming:
    """Clock times of one agent turn's milestones; `latency()` makes the stored figures."""

    since: str
    base: float
    stt_final_at: float | None = None
    endpoint_at: float | None = None
    first_token_at: float | None = None
    first_audio_at: float | None = None
    first_frame_at: float | None = None

    def latency(self) -> dict[str, Any]:
        latency: dict[str, Any] = {"since": self.since}
        for key, value in (
            ("endpoint_ms", self.endpoint_at),
            ("stt_final_ms", self.stt_final_at),
            ("agent_first_token_ms", self.first_token_at),
            ("tts_first_audio_ms", self.first_audio_at),
            ("first_frame_ms", self.first_frame_at),
        ):
            if value is not None:
                latency[key] = round((value - self.base) * 1000, 1)
        return latency


Queue = Callable[..., None]  # (message, *, chunk=None, on_sent=None)
EmitEvent = Callable[..., None]  # (kind, **data)


@dataclass(frozen=True, slots=True)
class Outlet:
    """What a turn needs from its pipeline."""

    stream_sid: str
    queue: Queue
    emit_event: EmitEvent
    now_ms: Callable[[], int]
    agent_finished: Callable[[], bool]


@dataclass(slots=True)
class _ChunkAudio:
    chunk: SpokenChunk
    frames: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    started: asyncio.Event = field(default_factory=asyncio.Event)


class AgentTurn:
    def __init__(
        self,
        *,
        index: int,
        source: AsyncIterator[str],
        timing: TurnTiming,
        voice: VoiceProvider,
        voice_id: str,
        config: PipelineConfig,
        clock: Clock,
        pacer: Pacer,
        outlet: Outlet,
        interruptible: bool,
    ) -> None:
        self.speech = AgentSpeech(index=index)
        self.timing = timing
        self.interruptible = interruptible
        self.result = TurnResult.DONE
        self.marks_sent = 0
        # Set on every echoed mark (and by the pipeline once the grace deadline passed).
        self.mark_event = asyncio.Event()
        self.mark_deadline: float | None = None
        self._source = source
        self._voice = voice
        self._voice_id = voice_id
        self._config = config
        self._clock = clock
        self._pacer = pacer
        self._outlet = outlet

    def on_mark(self, name: str) -> bool:
        if self.speech.interrupted or not self.speech.mark_echoed(name):
            return False
        self.mark_event.set()
        return True

    def transcript(self) -> tuple[str, int] | None:
        """(text the caller heard, end offset), or None when nothing was heard."""
        speech = self.speech
        if speech.first_frame_ms is None:
            return None
        if speech.interrupted:
            text = speech.heard_text(ms_per_char=self._config.partial_ms_per_char)
            end_ms = speech.cut_ms if speech.cut_ms is not None else self._outlet.now_ms()
        else:
            text = " ".join(chunk.text for chunk in speech.chunks if chunk.synthesized)
            end_ms = self._outlet.now_ms()
        return (text, end_ms) if text else None

    async def run(self) -> None:
        chunks: asyncio.Queue[_ChunkAudio | None] = asyncio.Queue()
        producer = asyncio.create_task(
            self._produce(chunks), name=f"pipeline-tts-{self.speech.index}"
        )
        outlet = self._outlet
        try:
            while (audio := await chunks.get()) is not None:
                audio.started.set()
                chunk = audio.chunk
                while (frame := await audio.frames.get()) is not None:
                    await self._pacer.wait_for_room()
                    self._send_frame(frame, chunk)
                if not chunk.synthesized:
                    break  # the voice failed mid-sentence: that sentence is not counted
                self.marks_sent += 1
                outlet.queue(
                    {"event": "mark", "streamSid": outlet.stream_sid, "mark": {"name": chunk.mark}},
                    chunk=chunk,
                )
            await self._wait_heard()
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            self.mark_deadline = None

    async def _produce(self, chunks: asyncio.Queue[_ChunkAudio | None]) -> None:
        """Agent text → sentences → audio, one sentence ahead of what is playing."""
        speech, timing, config = self.speech, self.timing, self._config
        timed = self._timed(self._source)
        pieces = speakable_chunks(timed)
        audio: _ChunkAudio | None = None
        try:
            async for text in pieces:
                if self._outlet.agent_finished() and not config.closing_interruptible:
                    # The goodbye is heard whole, unless the script lets it be cut off.
                    self.interruptible = False
                if audio is not None:
                    await audio.started.wait()
                chunk = SpokenChunk(text=text, mark=f"turn{speech.index}-{len(speech.chunks) + 1}")
                speech.chunks.append(chunk)
                audio = _ChunkAudio(chunk)
                chunks.put_nowait(audio)
                # Shortest first on the shared inference executor: the reply's first sentence
                # ahead of other calls' finals; later ones have a sentence of playback in hand.
                first = len(speech.chunks) == 1
                synthesis_priority.set(Priority.FIRST_AUDIO if first else Priority.NORMAL)
                async for frame in synthesize_frames(
                    self._voice,
                    voice_id=self._voice_id,
                    text=text,
                    first_audio_timeout=config.tts_first_audio_timeout,
                    stall_timeout=config.tts_stall_timeout,
                ):
                    if timing.first_audio_at is None:
                        timing.first_audio_at = self._clock.now()
                    chunk.frames_produced += 1
                    audio.frames.put_nowait(frame)
                chunk.synthesized = True
                audio.frames.put_nowait(None)
        except SynthesisFailure as failure:
            self.result = TurnResult.TTS_FAILED
            self._outlet.emit_event(
                PipelineEventKind.TTS_ERROR,
                code=failure.code,
                message=failure.message,
                provider=failure.provider,
                turn=speech.index,
            )
        except Exception as error:
            # Agents promise not to raise for provider failures; a bug still must not leave
            # the caller in dead air.
            logger.exception("pipeline.agent_failed")
            self.result = TurnResult.AGENT_FAILED
            self._outlet.emit_event(
                PipelineEventKind.AGENT_ERROR, code="agent_error", message=repr(error)
            )
        finally:
            if audio is not None:
                audio.frames.put_nowait(None)
            chunks.put_nowait(None)
            # Close explicitly, innermost last: a generator left to the garbage collector is
            # closed by a task the loop creates later, which would outlive the call.
            for generator in (pieces, timed, self._source):
                close = getattr(generator, "aclose", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()

    async def _timed(self, source: AsyncIterator[str]) -> AsyncIterator[str]:
        previous = ""
        async for text in source:
            if self.timing.first_token_at is None:
                self.timing.first_token_at = self._clock.now()
            text, previous = _spaced(previous, text), text
            yield text

    def _send_frame(self, frame: bytes, chunk: SpokenChunk) -> None:
        self._pacer.sent_frame()
        chunk.frames_sent += 1
        on_sent = None
        if self.speech.first_frame_ms is None:
            self.speech.first_frame_ms = self._outlet.now_ms()

            def on_sent() -> None:
                self.timing.first_frame_at = self._clock.now()

        payload = base64.b64encode(frame).decode("ascii")
        self._outlet.queue(
            {"event": "media", "streamSid": self._outlet.stream_sid, "media": {"payload": payload}},
            chunk=chunk,
            on_sent=on_sent,
        )

    async def _wait_heard(self) -> None:
        """Until Twilio echoed the turn's last mark (or it clearly never will)."""
        speech = self.speech
        if not speech.chunks:
            return
        self.mark_deadline = self._pacer.play_cursor + self._config.mark_grace_ms / 1000
        while not speech.all_heard:
            if self._clock.now() >= self.mark_deadline:
                self._outlet.emit_event(PipelineEventKind.MARK_TIMEOUT, mark=speech.chunks[-1].mark)
                return
            self.mark_event.clear()
            await self.mark_event.wait()


def _spaced(previous: str, text: str) -> str:
    # The scripted agent yields whole sentences with no whitespace between them;
    # `speakable_chunks` needs "end. Next" to see a boundary, not "end.Next".
    if _SENTENCE_END.search(previous) and _SENTENCE_START.match(text):
        return " " + text
    # A long sentence the agent split at a clause ("…at all," + "and which…"): Piper read
    # "all,and" as one word. LLM tokens carry their own leading space, so they are left alone.
    if _CLAUSE_END.search(previous) and text[:1].isalnum():
        return " " + text
    return text


async def spoken_sentences(pieces: Iterable[str]) -> list[str]:
    """The texts `AgentTurn` asks the voice for when an agent streams `pieces`: the same
    spacing and `speakable_chunks`, so lines warmed in a TTS cache are the ones looked up."""

    async def spaced() -> AsyncIterator[str]:
        previous = ""
        for piece in pieces:
            text, previous = _spaced(previous, piece), piece
            yield text

    return [text async for text in speakable_chunks(spaced())]


async def say(text: str) -> AsyncIterator[str]:
    """A fixed line as an agent-like text stream."""
    yield text
