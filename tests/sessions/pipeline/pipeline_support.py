"""Drive a `CallPipeline` without a websocket: a fake Twilio line, instant fake providers.

`Line` plays Twilio's part: it records what the pipeline sends, plays outbound frames one per
20 ms tick, echoes each mark once the audio before it has played, and on `clear` drops its
buffer and echoes pending marks at once (as Twilio does). `Line.run(...)` feeds inbound frames
and advances a `ManualClock` 20 ms per frame, so a minute-long call runs in well under a second.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from anvil_voice.speech.codec import ULAW_FRAME_BYTES, frames_20ms, ulaw_silence
from anvil_voice.speech.protocols import Emit, ProviderError
from anvil_voice.telephony.simulator import audio as sim_audio
from scripts.engine import CallContext, ScriptedAgent, ScriptSpec
from scripts.engine.tools import ToolRunner
from sessions.pipeline import (
    CallPipeline,
    Final,
    ManualClock,
    MemorySink,
    PipelineConfig,
    RecognizerFailure,
)
from sessions.pipeline.vad import SpeechEnded

SILENCE = ulaw_silence(20)
SCRIPT = ScriptSpec(
    opening_line="Hi, this is Anvil. We have a new plan for you. Would you like to hear more?",
    closing_line="Great, I will send you the details. Goodbye.",
    objection_responses=[("too expensive", "It costs less than your current plan.")],
)


@functools.cache
def piper(text: str) -> bytes:
    """Real speech for the caller: Piper at 8 kHz mu-law, noise off (same text, same audio)."""
    from anvil_voice.speech.local import get_local_tts

    return get_local_tts().synthesize_ulaw8k(text, exact=True)


def babble(text: str) -> bytes:
    """Speech-shaped audio for the agent's fake voice: length follows the text."""
    return sim_audio.babble(text, seconds_per_char=0.03)


def is_speech(frame: bytes) -> bool:
    return sim_audio.is_speech(frame)


class FakeVoice:
    """An instant VoiceProvider: babble per text, in two chunks; can fail or stall."""

    name = "fake"

    def __init__(
        self,
        *,
        fail_on: str | None = None,
        stall_on: str | None = None,
        wav: bool = False,
        audio: Callable[[str], bytes] = babble,
    ) -> None:
        self.fail_on = fail_on
        self.stall_on = stall_on
        self.wav = wav
        self.audio = audio
        self.texts: list[str] = []

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        self.texts.append(text)
        if self.fail_on is not None and self.fail_on in text:
            raise ProviderError("tts_broken", "the fake voice is broken")
        data = self.audio(text)
        if self.wav:
            data = _ulaw_wav(data)
        half = len(data) // 2
        yield data[:half]
        if self.stall_on is not None and self.stall_on in text:
            await asyncio.sleep(3600)
        yield data[half:]

    # The rest of the VoiceProvider protocol is not used by the pipeline.
    def clone_voice(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def delete_voice(self, **kwargs: Any) -> None:
        raise NotImplementedError

    def synthesize(self, **kwargs: Any) -> bytes:
        raise NotImplementedError


def _ulaw_wav(ulaw: bytes) -> bytes:
    fmt = (
        (7).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + (8000).to_bytes(4, "little")
        + (8000).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (8).to_bytes(2, "little")
    )
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(ulaw).to_bytes(4, "little") + ulaw
    return b"RIFF" + len(body).to_bytes(4, "little") + body


class FakeRecognizer:
    """Transcribes each endpointed utterance instantly with the next scripted answer.

    An answer may be a `RecognizerFailure` to simulate an STT error.
    """

    name = "fake-stt"

    def __init__(self, answers: Iterable[str | RecognizerFailure] = ()) -> None:
        self.answers: deque[str | RecognizerFailure] = deque(answers)
        self.utterances: list[SpeechEnded] = []
        self.frames = 0
        self.emit: Emit | None = None
        self.finished = False
        self.closed = False

    async def start(self, emit: Emit) -> None:
        self.emit = emit

    def feed(self, frame: bytes) -> None:
        self.frames += 1

    def end_of_utterance(self, utterance: SpeechEnded) -> None:
        self.utterances.append(utterance)
        answer = self.answers.popleft() if self.answers else ""
        assert self.emit is not None
        if isinstance(answer, RecognizerFailure):
            self.emit(answer)
        else:
            self.emit(Final(answer, utterance.start_ms, utterance.end_ms, 0.9))

    async def finish(self) -> None:
        self.finished = True  # every utterance was answered at once

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Line:
    """Twilio's side of the Media Stream, in stream time."""

    clock: ManualClock
    sent: list[dict[str, Any]] = field(default_factory=list)
    hung_up: bool = False
    pipeline: CallPipeline | None = None
    played: bytearray = field(default_factory=bytearray)  # what the caller heard
    max_buffered_frames: int = 0
    empty_ticks: int = 0  # 20 ms steps that found nothing queued to play (silence or a gap)
    # Sleep 20 ms of real time per frame: for real providers that think in real time.
    realtime: bool = False
    _buffer: deque[bytes | str] = field(default_factory=deque)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        event = message["event"]
        if event == "media":
            frame = base64.b64decode(message["media"]["payload"])
            assert len(frame) == ULAW_FRAME_BYTES
            self._buffer.append(frame)
            buffered = sum(isinstance(item, bytes) for item in self._buffer)
            self.max_buffered_frames = max(self.max_buffered_frames, buffered)
        elif event == "mark":
            self._buffer.append(message["mark"]["name"])
            self._echo_reached_marks()
        elif event == "clear":
            pending = [item for item in self._buffer if isinstance(item, str)]
            self._buffer.clear()
            for name in pending:
                self._echo(name)

    async def hang_up(self) -> None:
        self.hung_up = True

    def _echo(self, name: str) -> None:
        assert self.pipeline is not None
        self.pipeline.on_mark(name)

    def _echo_reached_marks(self) -> None:
        while self._buffer and isinstance(self._buffer[0], str):
            self._echo(self._buffer.popleft())  # type: ignore[arg-type]

    def tick(self) -> None:
        """20 ms of playback."""
        self._echo_reached_marks()
        if self._buffer and isinstance(self._buffer[0], bytes):
            self.played += self._buffer.popleft()
        else:
            self.empty_ticks += 1
            self.played += SILENCE
        self._echo_reached_marks()

    def of_event(self, name: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["event"] == name]

    async def run(self, inbound: bytes = b"", *, seconds: float = 0.0) -> None:
        """Feed `inbound` audio, then silence up to `seconds` in total, 20 ms per step."""
        frames = frames_20ms(inbound) if inbound else []
        total = max(len(frames), round(seconds / 0.02))
        for index in range(total):
            frame = frames[index] if index < len(frames) else SILENCE
            await self.step(frame)

    async def step(self, frame: bytes = SILENCE) -> None:
        assert self.pipeline is not None
        self.pipeline.feed_media(base64.b64encode(frame).decode())
        self.tick()
        self.clock.advance(0.02)
        if self.realtime:
            await asyncio.sleep(0.02)
        else:
            await settle()

    async def until(self, condition: Callable[[], Any], *, seconds: float = 30.0) -> None:
        """Feed silence until `condition()` holds (bounded in stream time)."""
        for _ in range(round(seconds / 0.02)):
            if condition():
                return
            await self.step()
        raise AssertionError(f"condition not met within {seconds}s of stream time")

    def agent_audio(self) -> bytes:
        return b"".join(
            base64.b64decode(m["media"]["payload"]) for m in self.sent if m["event"] == "media"
        )


async def settle(rounds: int = 12) -> None:
    """Let every task that can run, run (instant fakes need a few loop passes per hop)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclass
class Call:
    pipeline: CallPipeline
    line: Line
    sink: MemorySink
    recognizer: Any
    voice: Any
    clock: ManualClock
    agent: ScriptedAgent


def make_call(
    answers: Iterable[str | RecognizerFailure] = (),
    *,
    voice: Any | None = None,
    recognizer: Any | None = None,
    config: PipelineConfig | None = None,
    script: ScriptSpec = SCRIPT,
    context: CallContext | None = None,
    line_class: type[Line] = Line,
    tools: ToolRunner | None = None,
    **options: Any,
) -> Call:
    clock = ManualClock(1000.0)
    line = line_class(clock)
    sink = MemorySink()
    recognizer = recognizer or FakeRecognizer(answers)
    voice = voice or FakeVoice()
    agent = ScriptedAgent(script, context or CallContext(), tools=tools)
    pipeline = CallPipeline(
        agent=agent,
        voice=voice,
        voice_id="fake:voice",
        recognizer=recognizer,
        send=line.send,
        hang_up=line.hang_up,
        sink=sink,
        config=config or PipelineConfig(),
        clock=clock,
        **options,
    )
    line.pipeline = pipeline
    return Call(pipeline, line, sink, recognizer, voice, clock, agent)


def pipeline_tasks() -> set[asyncio.Task[Any]]:
    """Tasks the pipeline (or its providers) own that are still alive."""
    prefixes = ("pipeline-", "stt-", "deepgram-")
    return {
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith(prefixes) and not task.done()
    }
