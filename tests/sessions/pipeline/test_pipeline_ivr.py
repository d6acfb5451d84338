"""Phone menus on a live call (fake line, fake recogniser, manual clock): the agent presses
the keys that reach the script's target, waits through holds, opens only for a person, and
gives up with `ivr_unresolved`."""

from __future__ import annotations

import asyncio

from pipeline_support import SCRIPT, Call, make_call, piper

from anvil_voice.telephony.simulator.dtmf import detect
from scripts.engine import Outcome
from sessions.pipeline import PipelineConfig, Speaker
from sessions.pipeline.turns import CallEndReason

# The recogniser's words for each utterance the line plays (one short sound each: the fake
# recogniser answers by utterance, not by what the audio says).
UTTERANCE = "Hello?"


def ivr_config(**options: object) -> PipelineConfig:
    return PipelineConfig(ivr_target="accounts", **options)  # type: ignore[arg-type]


async def say(call: Call, times: int = 1) -> None:
    for _ in range(times):
        await call.line.run(piper(UTTERANCE), seconds=1.2)


def agent_lines(call: Call) -> list[str]:
    return [t.text for t in call.sink.turns if t.speaker == Speaker.AGENT and not t.keypad]


async def test_two_levels_and_a_hold_then_the_script_opens_for_the_person():
    call = make_call(
        [
            "Thank you for calling Northwind.",
            "Press 1 for sales. Press 2 for accounts.",
            "For your balance press 1. To speak to someone in accounts press 0.",
            "Please hold.",
            "Accounts, this is Sam speaking, how can I help?",
            "Yes, go on.",
        ],
        config=ivr_config(),
    )
    call.pipeline.start("MZ1")
    await say(call, 3)
    # No opening to a recording: only the keys so far.
    assert agent_lines(call) == []
    assert call.pipeline.stats.digits_sent == "20"
    await call.line.run(seconds=1.0)  # the tones play out
    assert detect(bytes(call.line.played)) == "20"
    await say(call, 2)
    await call.line.until(lambda: agent_lines(call))
    assert agent_lines(call)[0] == SCRIPT.opening_line
    kinds = [e.kind.value for e in call.sink.events if e.kind.value.startswith("ivr_")]
    assert kinds == [
        "ivr_hold",
        "ivr_menu",
        "ivr_pressed",
        "ivr_menu",
        "ivr_pressed",
        "ivr_hold",
        "ivr_person",
    ]
    person = next(e for e in call.sink.events if e.kind == "ivr_person")
    assert person.data["pressed"] == "20"
    assert person.data["menu_heard"] is True
    result = await call.pipeline.close()
    assert result.answered_by == "ivr"
    assert result.ivr_pressed == "20"
    assert result.end_reason is not CallEndReason.IVR_UNRESOLVED


async def test_a_person_answering_gets_the_opening_as_without_a_target():
    call = make_call(["Hello?"], config=ivr_config())
    call.pipeline.start("MZ1")
    await say(call)
    await call.line.until(lambda: agent_lines(call))
    assert agent_lines(call)[0] == SCRIPT.opening_line
    result = await call.pipeline.close()
    assert result.answered_by == ""
    assert result.ivr_pressed == ""
    assert not result.stats.digits_sent


async def test_a_menu_that_repeats_without_an_option_gives_up():
    menu = "Press 1 for opening hours. Press 2 for our address."
    call = make_call([menu, menu, menu], config=ivr_config())
    call.pipeline.start("MZ1")
    await say(call, 2)
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)
    assert result.end_reason is CallEndReason.IVR_UNRESOLVED
    assert result.outcome is Outcome.IVR_UNRESOLVED
    assert result.answered_by == "ivr"
    assert agent_lines(call) == []  # nothing said to a recording
    gave_up = next(e for e in result.events if e.kind == "ivr_gave_up")
    assert gave_up.data["reason"] == "no_option"


async def test_the_time_limit_gives_up_during_a_long_hold():
    call = make_call(
        ["Please hold.", "Your call is important to us."], config=ivr_config(ivr_timeout_ms=6000)
    )
    call.pipeline.start("MZ1")
    await say(call, 2)
    assert not call.line.hung_up
    await call.line.until(lambda: call.line.hung_up, seconds=10)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)
    assert result.end_reason is CallEndReason.IVR_UNRESOLVED
    assert result.outcome is Outcome.IVR_UNRESOLVED
    assert result.duration_ms >= 6000
    gave_up = next(e for e in result.events if e.kind == "ivr_gave_up")
    assert gave_up.data["reason"] == "timeout"
    # No silence prompt during a hold.
    assert not any(e.kind == "silence_timeout" for e in result.events)


async def test_without_a_target_a_menu_is_talked_to_as_before():
    call = make_call(["Press 1 for sales."])
    call.pipeline.start("MZ1")
    await say(call)
    await call.line.until(lambda: agent_lines(call))
    assert agent_lines(call)[0] == SCRIPT.opening_line
    await call.pipeline.close()


async def test_with_a_target_a_menu_that_starts_after_silence_is_still_walked():
    call = make_call(["Press 2 for accounts."], config=ivr_config())
    call.pipeline.start("MZ1")
    await call.line.run(seconds=3.0)  # past the 1.5 s greeting wait: a menu may still start
    assert call.line.of_event("media") == []  # no opening sent
    await say(call)
    assert call.pipeline.stats.digits_sent == "2"
    assert agent_lines(call) == []
    await call.pipeline.close()


async def test_with_a_target_a_silent_line_still_gets_the_opening():
    call = make_call([], config=ivr_config())
    call.pipeline.start("MZ1")
    await call.line.until(lambda: agent_lines(call), seconds=15)
    assert call.sink.turns[0].start_ms >= 4000
    await call.pipeline.close()
