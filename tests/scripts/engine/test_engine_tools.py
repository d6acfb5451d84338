"""Tools during a call: the LLM agent's tool rounds against a fake OpenAI-compatible stream,
the scripted agent's intent rules, the filler line, and every failure as an error result."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine_fake_llm import DONE, FakeLLM, FakeReply, text_chunk, tool_chunk

from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.llm_stream import Timeouts
from scripts.engine.scripted import ScriptedAgent
from scripts.engine.tools import ToolError, ToolKind, ToolSpec, run_tool, with_filler
from scripts.engine.types import CallContext, Outcome, ScriptSpec

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 4, 10, 15, tzinfo=NEW_YORK)
FAST = Timeouts(connect=0.5, first_token=1.0, read=1.0, total=3.0)
FILLER = "One moment while I check that. "

BOOK_SLOT = {
    "type": "http",
    "name": "book_slot",
    "description": "Book a consultation slot.",
    "parameters": {
        "type": "object",
        "properties": {"day": {"type": "string"}, "time": {"type": "string"}},
        "required": ["day", "time"],
        "additionalProperties": False,
    },
    "url": "https://tools.example.com/book",
    "timeout_seconds": 2.0,
}
SNAPSHOT = {
    "opening_line": "Hi {{first_name}}, this is Anna from Acme Solar. Shall I book a visit?",
    "closing_line": "Wonderful, see you then. Goodbye.",
    "tools": [
        {"type": "builtin", "name": "end_call"},
        {"type": "builtin", "name": "add_to_do_not_call"},
        # Offered by a newer release, unknown here: left out, never sent to the model.
        {"type": "builtin", "name": "teleport"},
        BOOK_SLOT,
    ],
    "tool_rules": [
        {
            "intent": "agreement",
            "tool": "book_slot",
            "arguments": {"day": "{{preferred_day|Monday}}", "time": "10:00"},
            "say": "You're booked for {{day}} at {{time}}.",
        }
    ],
}
SCRIPT = ScriptSpec.from_dict(SNAPSHOT)


class FakeRunner:
    """A `ToolRunner` that records calls and answers what it is told (or waits, or fails)."""

    def __init__(self, answer: Any = None, *, error: str = "", gate: bool = False) -> None:
        self.answer = answer
        self.error = error
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.gate = asyncio.Event() if gate else None

    async def run(self, tool: ToolSpec, arguments: Mapping[str, Any], *, call_id: str) -> Any:
        self.calls.append((tool.name, dict(arguments), call_id))
        if self.gate is not None:
            await self.gate.wait()
        if self.error:
            raise ToolError(self.error)
        return self.answer


def _context(**variables: Any) -> CallContext:
    return CallContext(
        variables={"first_name": "Jane", **variables}, timezone="America/New_York", now=lambda: NOW
    )


def _llm(fake: FakeLLM, runner: FakeRunner | None) -> LLMAgent:
    config = LLMConfig(base_url=fake.url, api_key="sk-test", model="m", timeouts=FAST)
    return LLMAgent(SCRIPT, _context(), config, tools=runner)


async def _drain(stream: Any) -> list[str]:
    return [chunk async for chunk in stream]


def _tool_events(agent: Any) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in event.as_dict().items() if key not in ("seq", "kind")}
        for event in agent.events
        if event.kind == "tool_called"
    ]


def _latencies_are_measured(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        assert event.pop("latency_ms") >= 0
    return events


def test_a_snapshot_lists_its_tools_and_rules():
    assert [(tool.kind, tool.name) for tool in SCRIPT.tools or ()] == [
        (ToolKind.BUILTIN, "end_call"),
        (ToolKind.BUILTIN, "add_to_do_not_call"),
        (ToolKind.HTTP, "book_slot"),
    ]
    assert SCRIPT.tool("book_slot").timeout_seconds == 2.0  # type: ignore[union-attr]
    assert [rule.tool for rule in SCRIPT.tool_rules] == ["book_slot"]
    # Saved before tools existed: the LLM agent keeps the built-ins it always had.
    assert ScriptSpec.from_dict({"opening_line": "Hi.", "closing_line": "Bye."}).tools is None


async def test_the_llm_agent_calls_an_http_tool_then_answers_with_its_result(fake_llm):
    fake_llm.reply_with(
        FakeReply(
            [
                text_chunk("Let me book that."),
                # The call's id, name and arguments arrive in pieces, as OpenAI streams them.
                tool_chunk(0, name="book_slot"),
                tool_chunk(0, arguments='{"day": "Fri'),
                tool_chunk(0, arguments='day", "time": '),
                tool_chunk(0, arguments='"15:00"}'),
                DONE,
            ]
        ),
        FakeReply([text_chunk("You're booked for Friday at 3 PM."), DONE]),
    )
    runner = FakeRunner({"confirmation": "AC-1042", "slot": "2026-03-06T15:00"})
    agent = _llm(fake_llm, runner)
    await _drain(agent.opening())

    chunks = await _drain(agent.reply("Friday at three works"))

    # A tool that answers at once adds no filler line.
    assert chunks == ["Let me book that.", " You're booked for Friday at 3 PM."]
    assert runner.calls == [("book_slot", {"day": "Friday", "time": "15:00"}, "call_0")]
    first, second = fake_llm.requests
    assert [tool["function"]["name"] for tool in first["json"]["tools"]] == [
        "end_call",
        "add_to_do_not_call",
        "book_slot",
    ]
    assert first["json"]["tools"][2]["function"]["parameters"] == BOOK_SLOT["parameters"]
    assert "add_to_do_not_call" in first["json"]["messages"][0]["content"]
    # The model reads the result in the tool message that answers its call.
    assert second["json"]["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "Let me book that.",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {
                        "name": "book_slot",
                        "arguments": '{"day": "Friday", "time": "15:00"}',
                    },
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_0",
            "content": json.dumps(
                {"ok": True, "result": {"confirmation": "AC-1042", "slot": "2026-03-06T15:00"}},
                separators=(",", ":"),
            ),
        },
    ]
    assert _latencies_are_measured(_tool_events(agent)) == [
        {
            "turn": 1,
            "id": "call_0",
            "name": "book_slot",
            "tool_kind": "http",
            "arguments": {"day": "Friday", "time": "15:00"},
            "ok": True,
            "result": {"confirmation": "AC-1042", "slot": "2026-03-06T15:00"},
        }
    ]
    said = [event.data["text"] for event in agent.events if event.kind == "said"]
    assert said[-1] == "Let me book that. You're booked for Friday at 3 PM."
    assert not agent.finished
    await agent.aclose()


async def test_a_failing_tool_gives_the_model_an_error_and_the_call_goes_on(fake_llm):
    fake_llm.reply_with(
        FakeReply([tool_chunk(0, name="book_slot", arguments='{"day": "Friday"}'), DONE]),
        FakeReply([tool_chunk(0, name="book_slot", arguments='{"day": "Fri", "time": "3"}'), DONE]),
        FakeReply([tool_chunk(0, name="launch_rocket", arguments="{}"), DONE]),
        FakeReply([text_chunk("Sorry, I can't book that right now."), DONE]),
    )
    runner = FakeRunner(error="The tool answered HTTP 500.")
    agent = _llm(fake_llm, runner)

    chunks = await _drain(agent.reply("book me in"))

    assert chunks == ["Sorry, I can't book that right now."]
    # A bad argument never becomes a request; the second call did reach the tool.
    assert runner.calls == [("book_slot", {"day": "Fri", "time": "3"}, "call_0")]
    results = [
        json.loads(request["json"]["messages"][-1]["content"]) for request in fake_llm.requests[1:]
    ]
    assert results == [
        {"ok": False, "error": "Invalid arguments: arguments: 'time' is a required property"},
        {"ok": False, "error": "The tool answered HTTP 500."},
        {"ok": False, "error": "There is no tool named 'launch_rocket'."},
    ]
    # Three rounds of tools, then the model must answer in words.
    assert [request["json"]["tool_choice"] for request in fake_llm.requests] == [
        "auto",
        "auto",
        "auto",
        "none",
    ]
    assert [(event["name"], event["ok"]) for event in _tool_events(agent)] == [
        ("book_slot", False),
        ("book_slot", False),
        ("launch_rocket", False),
    ]
    assert not agent.finished
    await agent.aclose()


async def test_the_filler_line_is_spoken_only_while_a_tool_is_slow(fake_llm):
    fake_llm.reply_with(
        FakeReply([tool_chunk(0, name="book_slot", arguments='{"day": "Mon", "time": "9"}'), DONE]),
        FakeReply([text_chunk("Done, you're booked."), DONE]),
    )
    runner = FakeRunner({"ok": 1}, gate=True)
    agent = _llm(fake_llm, runner)
    stream = agent.reply("yes please")

    first = await anext(stream)
    assert first == FILLER  # the tool has not answered after the filler delay
    runner.gate.set()  # type: ignore[union-attr]
    rest = [chunk async for chunk in stream]

    assert rest == ["Done, you're booked."]
    said = [event.data["text"] for event in agent.events if event.kind == "said"]
    assert said == ["One moment while I check that. Done, you're booked."]
    await agent.aclose()


async def test_a_caller_cutting_in_during_a_tool_leaves_a_history_the_api_accepts(fake_llm):
    fake_llm.reply_with(
        FakeReply(
            [
                tool_chunk(0, name="book_slot", arguments='{"day": "Mon", "time": "9"}'),
                tool_chunk(
                    1, name="end_call", arguments='{"reason": "x", "outcome": "interested"}'
                ),
                DONE,
            ]
        ),
        FakeReply([text_chunk("Sure, what day instead?"), DONE]),
    )
    runner = FakeRunner({"ok": 1}, gate=True)
    agent = _llm(fake_llm, runner)
    stream = agent.reply("yes please")
    assert await anext(stream) == FILLER

    await stream.aclose()  # barge-in: the pipeline closes the reply while the tool runs
    await _drain(agent.reply("actually, make it Tuesday"))

    # Every call of the interrupted round has its tool message, in order, before what was
    # said: an assistant tool_calls message without them is refused by the API.
    messages = fake_llm.requests[1]["json"]["messages"]
    interrupted = {
        "ok": False,
        "error": "The caller spoke before the tool answered; it was cancelled.",
    }
    assert [(m["role"], m.get("tool_call_id")) for m in messages[-5:]] == [
        ("assistant", None),
        ("tool", "call_0"),
        ("tool", "call_1"),
        ("assistant", None),
        ("user", None),
    ]
    assert [json.loads(m["content"]) for m in messages[-4:-2]] == [interrupted, interrupted]
    assert messages[-2]["content"] == "One moment while I check that."
    [event] = _tool_events(agent)
    assert (event["name"], event["ok"], event["error"]) == (
        "book_slot",
        False,
        interrupted["error"],
    )
    assert not agent.finished  # the end_call of the cut-off round was never applied
    await agent.aclose()


async def test_a_tool_that_does_not_answer_in_time_is_an_error_result():
    slow = ToolSpec(ToolKind.HTTP, "slow", "Slow.", {"type": "object"}, timeout_seconds=0.05)
    runner = FakeRunner(gate=True)

    result = await run_tool(runner, slow, {}, call_id="c1")

    assert (result.ok, result.error) == (False, "The tool did not answer within 0.05 s.")
    assert result.latency_ms >= 50
    oversized = await run_tool(FakeRunner("x" * 20_000), slow, {}, call_id="c2")
    assert (oversized.ok, oversized.error) == (
        False,
        "The tool's answer is larger than 16384 bytes.",
    )


async def test_closing_the_stream_cancels_a_tool_still_running():
    gate = asyncio.Event()

    async def never() -> Any:
        await gate.wait()

    stream = with_filler(never(), filler="Hold on.", after=0.0)
    assert await anext(stream) == "Hold on. "
    await stream.aclose()  # barge-in or hang-up: nothing is left running
    assert not [t for t in asyncio.all_tasks() if t.get_coro().__name__ == "never"]  # type: ignore[union-attr]


async def test_the_scripted_agent_books_a_slot_when_the_caller_agrees():
    runner = FakeRunner({"day": "Friday", "time": "3 PM"})
    agent = ScriptedAgent(SCRIPT, _context(preferred_day="Friday"), tools=runner)
    await _drain(agent.opening())

    chunks = await _drain(agent.reply("Yes, that sounds great."))

    assert " ".join(chunks) == (
        "You're booked for Friday at 3 PM. Wonderful, see you then. Goodbye."
    )
    assert runner.calls == [("book_slot", {"day": "Friday", "time": "10:00"}, "rule_1_book_slot")]
    assert agent.outcome is Outcome.INTERESTED
    assert [event.kind.value for event in agent.events] == [
        "said",
        "heard",
        "intent",
        "tool_called",
        "said",
        "ended",
    ]
    assert _latencies_are_measured(_tool_events(agent)) == [
        {
            "turn": 1,
            "id": "rule_1_book_slot",
            "name": "book_slot",
            "tool_kind": "http",
            "arguments": {"day": "Friday", "time": "10:00"},
            "ok": True,
            "result": {"day": "Friday", "time": "3 PM"},
        }
    ]


async def test_the_scripted_agent_says_so_when_the_tool_fails_and_carries_on():
    runner = FakeRunner(error="Could not connect to the tool (connection refused or unreachable).")
    agent = ScriptedAgent(SCRIPT, _context(), tools=runner)
    await _drain(agent.opening())

    chunks = await _drain(agent.reply("Yes, sure."))

    assert " ".join(chunks) == (
        "Sorry, I couldn't do that just now. Wonderful, see you then. Goodbye."
    )
    [event] = _tool_events(agent)
    assert (event["ok"], event["error"]) == (False, runner.error)
    # Placeholders without a value use the rule's default.
    assert event["arguments"] == {"day": "Monday", "time": "10:00"}
    # Other intents call nothing.
    other = ScriptedAgent(SCRIPT, _context(), tools=runner)
    await _drain(other.reply("Who is this?"))
    assert len(runner.calls) == 1


async def test_an_llm_agent_books_a_slot_through_a_signed_http_tool(fake_llm, settings):
    """The whole path the live call takes: the fake OpenAI-compatible stream asks for the tool,
    `HttpToolRunner` posts the signed request to a local receiver (which checks the signature),
    the result goes back to the model and the model confirms."""
    from aiohttp import web

    from anvil_voice.webhooks.signing import SIGNATURE_HEADER, webhook_signature_valid
    from scripts.tool_http import HttpToolRunner

    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True  # the receiver is plain http on localhost
    secret = "whsec_engine_tools"
    received: list[dict[str, Any]] = []

    async def book(request: web.Request) -> web.Response:
        body = await request.read()
        signed = webhook_signature_valid(
            secret=secret,
            header=request.headers.get(SIGNATURE_HEADER, ""),
            body=body,
            now=int(time.time()),
        )
        if not signed:
            return web.json_response({"error": "bad signature"}, status=401)
        received.append(json.loads(body))
        return web.json_response({"slot": "Friday 15:00", "confirmation": "AC-7"})

    app = web.Application()
    app.router.add_post("/book", book)
    receiver = web.AppRunner(app)
    await receiver.setup()
    site = web.TCPSite(receiver, "127.0.0.1", 0)
    await site.start()
    url = f"http://localhost:{receiver.addresses[0][1]}/book"
    script = ScriptSpec.from_dict({**SNAPSHOT, "tools": [{**BOOK_SLOT, "url": url}]})
    fake_llm.reply_with(
        FakeReply(
            [
                tool_chunk(0, name="book_slot"),
                tool_chunk(0, arguments='{"day": "Friday",'),
                tool_chunk(0, arguments=' "time": "15:00"}'),
                DONE,
            ]
        ),
        FakeReply([text_chunk("Booked: Friday at 3 PM, reference AC-7."), DONE]),
    )
    config = LLMConfig(base_url=fake_llm.url, api_key="sk-test", model="m", timeouts=FAST)
    runner = HttpToolRunner(secret=secret, session_id=99)
    agent = LLMAgent(script, _context(), config, tools=runner)
    try:
        chunks = await _drain(agent.reply("Friday at three, please"))
    finally:
        await agent.aclose()
        await receiver.cleanup()

    assert received == [
        {
            "tool": "book_slot",
            "callId": "call_0",
            "sessionId": 99,
            "arguments": {"day": "Friday", "time": "15:00"},
        }
    ]
    assert "".join(chunks).endswith("Booked: Friday at 3 PM, reference AC-7.")
    tool_message = fake_llm.requests[1]["json"]["messages"][-1]
    assert json.loads(tool_message["content"]) == {
        "ok": True,
        "result": {"slot": "Friday 15:00", "confirmation": "AC-7"},
    }
    [event] = _tool_events(agent)
    assert event["ok"] is True
    assert event["latency_ms"] > 0


def test_the_filler_line_is_among_the_lines_warmed_for_tts():
    agent = ScriptedAgent(SCRIPT, _context())
    lines = [" ".join(pieces) for pieces in agent.known_lines()]
    assert "One moment while I check that." in lines
    plain = ScriptedAgent(ScriptSpec(opening_line="Hi.", closing_line="Bye."), _context())
    assert "One moment while I check that." not in [" ".join(p) for p in plain.known_lines()]
