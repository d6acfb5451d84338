"""A script's keypad: the prompt after the opening, what each key does, and its validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scripts.engine.agent import HearsKeys
from scripts.engine.conversation import contact_stance
from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.scripted import ScriptedAgent
from scripts.engine.types import (
    CallContext,
    EventKind,
    KeypadAction,
    KeypadKey,
    Outcome,
    ScriptSpec,
    Stance,
)
from scripts.validation import keypad_errors

OPENING = "Hi {{first_name|there}}, this is Anna from Acme Solar. Want to hear about our plan?"
PROMPT = "Press 1 to talk to a person, 2 for a call back later, or 3 to hear that again."
KEYPAD = [
    {"digit": "1", "action": "interested"},
    {"digit": "2", "action": "callback"},
    {"digit": "3", "action": "repeat"},
    {"digit": "#", "action": "end"},
    {"digit": "9", "action": "opt_out"},
]
SCRIPT = ScriptSpec.from_dict(
    {
        "opening_line": OPENING,
        "closing_line": "Wonderful, a specialist will call you.",
        "keypad": KEYPAD,
        "keypad_prompt": PROMPT,
    }
)


def agent() -> ScriptedAgent:
    context = CallContext(
        variables={"first_name": "Jo"}, now=lambda: datetime(2026, 3, 4, 15, tzinfo=UTC)
    )
    return ScriptedAgent(SCRIPT, context)


def test_the_snapshot_reads_into_keys():
    assert SCRIPT.keypad[0] == KeypadKey("1", KeypadAction.INTERESTED)
    assert [key.as_dict() for key in SCRIPT.keypad] == KEYPAD
    # A snapshot from before the keypad existed has none.
    old = ScriptSpec.from_dict({"opening_line": OPENING, "closing_line": "Bye."})
    assert (old.keypad, old.keypad_prompt) == ((), "")


def test_the_prompt_follows_the_opening_and_is_what_repeat_says_again():
    bot = agent()
    first = bot.start()

    assert first == OPENING.replace("{{first_name|there}}", "Jo") + " " + PROMPT
    assert bot.known_lines()[0][-1] == PROMPT
    assert bot.respond_to_key("3") == first
    assert not bot.finished


def test_the_interested_key_closes_like_a_yes():
    bot = agent()
    bot.start()

    assert isinstance(bot, HearsKeys)
    assert bot.answers_key("1")
    assert not bot.answers_key("5")
    assert bot.respond_to_key("1") == "Wonderful, a specialist will call you."
    assert bot.outcome is Outcome.INTERESTED
    [keypad] = [e for e in bot.events if e.kind is EventKind.KEYPAD]
    assert (keypad.turn, dict(keypad.data)) == (1, {"digit": "1", "action": "interested"})
    assert [a.as_dict() for a in bot.actions] == [
        {"action": "end_call", "reason": "agreed", "outcome": "interested"}
    ]
    assert not bot.answers_key("1")  # the call is over: keys are only transcribed


def test_the_callback_key_asks_when_and_the_answer_schedules_it():
    bot = agent()
    bot.start()

    assert bot.respond_to_key("2") == "Of course. When is a good time to call you back?"
    reply = bot.respond("Tomorrow at 3 pm")
    assert reply.startswith("No problem, I'll call you back")
    assert bot.outcome is Outcome.CALLBACK_REQUESTED


def test_the_opt_out_and_end_keys_are_negative():
    opted = agent()
    opted.start()
    assert opted.respond_to_key("9") == "Understood, we won't call you again. Goodbye."
    assert opted.outcome is Outcome.DO_NOT_CALL
    assert {"action": "mark_do_not_call"} in [a.as_dict() for a in opted.actions]

    ended = agent()
    ended.start()
    ended.respond_to_key("#")
    assert ended.outcome is Outcome.NOT_INTERESTED
    assert ended.actions[-1].as_dict()["reason"] == "keypad_ended"
    assert contact_stance(ended.events) is Stance.NEGATIVE


def test_a_script_without_a_keypad_answers_no_key():
    bot = ScriptedAgent(ScriptSpec(opening_line=OPENING, closing_line="Bye."), CallContext())

    assert bot.start() == OPENING.replace("{{first_name|there}}", "there")
    assert not bot.answers_key("1")


def test_a_valid_keypad_has_no_errors():
    assert keypad_errors(KEYPAD, PROMPT) == []
    assert keypad_errors([], "") == []


@pytest.mark.parametrize(
    ("keypad", "prompt", "error"),
    [
        ([{"digit": "12", "action": "interested"}], PROMPT, "the digit must be one of 0-9"),
        ([{"digit": "w", "action": "interested"}], PROMPT, "the digit must be one of 0-9"),
        ([{"digit": 1, "action": "interested"}], PROMPT, "the digit must be one of 0-9"),
        ([{"digit": "1", "action": "transfer_now"}], PROMPT, "unknown action 'transfer_now'"),
        (
            [{"digit": "1", "action": "interested"}, {"digit": "1", "action": "end"}],
            PROMPT,
            "Key 2: the digit 1 is already used.",
        ),
        ([{"digit": "9", "action": "interested"}], PROMPT, "9 is the opt-out key"),
        ([{"digit": "1", "action": "interested"}], "  ", "A keypad needs a keypad prompt"),
        ([], PROMPT, "the keypad has none"),
        ("1=interested", PROMPT, "must be a list"),
        (["1"], PROMPT, "must be an object"),
    ],
)
def test_it_refuses_a_bad_keypad(keypad, prompt, error):
    errors = keypad_errors(keypad, prompt)

    assert len(errors) == 1
    assert error in errors[0]


async def test_the_llm_agent_says_the_prompt_and_keys_act_without_asking_the_model(closed_port):
    # Nothing listens at the model's address: a key must not need it.
    config = LLMConfig(base_url=f"http://127.0.0.1:{closed_port}", api_key="sk", model="m")
    bot = LLMAgent(SCRIPT, CallContext(variables={"first_name": "Jo"}), config)
    try:
        opening = "".join([chunk async for chunk in bot.opening()])
        assert opening.endswith(PROMPT)
        assert PROMPT in bot.messages[0]["content"]
        assert isinstance(bot, HearsKeys)
        assert not bot.answers_key("7")

        again = "".join([chunk async for chunk in bot.press("3")])
        closing = "".join([chunk async for chunk in bot.press("1")])
    finally:
        await bot.aclose()

    assert again == opening
    assert closing == "Wonderful, a specialist will call you."
    assert bot.outcome is Outcome.INTERESTED
    assert bot.messages[-2:] == [
        {"role": "user", "content": "[pressed 1]"},
        {"role": "assistant", "content": closing},
    ]
    assert [dict(e.data) for e in bot.events if e.kind is EventKind.KEYPAD] == [
        {"digit": "3", "action": "repeat"},
        {"digit": "1", "action": "interested"},
    ]
