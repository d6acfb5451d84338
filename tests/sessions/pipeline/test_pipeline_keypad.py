"""The keypad on a live call: the caller's keys in the transcript and acted on; the agent's keys
played as tones into the stream."""

from __future__ import annotations

import asyncio

import pytest
from pipeline_support import SCRIPT, make_call

from anvil_voice.telephony.dtmf import InvalidDigitsError
from anvil_voice.telephony.simulator.dtmf import detect
from scripts.engine import Outcome, ScriptSpec
from sessions.pipeline import Speaker

PROMPT = "Press 1 to talk to a person."
KEYPAD_SCRIPT = ScriptSpec(
    opening_line=SCRIPT.opening_line,
    closing_line=SCRIPT.closing_line,
    keypad=[{"digit": "1", "action": "interested"}],
    keypad_prompt=PROMPT,
)


async def test_a_mapped_key_cuts_the_prompt_short_and_the_agent_acts_on_it():
    call = make_call(script=KEYPAD_SCRIPT)
    call.pipeline.start("MZ1")
    # The opening (and its prompt) has been heard for a while when the caller presses 1.
    await call.line.until(lambda: len(call.line.of_event("media")) >= 120)
    call.pipeline.on_dtmf("1")
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert "clear" in [m["event"] for m in call.line.sent]
    pressed = [t for t in result.turns if t.keypad]
    assert [(t.speaker, t.text, t.keypad) for t in pressed] == [
        (Speaker.CONTACT, "[pressed 1]", "1")
    ]
    opening, closing = [t for t in result.turns if t.speaker == Speaker.AGENT]
    assert opening.interrupted
    assert closing.text == SCRIPT.closing_line
    assert result.outcome is Outcome.INTERESTED
    assert [e.data for e in result.events if e.kind == "dtmf"] == [{"digit": "1", "answered": True}]
    assert result.stats.dtmf_digits == "1"


async def test_an_unmapped_key_is_transcribed_and_the_agent_goes_on():
    call = make_call(script=KEYPAD_SCRIPT)
    call.pipeline.start("MZ1")
    await call.line.until(lambda: len(call.line.of_event("media")) >= 30)
    call.pipeline.on_dtmf("4")
    await call.line.run(seconds=0.5)

    assert [(t.text, t.keypad) for t in call.sink.turns if t.keypad] == [("[pressed 4]", "4")]
    assert "clear" not in [m["event"] for m in call.line.sent]
    assert not call.agent.finished
    await call.pipeline.close()


async def test_a_dtmf_message_that_is_not_one_key_is_counted_and_skipped():
    call = make_call(script=KEYPAD_SCRIPT)
    call.pipeline.start("MZ1")
    await call.line.run(seconds=0.2)
    for digit in ("", "11", "x", "[pressed 1]"):
        call.pipeline.on_dtmf(digit)
    await call.line.run(seconds=0.2)

    assert not any(t.keypad for t in call.sink.turns)
    assert not any(e.kind == "dtmf" for e in call.sink.events)
    assert call.pipeline.stats.malformed_dtmf == 4
    assert call.pipeline.stats.dtmf_digits == ""
    await call.pipeline.close()


async def test_the_agent_presses_keys_as_tones_after_what_is_queued():
    call = make_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=2.0)
    heard_before = len(call.line.played)

    duration_ms = call.pipeline.send_digits("1w2#")
    await call.line.run(seconds=duration_ms / 1000 + 1.0)

    assert duration_ms == 200 + 500 + 200 + 200
    assert detect(bytes(call.line.played[heard_before:])) == "12#"
    [sent] = [t for t in call.sink.turns if t.keypad]
    assert (sent.speaker, sent.text, sent.keypad) == (Speaker.AGENT, "[pressed 1w2#]", "1w2#")
    assert sent.end_ms - sent.start_ms == duration_ms
    assert [e.data for e in call.sink.events if e.kind == "digits_sent"] == [
        {"digits": "1w2#", "duration_ms": 1100}
    ]
    assert call.pipeline.stats.digits_sent == "1w2#"
    await call.pipeline.close()


async def test_bad_digits_are_refused_and_nothing_is_sent():
    call = make_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=0.2)

    with pytest.raises(InvalidDigitsError):
        call.pipeline.send_digits("1;2")
    await call.line.run(seconds=1.0)

    assert not any(t.keypad for t in call.sink.turns)
    assert detect(bytes(call.line.played)) == ""
    assert call.pipeline.stats.digits_sent == ""
    await call.pipeline.close()


async def test_no_keys_are_pressed_on_a_call_that_has_ended():
    call = make_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=0.2)
    await call.pipeline.close()

    assert call.pipeline.send_digits("1") == 0
    assert call.pipeline.stats.digits_sent == ""


async def test_the_send_digits_tool_presses_keys_through_the_pipeline():
    """The pipeline binds its sender to the agent: a script rule's `send_digits` plays tones
    into the stream and is in the transcript as the agent's key turn."""
    from pipeline_support import piper

    script = ScriptSpec.from_dict(
        {
            "opening_line": SCRIPT.opening_line,
            "closing_line": SCRIPT.closing_line,
            "tools": [{"type": "builtin", "name": "send_digits"}],
            "tool_rules": [
                {"intent": "agreement", "tool": "send_digits", "arguments": {"digits": "4#"}}
            ],
        }
    )
    call = make_call(["Hello?", "Yes, sign me up."], script=script)
    call.pipeline.start("MZ1")
    await call.line.run(piper("Hello?"), seconds=1.5)
    await call.line.until(lambda: any(t.speaker is Speaker.AGENT for t in call.sink.turns))
    await call.line.run(piper("Yes, sign me up."), seconds=0.1)
    await call.line.until(lambda: call.line.hung_up)
    await asyncio.wait_for(call.pipeline.wait(), 5)

    assert detect(bytes(call.line.played)) == "4#"
    [sent] = [t for t in call.sink.turns if t.keypad]
    assert (sent.speaker, sent.keypad) == (Speaker.AGENT, "4#")
    [tool] = [e for e in call.agent.events if e.kind == "tool_called"]
    assert (tool.data["name"], tool.data["ok"]) == ("send_digits", True)
    assert call.pipeline.stats.digits_sent == "4#"
