"""Deepgram streaming recognition through the pipeline: results drive turns, interims barge in."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipeline_support import make_call, piper
from websockets.asyncio.server import ServerConnection, serve

from anvil_voice.speech.deepgram import DeepgramRecognizer, DeepgramStream


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
