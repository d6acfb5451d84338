"""Phone menus end to end over the Twilio simulator's Media Stream (issue 16 item 3).

A small aiohttp server stands in for the Channels consumer and drives `CallPipeline` with the
script's menu target. The persona's lines are short synthetic speech and the recogniser reads
back the line the persona said for each utterance (an oracle: what is tested is the menu
walk over a real line — endpointing, the agent's tones, the persona's routing — not Whisper).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from pipeline_support import FakeVoice
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.speech.protocols import Emit, Utterance
from anvil_voice.telephony.simulator import TwilioSimulator, audio
from anvil_voice.telephony.simulator.calls import SimulatedCall
from anvil_voice.telephony.twilio import TwilioCarrier
from scripts.engine import CallContext, Outcome, ScriptedAgent, ScriptSpec
from sessions.pipeline import (
    CallPipeline,
    Final,
    MemorySink,
    PipelineConfig,
    PipelineResult,
    Speaker,
)
from sessions.pipeline.turns import CallEndReason

ACCOUNT_SID = "AC" + "4" * 32
AUTH_TOKEN = "ivr-test-token"
AGENT_PUBLIC = "wss://agent.example"
SCRIPT = ScriptSpec(
    opening_line="Hi, it's Sam from Anvil, about your account.",
    closing_line="Thanks, goodbye!",
)
TWIML = (
    f'<Response><Connect><Stream url="{AGENT_PUBLIC}/ws/twilio/media/t-1/"/></Connect></Response>'
)


def fast_speak(text: str) -> bytes:
    """The persona's voice: 400 ms of speech-like audio per line (no Piper needed)."""
    return audio.babble("x" * 8)


class PersonaWords:
    """Answers each utterance with the lines the persona said during it (the call's log: when
    each line started and its speech ended, seconds since the answer ≈ stream time)."""

    name = "persona-words"
    SLACK_MS = 200

    def __init__(self, said: Callable[[], list[dict[str, Any]]]) -> None:
        self._said = said
        self._emit: Emit | None = None

    async def start(self, emit: Emit) -> None:
        self._emit = emit

    def feed(self, frame: bytes) -> None:
        pass

    def end_of_utterance(self, utterance: Utterance) -> None:
        start, end = utterance.start_ms - self.SLACK_MS, utterance.end_ms + self.SLACK_MS
        text = " ".join(
            str(line["text"])
            for line in self._said()
            if line["t"] * 1000 <= end and line.get("speech_end_t", line["t"]) * 1000 >= start
        )
        assert self._emit is not None
        self._emit(Final(text, utterance.start_ms, utterance.end_ms, 0.9))

    async def finish(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class MenuServer:
    def __init__(self, sim: Callable[[], TwilioSimulator], config: PipelineConfig) -> None:
        self._sim = sim
        self._config = config
        self.results: list[PipelineResult] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> MenuServer:
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

        def said() -> list[dict[str, Any]]:
            call = self._sim().get_call(call_sid)
            return list(call.log.of_kind("persona_said")) if call is not None else []

        async def send(message: dict[str, Any]) -> None:
            await ws.send_str(json.dumps(message))

        async def hang_up() -> None:
            client = _client(self._sim())
            await asyncio.to_thread(client.calls(call_sid).update, status="completed")

        pipeline = CallPipeline(
            agent=ScriptedAgent(SCRIPT, CallContext()),
            voice=FakeVoice(),
            voice_id="fake:voice",
            recognizer=PersonaWords(said),
            send=send,
            hang_up=hang_up,
            sink=MemorySink(),
            config=self._config,
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
                elif event == "media":
                    pipeline.feed_media(data["media"]["payload"])
                elif event == "mark":
                    pipeline.on_mark(data["mark"]["name"])
                elif event == "stop":
                    pipeline.on_stop()
        finally:
            self.results.append(await pipeline.close())
        return ws


def _client(sim: TwilioSimulator) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = sim.base_url
    return client


async def call_menu(
    to: str, config: PipelineConfig, *, end_when: Callable[[SimulatedCall], bool] | None = None
) -> tuple[SimulatedCall, PipelineResult]:
    """Dial `to`; hang up once `end_when(call)` holds (or wait for the agent to)."""
    holder: dict[str, TwilioSimulator] = {}
    async with MenuServer(lambda: holder["sim"], config) as server:
        rewrite = (AGENT_PUBLIC, f"ws://127.0.0.1:{server.port}")
        async with TwilioSimulator(
            ACCOUNT_SID, AUTH_TOKEN, time_scale=0.01, url_rewrites=[rewrite], speak=fast_speak
        ) as sim:
            holder["sim"] = sim
            client = _client(sim)
            created = await asyncio.to_thread(
                client.calls.create, to=to, from_="+15005550006", twiml=TWIML
            )
            live = sim.get_call(created.sid)
            assert live is not None
            if end_when is not None:
                for _ in range(1200):
                    if end_when(live) or live.ended.is_set():
                        break
                    await asyncio.sleep(0.05)
                if not live.ended.is_set():
                    await asyncio.to_thread(client.calls(created.sid).update, status="completed")
            call = await sim.wait_for_end(created.sid, timeout=60)
            for _ in range(100):
                if server.results:
                    break
                await asyncio.sleep(0.05)
    [result] = server.results
    return call, result


def persona_notes(call: SimulatedCall, action: str) -> list[dict[str, Any]]:
    return [e for e in call.log.of_kind("persona") if e.get("action") == action]


async def test_a_two_level_menu_is_walked_to_a_person_and_the_script_opens_for_them():
    config = PipelineConfig(ivr_target="accounts", ivr_timeout_ms=60_000)

    def agent_answered(call: SimulatedCall) -> bool:
        said = [e["text"] for e in call.log.of_kind("persona_said")]
        return "Yes, go on." in said

    call, result = await call_menu("+15550120", config, end_when=agent_answered)

    assert [e["digit"] for e in call.log.of_kind("heard_digit")] == ["2", "2"]
    assert [(e["level"], e["digit"]) for e in persona_notes(call, "menu_key")] == [
        (1, "2"),
        (2, "2"),
    ]
    assert [e["who"] for e in persona_notes(call, "person_answered")] == ["accounts"]
    agent_lines = [t.text for t in result.turns if t.speaker == Speaker.AGENT and not t.keypad]
    # Nothing was said to the recordings: the opening is the first line, after the person.
    assert agent_lines[0] == SCRIPT.opening_line
    opening = next(t for t in result.turns if t.text == SCRIPT.opening_line)
    person = next(t for t in result.turns if t.text.startswith("Accounts, this is Sam"))
    assert opening.start_ms > person.end_ms
    assert result.answered_by == "ivr"
    assert result.ivr_pressed == "22"
    assert any(e.kind == "ivr_person" for e in result.events)


async def test_an_endless_menu_is_given_up_as_ivr_unresolved():
    config = PipelineConfig(ivr_target="a person", ivr_timeout_ms=20_000)

    call, result = await call_menu("+15550121", config)

    assert result.end_reason is CallEndReason.IVR_UNRESOLVED
    assert result.outcome is Outcome.IVR_UNRESOLVED
    assert result.hung_up
    assert result.answered_by == "ivr"
    assert not call.log.of_kind("heard_digit")  # no key fits: none pressed
    assert not [t for t in result.turns if t.speaker == Speaker.AGENT]
    gave_up = next(e for e in result.events if e.kind == "ivr_gave_up")
    assert gave_up.data["reason"] == "no_option"
    assert call.status == "completed"
