"""Phone menus end to end over the Twilio simulator's Media Stream (issue 16 item 3).

`benchmarks.ivr.call_menu` (the harness the IVR benchmark measures with): a small aiohttp server
stands in for the Channels consumer and drives `CallPipeline` with the script's menu target.
The persona's lines are short synthetic speech and the recogniser reads back the line the
persona said for each utterance (an oracle: what is tested is the menu walk over a real line,
endpointing, the agent's tones, the persona's routing; not Whisper).
"""

from __future__ import annotations

from typing import Any

from anvil_voice.telephony.simulator.calls import SimulatedCall
from benchmarks.ivr import SCRIPT, call_menu
from scripts.engine import Outcome
from sessions.pipeline import PipelineConfig, Speaker
from sessions.pipeline.turns import CallEndReason


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
