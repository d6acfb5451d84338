"""The `send_digits` built-in (issue 16): the LLM agent and the scripted agent's rules press
keys through the sender the pipeline binds; the result goes back and is recorded."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine_fake_llm import DONE, FakeLLM, FakeReply, text_chunk, tool_chunk

from anvil_voice.telephony.dtmf import validate_digits
from scripts.engine.agent import SendsKeys
from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.llm_stream import Timeouts
from scripts.engine.scripted import ScriptedAgent
from scripts.engine.tools import BUILTIN_TOOLS, SEND_DIGITS, ToolSpec, press_digits
from scripts.engine.types import CallContext, ScriptSpec
from scripts.validation import tool_errors

NOW = datetime(2026, 3, 4, 10, 15, tzinfo=ZoneInfo("America/New_York"))
FAST = Timeouts(connect=0.5, first_token=1.0, read=1.0, total=3.0)
SNAPSHOT = {
    "opening_line": "Hi, this is Anna from Acme Solar. Shall I book a visit?",
    "closing_line": "Wonderful. Goodbye.",
    "tools": [{"type": "builtin", "name": "send_digits"}, {"type": "builtin", "name": "end_call"}],
    "tool_rules": [{"intent": "agreement", "tool": "send_digits", "arguments": {"digits": "1w#"}}],
}
SCRIPT = ScriptSpec.from_dict(SNAPSHOT)
TOOL = ToolSpec.from_dict({"type": "builtin", "name": SEND_DIGITS})


class Keys:
    """The pipeline's side: validates like `CallPipeline.send_digits` and reports a duration."""

    def __init__(self, duration_ms: int = 600) -> None:
        self.sent: list[str] = []
        self.duration_ms = duration_ms

    def __call__(self, digits: str) -> int:
        validate_digits(digits)
        self.sent.append(digits)
        return self.duration_ms


def _context() -> CallContext:
    return CallContext(variables={}, timezone="America/New_York", now=lambda: NOW)


async def _drain(stream: Any) -> list[str]:
    return [chunk async for chunk in stream]


def _tool_events(agent: Any) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in event.as_dict().items() if k not in ("seq", "kind", "latency_ms")}
        for event in agent.events
        if event.kind == "tool_called"
    ]


def test_every_built_in_the_issue_names_is_registered():
    assert {"end_call", "transfer", "send_digits", "schedule_callback", "add_to_do_not_call"} <= (
        set(BUILTIN_TOOLS)
    )
    assert TOOL.parameters["properties"]["digits"]["pattern"] == "^[0-9*#w]{1,64}$"


def test_digits_are_validated_before_anything_is_pressed():
    keys = Keys()
    for bad in ("", "1-800", "12a", "1" * 65, 5):
        result = press_digits(keys, TOOL, {"digits": bad})
        assert (result.ok, result.error[:17]) == (False, "Invalid arguments"), bad
    assert press_digits(keys, TOOL, {}).ok is False
    assert keys.sent == []
    assert press_digits(None, TOOL, {"digits": "1"}).error == (
        "Sending digits is not available on this call."
    )
    # The call went away between the decision and the press.
    assert press_digits(Keys(duration_ms=0), TOOL, {"digits": "1"}).ok is False
    ok = press_digits(keys, TOOL, {"digits": "12w#"})
    assert (ok.ok, ok.value, keys.sent) == (True, {"sent": "12w#", "duration_ms": 600}, ["12w#"])


async def test_the_llm_agent_presses_keys_and_reads_the_result(fake_llm: FakeLLM):
    fake_llm.reply_with(
        FakeReply(
            [
                tool_chunk(0, name="send_digits"),
                tool_chunk(0, arguments='{"digits": '),
                tool_chunk(0, arguments='"2#"}'),
                DONE,
            ]
        ),
        FakeReply([text_chunk("Done, I've entered that for you."), DONE]),
    )
    config = LLMConfig(base_url=fake_llm.url, api_key="sk-test", model="m", timeouts=FAST)
    agent = LLMAgent(SCRIPT, _context(), config)
    assert isinstance(agent, SendsKeys)
    keys = Keys()
    agent.bind_digit_sender(keys)
    try:
        await _drain(agent.opening())
        chunks = await _drain(agent.reply("Press two and hash for me."))
    finally:
        await agent.aclose()

    assert keys.sent == ["2#"]
    assert "".join(chunks) == "Done, I've entered that for you."
    offered = [tool["function"]["name"] for tool in fake_llm.requests[0]["json"]["tools"]]
    assert offered == ["send_digits", "end_call"]
    assert "call send_digits" in fake_llm.requests[0]["json"]["messages"][0]["content"]
    tool_message = fake_llm.requests[1]["json"]["messages"][-1]
    assert tool_message["tool_call_id"] == "call_0"
    assert json.loads(tool_message["content"]) == {
        "ok": True,
        "result": {"sent": "2#", "duration_ms": 600},
    }
    assert _tool_events(agent) == [
        {
            "turn": 1,
            "id": "call_0",
            "name": "send_digits",
            "tool_kind": "builtin",
            "arguments": {"digits": "2#"},
            "ok": True,
            "result": {"sent": "2#", "duration_ms": 600},
        }
    ]
    assert not agent.finished


async def test_bad_digits_from_the_model_are_an_error_it_reads(fake_llm: FakeLLM):
    fake_llm.reply_with(
        FakeReply([tool_chunk(0, name="send_digits", arguments='{"digits": "1-800"}'), DONE]),
        FakeReply([text_chunk("Sorry, I couldn't enter that."), DONE]),
    )
    config = LLMConfig(base_url=fake_llm.url, api_key="sk-test", model="m", timeouts=FAST)
    agent = LLMAgent(SCRIPT, _context(), config)
    keys = Keys()
    agent.bind_digit_sender(keys)
    try:
        await _drain(agent.reply("Press one dash eight hundred."))
    finally:
        await agent.aclose()
    assert keys.sent == []
    answer = json.loads(fake_llm.requests[1]["json"]["messages"][-1]["content"])
    assert answer["ok"] is False
    assert "digits" in answer["error"]
    [event] = _tool_events(agent)
    assert (event["name"], event["ok"]) == ("send_digits", False)


async def test_a_scripted_rule_presses_keys():
    agent = ScriptedAgent(SCRIPT, _context())
    keys = Keys()
    agent.bind_digit_sender(keys)
    await _drain(agent.opening())
    chunks = await _drain(agent.reply("Yes please."))
    assert keys.sent == ["1w#"]
    assert " ".join(chunks) == "Wonderful. Goodbye."
    [event] = _tool_events(agent)
    assert event == {
        "turn": 1,
        "id": "rule_1_send_digits",
        "name": "send_digits",
        "tool_kind": "builtin",
        "arguments": {"digits": "1w#"},
        "ok": True,
        "result": {"sent": "1w#", "duration_ms": 600},
    }


def test_a_rule_may_name_send_digits_with_valid_digits_only():
    tools = SNAPSHOT["tools"]
    assert tool_errors(tools, SNAPSHOT["tool_rules"]) == {}  # type: ignore[arg-type]
    bad = [{"intent": "agreement", "tool": "send_digits", "arguments": {"digits": "1;2"}}]
    assert "send_digits needs" in tool_errors(tools, bad)["tool_rules"][0]  # type: ignore[arg-type]
    other = [{"intent": "agreement", "tool": "end_call"}]
    assert "HTTP tools or send_digits" in tool_errors(tools, other)["tool_rules"][0]  # type: ignore[arg-type]
