"""An LLM agent driving an HTTP tool on a live call, end to end through the Twilio simulator.

The real dispatcher, placement, simulator and our ASGI app run the live pipeline with the LLM
agent (`AGENT_PROVIDER=llm`) talking to a local fake of the OpenAI-compatible streaming chat API
(`engine_fake_llm.FakeLLM`, served on the simulator's loop): it streams `tool_calls` deltas for
`book_slot`, our agent posts the signed request to a local booking server (which checks the
signature with the script's tool secret), the follow-up request carries the tool's result,
and the model's answer is spoken before it ends the call. Only speech is faked.

Persona 04 answers "Hello?" and then says yes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from aiohttp import web

from anvil_voice.webhooks.signing import SIGNATURE_HEADER, webhook_signature_valid
from scripts.factories import ScriptFactory
from sessions.live import consumer
from sessions.models import CallEvent, CallSession
from tests.anvil_voice.telephony.test_carrier_harness import AsgiServer, SimulatorThread
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.scripts.engine.engine_fake_llm import DONE, FakeLLM, FakeReply, text_chunk, tool_chunk
from tests.sessions.live_call_support import call_personas, live_settings, persona_campaign
from tests.sessions.pipeline.pipeline_support import FakeRecognizer, FakeVoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.audio_behaviour]

YES = "Yes, that sounds great, sign me up."
BOOKED = "You're booked for Friday at 10 AM, reference BK-7. Goodbye!"


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite]) as simulator:
        yield simulator


class Fakes:
    """The fake model and the customer's booking endpoint, on one local aiohttp server."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.llm = FakeLLM()
        self.bookings: list[dict[str, Any]] = []
        self.refused = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def book(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not webhook_signature_valid(
            secret=self.secret, header=header, body=body, now=int(time.time())
        ):
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        self.bookings.append(json.loads(body))
        return web.json_response({"slot": "Friday at 10 AM", "reference": "BK-7"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.llm.handle)
        app.router.add_post("/book", self.book)
        self.runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        self.llm.release.set()
        assert self.runner is not None
        await self.runner.cleanup()


def test_an_llm_agent_books_a_slot_through_a_signed_tool_on_a_live_call(
    settings, simulator, asgi_server, acme, monkeypatch
):
    live_settings(settings, simulator, asgi_server)
    monkeypatch.setattr(consumer, "build_voice", lambda setup: (FakeVoice(), None))
    monkeypatch.setattr(consumer, "build_recognizer", lambda: FakeRecognizer(["Hello?", YES]))

    async def start() -> Fakes:
        fakes = Fakes(secret="")
        await fakes.start()
        return fakes

    fakes = simulator.run(start())
    try:
        script = ScriptFactory(
            organization=acme,
            opening_line="Hi {{first_name}}, shall I book you a free solar survey?",
            closing_line="Great, goodbye!",
            tools=[
                {"type": "builtin", "name": "end_call"},
                {
                    "type": "http",
                    "name": "book_slot",
                    "description": "Book a survey slot.",
                    "parameters": {
                        "type": "object",
                        "properties": {"day": {"type": "string"}},
                        "required": ["day"],
                    },
                    "url": f"http://localhost:{fakes.port}/book",
                    "timeout_seconds": 5,
                },
            ],
        )
        fakes.secret = script.tool_secret  # what our signature must verify against
        settings.AGENT_PROVIDER = "llm"
        settings.LLM_API_KEY = "sk-test"
        settings.LLM_BASE_URL = f"http://127.0.0.1:{fakes.port}"
        settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True  # the booking server is plain localhost
        fakes.llm.reply_with(
            FakeReply(
                [
                    tool_chunk(0, name="book_slot"),
                    tool_chunk(0, arguments='{"day": '),
                    tool_chunk(0, arguments='"Friday"}'),
                    DONE,
                ]
            ),
            FakeReply(
                [
                    text_chunk("You're booked for Friday at 10 AM, "),
                    text_chunk("reference BK-7. Goodbye!"),
                    tool_chunk(1, name="end_call"),
                    tool_chunk(1, arguments='{"reason": "booked", "outcome": "interested"}'),
                    DONE,
                ]
            ),
        )
        campaign = persona_campaign(acme, {"04": "Ivy"}, script=script, max_attempts=1)
        with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
            call_personas(campaign, wait=60)
    finally:
        simulator.run(fakes.stop())

    session = CallSession.objects.get(campaign=campaign)
    assert session.outcome == "interested"
    # The customer's endpoint got one signed request with the model's arguments.
    assert fakes.refused == 0
    assert fakes.bookings == [
        {
            "tool": "book_slot",
            "callId": "call_0",
            "sessionId": session.pk,
            "arguments": {"day": "Friday"},
        }
    ]
    first, second = (request["json"] for request in fakes.llm.requests)
    assert first["stream"] is True
    assert [tool["function"]["name"] for tool in first["tools"]] == ["end_call", "book_slot"]
    assert first["messages"][-1] == {"role": "user", "content": YES}
    # The follow-up carries the tool's result for the model to read.
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["tool_call_id"] == "call_0"
    assert json.loads(second["messages"][-1]["content"]) == {
        "ok": True,
        "result": {"slot": "Friday at 10 AM", "reference": "BK-7"},
    }
    agent = [turn.text for turn in session.turns.order_by("index") if turn.speaker == "agent"]
    assert agent[-1] == BOOKED
    calls = [
        event.data
        for event in CallEvent.objects.filter(session=session, kind="engine.tool_called").order_by(
            "pk"
        )
    ]
    assert [(c["name"], c["tool_kind"], c["ok"]) for c in calls] == [
        ("book_slot", "http", True),
        ("end_call", "builtin", True),
    ]
    assert calls[0]["result"] == {"slot": "Friday at 10 AM", "reference": "BK-7"}
    assert calls[0]["latency_ms"] > 0
