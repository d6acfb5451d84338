"""A number the caller types (the script's keypad entry, issue 16): keys collected until the
end key, the length or a pause, handed to the agent as one keypad turn; single-key prompts and
the opt-out key keep working."""

from __future__ import annotations

import asyncio

from pipeline_support import SCRIPT, make_call

from scripts.engine import KeypadEntry, Outcome, ScriptSpec
from sessions.live.consumer import conversation_result
from sessions.pipeline import PipelineConfig, Speaker

PROMPT = "Please type your 5-digit zip code followed by the hash key, or press 1 for a person."
ENTRY = KeypadEntry(name="zip_code", max_digits=5, end_key="#", timeout_seconds=3, say="")
SAY = "Thanks, {{zip_code}} it is."


def entry_call(entry: KeypadEntry = ENTRY, say: str = SAY):
    entry = KeypadEntry(entry.name, entry.max_digits, entry.end_key, entry.timeout_seconds, say=say)
    script = ScriptSpec(
        opening_line=SCRIPT.opening_line,
        closing_line=SCRIPT.closing_line,
        keypad=[{"digit": "1", "action": "interested"}],
        keypad_prompt=PROMPT,
        keypad_entry=entry,
    )
    return make_call(script=script, config=PipelineConfig(keypad_entry=entry))


async def type_keys(call, keys: str) -> None:
    for key in keys:
        call.pipeline.on_dtmf(key)
        await call.line.run(seconds=0.2)


def keypad_turns(call) -> list[tuple[str, str, str]]:
    return [(t.speaker, t.text, t.keypad) for t in call.sink.turns if t.keypad]


def agent_lines(call) -> list[str]:
    return [t.text for t in call.sink.turns if t.speaker is Speaker.AGENT]


async def test_keys_up_to_the_end_key_are_one_turn_the_agent_answers():
    call = entry_call(KeypadEntry("zip_code", 0, "#", 3))
    call.pipeline.start("MZ1")
    await call.line.until(lambda: len(call.line.of_event("media")) >= 60)
    # 9 and 1 inside a number are digits of it, not the opt-out or the "press 1" key.
    await type_keys(call, "91041#")
    await call.line.until(lambda: any("91041" in line for line in agent_lines(call)))

    assert keypad_turns(call) == [(Speaker.CONTACT, "[entered 91041]", "91041")]
    assert agent_lines(call)[-1].startswith("Thanks, 91041 it is.")
    [entry] = [e.data for e in call.sink.events if e.kind == "keypad_entry"]
    assert entry == {"digits": "91041", "ended_by": "end_key", "answered": True}
    assert not [e for e in call.sink.events if e.kind == "opt_out"]
    # The prompt was cut when they started typing.
    assert "clear" in [m["event"] for m in call.line.sent]
    [event] = [e for e in call.agent.events if e.kind == "keypad_entry"]
    assert event.data == {"name": "zip_code", "digits": "91041"}
    assert not call.agent.finished
    assert call.pipeline.stats.dtmf_digits == "91041#"
    await call.pipeline.close()


async def test_the_configured_length_completes_the_number():
    call = entry_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=1.0)
    await type_keys(call, "10001")
    await call.line.until(lambda: any("10001" in line for line in agent_lines(call)))
    assert keypad_turns(call) == [(Speaker.CONTACT, "[entered 10001]", "10001")]
    [entry] = [e.data for e in call.sink.events if e.kind == "keypad_entry"]
    assert entry["ended_by"] == "length"
    result = await call.pipeline.close()
    # The session keeps the number under the script's name.
    assert conversation_result(result).extracted["keypad"] == {"zip_code": "10001"}


async def test_a_pause_between_keys_completes_the_number():
    call = entry_call(say="")
    call.pipeline.start("MZ1")
    await call.line.run(seconds=1.0)
    await type_keys(call, "123")
    assert keypad_turns(call) == []  # still typing
    await call.line.run(seconds=3.5)
    await call.line.until(lambda: any("got that" in line for line in agent_lines(call)))
    assert keypad_turns(call) == [(Speaker.CONTACT, "[entered 123]", "123")]
    [entry] = [e.data for e in call.sink.events if e.kind == "keypad_entry"]
    assert entry["ended_by"] == "pause"
    # No say line: the agent's own thanks, then the opening's question.
    assert agent_lines(call)[-1] == "Thank you, I've got that. Would you like to hear more?"
    await call.pipeline.close()


async def test_a_single_mapped_key_then_a_pause_is_still_a_key_press():
    call = entry_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=1.0)
    call.pipeline.on_dtmf("1")
    await call.line.run(seconds=3.5)
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert [(t.text, t.keypad) for t in result.turns if t.keypad] == [("[pressed 1]", "1")]
    assert result.outcome is Outcome.INTERESTED
    assert not [e for e in result.events if e.kind == "keypad_entry"]


async def test_the_opt_out_key_alone_still_opts_out_even_at_hang_up():
    call = entry_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=1.0)
    call.pipeline.on_dtmf("9")
    await call.line.run(seconds=0.2)
    call.pipeline.on_stop()  # they hung up before the pause ran out
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert result.outcome is Outcome.DO_NOT_CALL
    assert [e.data for e in result.events if e.kind == "opt_out"] == [{"digit": "9"}]
    assert [(t.text, t.keypad) for t in result.turns if t.keypad] == [("[pressed 9]", "9")]


async def test_without_an_entry_every_key_acts_at_once():
    call = make_call(
        script=ScriptSpec(
            opening_line=SCRIPT.opening_line,
            closing_line=SCRIPT.closing_line,
            keypad=[{"digit": "1", "action": "interested"}],
            keypad_prompt="Press 1.",
        )
    )
    call.pipeline.start("MZ1")
    await call.line.run(seconds=1.0)
    call.pipeline.on_dtmf("4")
    call.pipeline.on_dtmf("2")
    await call.line.run(seconds=0.2)
    assert keypad_turns(call) == [
        (Speaker.CONTACT, "[pressed 4]", "4"),
        (Speaker.CONTACT, "[pressed 2]", "2"),
    ]
    await call.pipeline.close()


async def test_typing_during_the_goodbye_does_not_cut_it():
    call = entry_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=1.0)
    call.pipeline.on_dtmf("1")  # "press 1": interested, the closing line plays
    await call.line.run(seconds=3.3)
    await call.line.until(lambda: call.agent.finished)
    clears = len(call.line.of_event("clear"))
    await type_keys(call, "12")
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert len(call.line.of_event("clear")) == clears
    closing = [t for t in result.turns if t.speaker is Speaker.AGENT][-1]
    assert closing.text == SCRIPT.closing_line
    assert not closing.interrupted
