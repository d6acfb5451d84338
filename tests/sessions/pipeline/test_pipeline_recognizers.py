"""Recognisers: batch STT off the loop with timeouts; Deepgram streaming through the pipeline."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from pipeline_support import make_call, piper
from websockets.asyncio.server import ServerConnection, serve

from anvil_voice.speech.deepgram import DeepgramStream
from anvil_voice.speech.protocols import ProviderError, Transcript
from sessions.pipeline import BatchRecognizer, DeepgramRecognizer, Final, RecognizerFailure
from sessions.pipeline.vad import SpeechEnded


class FakeSTT:
    name = "fake-whisper"

    def __init__(self, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.threads: list[int] = []

    def transcribe(self, *, audio: bytes, encoding: str, sample_rate: int) -> Transcript:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return Transcript(text=f" {len(audio)} bytes ", confidence=0.5)


def utterance(start_ms: int, end_ms: int) -> SpeechEnded:
    return SpeechEnded(start_ms, end_ms, b"\x7f" * 1600, "silence")


async def run_batch(stt: FakeSTT, count: int = 1, timeout: float = 2.0) -> list[Any]:
    events: list[Any] = []
    recognizer = BatchRecognizer(stt, timeout=timeout)
    await recognizer.start(events.append)
    for index in range(count):
        recognizer.end_of_utterance(utterance(index * 1000, index * 1000 + 500))
    for _ in range(200):
        if len(events) >= count:
            break
        await asyncio.sleep(0.01)
    await recognizer.aclose()
    return events


async def test_batch_transcribes_each_utterance_in_order_off_the_event_loop():
    stt = FakeSTT(delay=0.02)
    events = await run_batch(stt, count=3)
    assert events == [
        Final("1600 bytes", 0, 500, 0.5),
        Final("1600 bytes", 1000, 1500, 0.5),
        Final("1600 bytes", 2000, 2500, 0.5),
    ]
    assert threading.get_ident() not in stt.threads


async def test_batch_reports_a_provider_error_and_keeps_going():
    events = await run_batch(FakeSTT(error=ProviderError("stt_down", "down")))
    assert events == [RecognizerFailure("stt_down", "down")]


async def test_batch_reports_a_stall_as_a_timeout():
    events = await run_batch(FakeSTT(delay=0.5), timeout=0.05)
    assert events == [RecognizerFailure("stt_timeout", "fake-whisper took over 0.05s")]


async def test_batch_survives_an_unexpected_exception():
    [failure] = await run_batch(FakeSTT(error=RuntimeError("bug")))
    assert isinstance(failure, RecognizerFailure)
    assert failure.code == "stt_error"
    assert not failure.fatal


class ScriptedDeepgram:
    """A local `/v1/listen`: answers audio with what the test queues, in Deepgram's format."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.audio_bytes = 0
        self.controls: list[str] = []
        self._server: Any = None

    async def __aenter__(self) -> ScriptedDeepgram:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1/listen"

    def say(
        self,
        text: str,
        *,
        is_final: bool,
        speech_final: bool = False,
        start: float = 0.0,
        duration: float = 0.5,
    ) -> None:
        alternative = {"transcript": text, "confidence": 0.9}
        self.outbox.put_nowait(
            {
                "type": "Results",
                "is_final": is_final,
                "speech_final": speech_final,
                "start": start,
                "duration": duration,
                "channel": {"alternatives": [alternative]},
            }
        )

    async def _handle(self, ws: ServerConnection) -> None:
        async def write() -> None:
            while True:
                await ws.send(json.dumps(await self.outbox.get()))

        writer = asyncio.create_task(write())
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self.audio_bytes += len(message)
                else:
                    self.controls.append(json.loads(message)["type"])
        finally:
            writer.cancel()


async def test_deepgram_results_drive_the_conversation_and_interims_barge_in():
    async with ScriptedDeepgram() as deepgram:
        stream = DeepgramStream(api_key="k", url=deepgram.url)
        call = make_call(recognizer=DeepgramRecognizer(stream))
        call.pipeline.start("MZ1")
        await call.line.run(piper("Hello?"), seconds=1.5)
        # "Hello?" (0.1-0.6 s) finalised after the opening began: a greeting, not an answer.
        deepgram.say("Hello?", is_final=True, speech_final=True, start=0.1, duration=0.5)
        await call.line.until(lambda: call.sink.turns)
        await call.line.until(lambda: len(call.line.of_event("media")) >= 40)
        now = call.pipeline.stats.frames_in * 0.02
        deepgram.say("how much", is_final=False, start=now)
        await call.line.until(lambda: call.line.of_event("clear"))
        # Two final segments, then speech_final: one caller turn.
        deepgram.say("how much", is_final=True, start=now, duration=0.5)
        deepgram.say("does it cost", is_final=True, start=now + 0.5, duration=0.5)
        deepgram.say("", is_final=True, speech_final=True, start=now + 1.0, duration=0.2)
        await call.line.until(lambda: len(call.sink.turns) >= 4)
        result = await call.pipeline.close()

    greeting, opening, question, reply = result.turns
    assert (greeting.speaker, greeting.text) == ("contact", "Hello?")
    assert (greeting.start_ms, greeting.end_ms) == (100, 600)
    assert opening.interrupted
    assert (question.speaker, question.text) == ("contact", "how much does it cost")
    assert question.end_ms - question.start_ms == 1000
    assert question.start_ms < opening.end_ms
    assert reply.speaker == "agent"
    assert reply.latency["since"] == "speech_end"
    assert [e.data["source"] for e in result.events if e.kind == "barge_in"] == ["interim"]
    # Every inbound frame went to Deepgram; the stream was closed properly.
    assert deepgram.audio_bytes == result.stats.frames_in * 160
    assert "CloseStream" in deepgram.controls


async def test_a_deepgram_that_cannot_be_reached_ends_the_call_politely():
    stream = DeepgramStream(api_key="k", url="ws://127.0.0.1:9/v1/listen", connect_timeout=1)
    call = make_call(recognizer=DeepgramRecognizer(stream))
    call.pipeline.start("MZ1")
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)
    assert result.errors[0].data["code"] == "deepgram_unreachable"
    assert result.errors[0].data["fatal"] is True
    assert result.turns[-1].text == "Sorry, I'm having trouble. I'll call you another time."
    assert result.end_reason == "stt_failed"
