"""Digits both ways, end to end over the Twilio simulator's Media Stream.

A small aiohttp server stands in for the Channels consumer and drives `CallPipeline` (instant fake
voice and recogniser, so only the line runs in real time). The simulator dials a persona:
`presses-1` (+15550117) answers the keypad prompt with a `dtmf` message, as Twilio reports a
caller's key; `silent` (+15550110) hears the agent press keys as in-band tones and logs them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from pipeline_support import FakeRecognizer, FakeVoice
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.telephony.simulator import TwilioSimulator, audio
from anvil_voice.telephony.twilio import TwilioCarrier
from scripts.engine import CallContext, Outcome, ScriptedAgent, ScriptSpec
from sessions.pipeline import CallPipeline, MemorySink, PipelineResult, Speaker

ACCOUNT_SID = "AC" + "3" * 32
AUTH_TOKEN = "keypad-test-token"
AGENT_PUBLIC = "wss://agent.example"
SCRIPT = ScriptSpec(
    opening_line="Hi, it's Sam from Anvil, want to hear about our plan?",
    closing_line="Great, a person will call you, goodbye!",
    keypad=[{"digit": "1", "action": "interested"}],
    keypad_prompt="Press 1 to talk to a person.",
)
TWIML = (
    f'<Response><Connect><Stream url="{AGENT_PUBLIC}/ws/twilio/media/t-1/"/></Connect></Response>'
)
OnStart = Callable[[CallPipeline, str], None]


def fast_speak(text: str) -> bytes:
    """The persona's voice: 300 ms of speech-like audio per line (no Piper needed)."""
    return audio.babble("x" * 6)


class KeypadServer:
    """Our Media Stream endpoint: one `CallPipeline` per websocket; `on_start` runs at `start`."""

    def __init__(self, hang_up: Any, on_start: OnStart | None = None) -> None:
        self._hang_up = hang_up
        self._on_start = on_start
        self.results: list[PipelineResult] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> KeypadServer:
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

        pipeline = CallPipeline(
            agent=ScriptedAgent(SCRIPT, CallContext()),
            voice=FakeVoice(),
            voice_id="fake:voice",
            recognizer=FakeRecognizer(["Hello?"]),
            send=send,
            hang_up=hang_up,
            sink=MemorySink(),
            send_digits=TwilioCarrier().send_digits,
        )
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                event = data.get("event")
                if event == "start":
                    call_sid = data["start"]["callSid"]
                    pipeline.start(data["streamSid"])
                    if self._on_start is not None:
                        self._on_start(pipeline, call_sid)
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


def _client(sim: TwilioSimulator) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = sim.base_url
    return client


async def _call(to: str, on_start: OnStart | None = None, *, end_when: Any = None) -> Any:
    """Dial `to` through the simulator; returns (the simulated call, our pipeline's result)."""
    holder: dict[str, TwilioSimulator] = {}

    async def hang_up(call_sid: str) -> None:
        await asyncio.to_thread(_client(holder["sim"]).calls(call_sid).update, status="completed")

    async with KeypadServer(hang_up, on_start) as server:
        rewrite = (AGENT_PUBLIC, f"ws://127.0.0.1:{server.port}")
        async with TwilioSimulator(
            ACCOUNT_SID, AUTH_TOKEN, time_scale=0.01, url_rewrites=[rewrite], speak=fast_speak
        ) as sim:
            holder["sim"] = sim
            client = _client(sim)
            created = await asyncio.to_thread(
                client.calls.create, to=to, from_="+15005550006", twiml=TWIML
            )
            if end_when is not None:
                call = sim.get_call(created.sid)
                for _ in range(400):
                    if end_when(call):
                        break
                    await asyncio.sleep(0.05)
                await hang_up(created.sid)
            call = await sim.wait_for_end(created.sid, timeout=40)
            for _ in range(100):
                if server.results:
                    break
                await asyncio.sleep(0.05)
    [result] = server.results
    return call, result


async def test_the_persona_presses_1_at_the_prompt_and_the_agent_acts_on_it():
    call, result = await _call("+15550117")

    assert [(e["digit"], e["sent"]) for e in call.log.of_kind("persona_pressed")] == [("1", True)]
    pressed = [t for t in result.turns if t.keypad]
    assert [(t.speaker, t.text) for t in pressed] == [(Speaker.CONTACT, "[pressed 1]")]
    agent_lines = [t.text for t in result.turns if t.speaker == Speaker.AGENT]
    assert agent_lines[-1] == SCRIPT.closing_line
    assert agent_lines[0].startswith(SCRIPT.opening_line)
    assert result.outcome is Outcome.INTERESTED
    assert result.hung_up
    assert call.status == "completed"


async def test_the_simulator_hears_the_keys_the_agent_presses():
    def press(pipeline: CallPipeline, _call_sid: str) -> None:
        pipeline.send_digits("1w2#")

    call, result = await _call(
        "+15550110", press, end_when=lambda c: len(c.log.of_kind("heard_digit")) >= 3
    )

    assert [e["digit"] for e in call.log.of_kind("heard_digit")] == ["1", "2", "#"]
    sent = [t for t in result.turns if t.keypad]
    assert [(t.speaker, t.text) for t in sent] == [(Speaker.AGENT, "[pressed 1w2#]")]
    # Nothing the agent said sounded like a key.
    assert len(call.log.of_kind("heard_digit")) == 3
