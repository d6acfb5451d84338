"""End to end over a real websocket: the Twilio simulator calls a persona, our pipeline talks.

A tiny aiohttp server stands in for the Channels consumer (no Django): it parses Twilio's
messages and drives `CallPipeline`, with local Piper TTS and Whisper STT. The simulator dials
persona +15550104 ("interested"), who says "Hello?", waits for our turn to end by listening,
and answers "Yes, that sounds great, sign me up."
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.speech.batch import BatchRecognizer
from anvil_voice.speech.local import LOCAL_VOICE_ID, LocalVoiceProvider, get_local_stt
from anvil_voice.telephony.simulator import TwilioSimulator
from scripts.engine import CallContext, Outcome, ScriptedAgent, ScriptSpec
from sessions.pipeline import CallPipeline, MemorySink, PipelineResult

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "pipeline-test-token"
AGENT_PUBLIC = "wss://agent.example"
# One sentence each: on two loaded cores Piper can take longer to make the next sentence than
# the last one takes to play, and a persona that hears 600 ms of silence takes its turn.
SCRIPT = ScriptSpec(
    opening_line="Hi, it's Sam from Anvil, want to hear about our plan?",
    closing_line="Great, goodbye!",
)


class PipelineServer:
    """Our Media Stream endpoint: one `CallPipeline` per websocket."""

    def __init__(self, hang_up: Any) -> None:
        self._hang_up = hang_up
        self.results: list[PipelineResult] = []
        self.messages: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> PipelineServer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        call_sid = ""

        async def send(message: dict[str, Any]) -> None:
            await ws.send_str(json.dumps(message))

        async def hang_up() -> None:
            await self._hang_up(call_sid)

        self.pipeline = pipeline = CallPipeline(
            agent=ScriptedAgent(SCRIPT, CallContext()),
            voice=LocalVoiceProvider(),
            voice_id=LOCAL_VOICE_ID,
            recognizer=BatchRecognizer(get_local_stt()),
            send=send,
            hang_up=hang_up,
            sink=MemorySink(),
        )
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                event = data.get("event")
                self.messages.append(event)
                if event == "start":
                    call_sid = data["start"]["callSid"]
                    pipeline.start(data["streamSid"])
                elif event == "media":
                    pipeline.feed_media(data["media"]["payload"])
                elif event == "mark":
                    pipeline.on_mark(data["mark"]["name"])
                elif event == "dtmf":
                    pipeline.on_dtmf(data["dtmf"]["digit"])
                elif event == "stop":
                    pipeline.on_stop()
        finally:
            self.results.append(await pipeline.close())
        return ws


async def test_the_interested_persona_talks_to_the_pipeline_over_the_simulator():
    stt = get_local_stt()
    sim_holder: dict[str, TwilioSimulator] = {}

    async def hang_up(call_sid: str) -> None:
        # Through the carrier, as the consumer will: Twilio's REST API (the simulator's).
        client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=5))
        client.api.base_url = sim_holder["sim"].base_url
        await asyncio.to_thread(client.calls(call_sid).update, status="completed")

    async with PipelineServer(hang_up) as server:
        rewrite = (AGENT_PUBLIC, f"ws://127.0.0.1:{server.port}")
        async with TwilioSimulator(
            ACCOUNT_SID, AUTH_TOKEN, time_scale=0.01, url_rewrites=[rewrite]
        ) as sim:
            sim_holder["sim"] = sim
            # Warm both models so the call runs at conversation speed.
            await asyncio.to_thread(
                LocalVoiceProvider().synthesize,
                provider_voice_id="x",
                text="Hi.",
                output_format="ulaw_8000",
            )
            await asyncio.to_thread(
                stt.transcribe, audio=b"\xff" * 1600, encoding="ulaw", sample_rate=8000
            )
            client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=5))
            client.api.base_url = sim.base_url
            twiml = (
                f'<Response><Connect><Stream url="{AGENT_PUBLIC}/ws/twilio/media/t-1/"/>'
                "</Connect></Response>"
            )
            created = await asyncio.to_thread(
                client.calls.create, to="+15550104", from_="+15005550006", twiml=twiml
            )
            call = await sim.wait_for_end(created.sid, timeout=40)
            for _ in range(100):
                if server.results:
                    break
                await asyncio.sleep(0.05)

    [result] = server.results
    persona_said = [entry["text"] for entry in call.log.of_kind("persona_said")]
    assert persona_said == ["Hello?", "Yes, that sounds great, sign me up."]
    heard = " ".join(t.text.lower() for t in result.turns if t.speaker == "contact")
    assert "sign me up" in heard
    agent_lines = [t.text for t in result.turns if t.speaker == "agent"]
    assert agent_lines == [SCRIPT.opening_line, SCRIPT.closing_line]
    assert result.outcome is Outcome.INTERESTED
    assert result.hung_up
    assert call.status == "completed"
    # Every mark we sent came back from the simulator once its audio had played.
    assert result.stats.marks_echoed == result.stats.marks_sent > 0
    assert server.messages[:2] == ["connected", "start"]
