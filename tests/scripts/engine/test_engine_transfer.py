"""When the agent hands the caller to a person (a script's transfer), and its validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.llm_stream import ToolCall
from scripts.engine.scripted import ScriptedAgent, asks_for_person
from scripts.engine.tools import TRANSFER
from scripts.engine.types import (
    CallContext,
    EndCall,
    EventKind,
    Outcome,
    ScriptSpec,
    TransferCall,
    TransferMode,
    TransferReason,
    TransferSpec,
)
from scripts.validation import transfer_errors

DESK = "+12125550118"
BASE = {
    "opening_line": "Hi, this is Anna from Acme Solar. Want to hear about our plan?",
    "closing_line": "Wonderful, goodbye.",
    "objection_responses": [
        {"trigger": "too expensive", "response": "It costs nothing to start."},
        {"trigger": "I have a question about my contract", "response": "Of course."},
    ],
}
LINE = "Of course. Let me connect you with a colleague now, please hold."


def agent(transfer: dict[str, object] | None, **extra: object) -> ScriptedAgent:
    spec = ScriptSpec.from_dict({**BASE, "transfer": transfer, **extra})
    bot = ScriptedAgent(spec, CallContext(now=lambda: datetime(2026, 3, 4, 15, tzinfo=UTC)))
    bot.start()
    return bot


def test_the_snapshot_reads_into_a_transfer_spec():
    spec = ScriptSpec.from_dict({**BASE, "transfer": {"number": DESK, "mode": "warm"}})
    assert spec.transfer == TransferSpec(DESK, mode=TransferMode.WARM)
    assert ScriptSpec.from_dict(BASE).transfer is None
    assert ScriptSpec.from_dict({**BASE, "transfer": None}).transfer is None


@pytest.mark.parametrize(
    "text",
    [
        "Can I talk to a person?",
        "let me speak with someone please",
        "Is there a real human there?",
        "I'd like to speak to a representative",
    ],
)
def test_it_hears_a_request_for_a_person(text):
    assert asks_for_person(text)


@pytest.mark.parametrize("text", ["Yes please", "Who is this?", "I talk to my wife first"])
def test_it_does_not_hear_one_where_there_is_none(text):
    assert not asks_for_person(text)


def test_asking_for_a_person_transfers_with_a_line_and_the_outcome_transferred():
    bot = agent({"number": DESK, "timeout_seconds": 15})
    assert bot.respond("Can I talk to a real person?") == LINE
    assert bot.outcome is Outcome.TRANSFERRED
    transfer, end = bot.actions
    assert transfer == TransferCall(DESK, TransferMode.COLD, 15, TransferReason.REQUEST)
    assert end == EndCall(reason="transferred", outcome=Outcome.TRANSFERRED)
    [event] = [e for e in bot.events if e.kind is EventKind.TRANSFER_REQUESTED]
    assert dict(event.data) == {"mode": "cold", "target": DESK, "reason": "request"}


def test_agreement_transfers_only_when_the_script_says_so():
    assert agent({"number": DESK}).respond("Yes, sign me up.") == "Wonderful, goodbye."
    bot = agent({"number": DESK, "on_agreement": True})
    assert bot.respond("Yes, sign me up.") == LINE
    assert bot.actions[0].reason is TransferReason.AGREEMENT


def test_a_chosen_objection_transfers_and_the_others_are_answered():
    bot = agent({"number": DESK, "on_objections": ["I have a question about my contract"]})
    assert bot.respond("It's too expensive.").startswith("It costs nothing to start.")
    assert bot.respond("I have a question about my contract.") == LINE
    assert bot.actions[0].reason is TransferReason.OBJECTION


def test_without_a_transfer_a_request_for_a_person_is_not_one():
    bot = agent(None)
    assert bot.respond("Can I talk to a person?") != LINE
    assert not any(isinstance(action, TransferCall) for action in bot.actions)


def test_a_keypad_key_transfers():
    bot = agent(
        {"number": DESK},
        keypad=[{"digit": "1", "action": "transfer"}],
        keypad_prompt="Press 1 to talk to a person.",
    )
    assert bot.respond_to_key("1") == LINE
    assert bot.actions[0].reason is TransferReason.KEYPAD


def test_the_llm_transfer_tool_hands_the_call_over():
    spec = ScriptSpec.from_dict(
        {**BASE, "transfer": {"number": DESK}, "tools": [{"type": "builtin", "name": TRANSFER}]}
    )
    bot = LLMAgent(spec, CallContext(), LLMConfig(base_url="http://unused", api_key="k", model="m"))
    line = bot._apply_tools([ToolCall("call_1", TRANSFER, {})], said="", heard="a person")
    assert line == LINE
    assert bot.outcome is Outcome.TRANSFERRED
    assert bot.actions[0].reason is TransferReason.TOOL


@pytest.mark.parametrize(
    ("transfer", "keypad", "errors"),
    [
        ({"number": DESK, "on_objections": ["too expensive"]}, [], []),
        (None, [], []),
        (
            None,
            [{"digit": "1", "action": "transfer"}],
            ["A keypad key transfers the caller, but the script names no transfer number."],
        ),
        (
            {"number": "212 555 0118", "mode": "hot", "timeout_seconds": 600, "on_request": "y"},
            [],
            [
                "The transfer number must be in E.164 form (+15551234567); got '212 555 0118'.",
                "The transfer mode must be one of cold, warm.",
                "The transfer timeout must be 5-60 seconds.",
                "The transfer's on_request must be true or false.",
            ],
        ),
        (
            {"number": DESK, "target_kind": "robot"},
            [],
            ["The transfer's target_kind must be one of person, business."],
        ),
        ({"number": DESK, "target_kind": "business"}, [], []),
        (
            {"number": DESK, "on_objections": ["not a trigger"], "extra": 1},
            [],
            [
                "Unknown transfer fields: extra.",
                "on_objections: 'not a trigger' is not one of the script's triggers.",
            ],
        ),
    ],
)
def test_transfers_are_validated(transfer, keypad, errors):
    assert transfer_errors(transfer, keypad=keypad, triggers=["too expensive"]) == errors


def test_a_target_is_a_person_unless_the_script_says_business():
    from scripts.engine import TransferTargetKind

    spec = TransferSpec.from_dict({"number": DESK})
    assert spec is not None
    assert spec.target_kind is TransferTargetKind.PERSON
    desk = TransferSpec.from_dict({"number": DESK, "target_kind": "business"})
    assert desk is not None
    assert desk.as_dict()["target_kind"] == "business"
    agent = ScriptedAgent(
        ScriptSpec(opening_line="Hi.", closing_line="Bye.", transfer=desk), CallContext()
    )
    agent.respond("Can I talk to a person?")
    [action] = [a for a in agent.actions if isinstance(a, TransferCall)]
    assert action.target_kind is TransferTargetKind.BUSINESS
    assert action.as_dict()["target_kind"] == "business"
