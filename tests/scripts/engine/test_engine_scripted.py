from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scripts.engine.agent import Agent
from scripts.engine.conversation import AgentFinishedError, contact_stance
from scripts.engine.placeholders import PlaceholderError
from scripts.engine.scripted import ScriptedAgent, split_opening
from scripts.engine.types import (
    CallContext,
    EngineEvent,
    EventKind,
    Outcome,
    ScriptSpec,
    Stance,
)

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 4, 10, 15, tzinfo=NEW_YORK)  # a Wednesday

SCRIPT = ScriptSpec(
    opening_line=(
        "Hi {{first_name|there}}, this is Anna from Acme Solar. "
        "Do you have a minute to hear how you could lower your energy bill?"
    ),
    closing_line="Wonderful, {{first_name|}}! A specialist will call you to set up a free quote.",
    system_prompt="You are Anna, a friendly solar adviser.",
    objection_responses=(
        ("It's too expensive", "Most homeowners pay nothing upfront. Would a free quote help?"),
        ("We already have a provider", "Many customers switched and saved. Want to compare?"),
        ("How did you get my number?", "Your number is on a public homeowner list. Go on?"),
    ),
    voicemail_message="Hi {{first_name|there}}, Anna from Acme Solar. Call us back!",
)

STEER = "Would you like to go ahead?"
CLOSE = "Thank you for your time"
QUESTION = "Do you have a minute to hear how you could lower your energy bill?"
# Who is calling and why, then the opening's question again.
WHO = f"This is Anna from Acme Solar. {QUESTION}"


def _agent(**context: Any) -> ScriptedAgent:
    options: dict[str, Any] = {
        "variables": {"first_name": "Jane"},
        "timezone": "America/New_York",
        "now": lambda: NOW,
    }
    options.update(context)
    return ScriptedAgent(SCRIPT, CallContext(**options))


async def _say(agent: ScriptedAgent, heard: str | None) -> str:
    return " ".join([chunk async for chunk in agent.reply(heard)])


# Each row: caller turns as (utterance, substring of the agent's reply), then the outcome, the
# end reason, the actions and the notable events (checked in order, other events may sit
# between them). None as an utterance is silence.
CONVERSATIONS: list[dict[str, Any]] = [
    {
        "id": "agreement",
        "turns": [("sure, book it", "Wonderful, Jane! A specialist will call you")],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
        "actions": [{"action": "end_call", "reason": "agreed", "outcome": "interested"}],
        "events": [("heard", {"text": "sure, book it"}), ("intent", {"intent": "agreement"})],
    },
    {
        "id": "refusal",
        "turns": [("no thanks", CLOSE)],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "refused",
        "actions": [{"action": "end_call", "reason": "refused", "outcome": "not_interested"}],
        "events": [("intent", {"intent": "refusal"})],
    },
    {
        "id": "noisy refusal",
        "turns": [("um, i'm not intrested", CLOSE)],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "refused",
    },
    {
        "id": "opt-out",
        "turns": [("stop calling me", "Understood, we won't call you again. Goodbye.")],
        "outcome": Outcome.DO_NOT_CALL,
        "reason": "opted_out",
        "actions": [
            {"action": "mark_do_not_call"},
            {"action": "end_call", "reason": "opted_out", "outcome": "do_not_call"},
        ],
        "events": [
            ("opted_out", {}),
            ("said", {"text": "Understood, we won't call you again. Goodbye."}),
        ],
    },
    {
        "id": "opt-out beats refusal",
        "turns": [("not interested, take me off your list", "we won't call you again")],
        "outcome": Outcome.DO_NOT_CALL,
        "reason": "opted_out",
    },
    {
        "id": "opt-out after an objection",
        "turns": [("too expensive", "nothing upfront"), ("just remove my number", "won't call")],
        "outcome": Outcome.DO_NOT_CALL,
        "reason": "opted_out",
    },
    {
        "id": "callback with a time beats refusal",
        "turns": [("not now, call me tomorrow at 3", "I'll call you back tomorrow at 3:00 PM")],
        "outcome": Outcome.CALLBACK_REQUESTED,
        "reason": "callback_scheduled",
        "actions": [
            {"action": "schedule_callback", "at": "2026-03-05T15:00:00-05:00"},
            {"action": "end_call", "reason": "callback_scheduled", "outcome": "callback_requested"},
        ],
        "events": [("callback_requested", {"at": "2026-03-05T15:00:00-05:00"})],
    },
    {
        "id": "callback asks for a time once",
        "turns": [
            ("can you call me back later?", "When is a good time"),
            ("friday afternoon", "I'll call you back on Friday at 2:00 PM"),
        ],
        "outcome": Outcome.CALLBACK_REQUESTED,
        "reason": "callback_scheduled",
        "actions": [
            {"action": "schedule_callback", "at": "2026-03-06T14:00:00-05:00"},
            {"action": "end_call", "reason": "callback_scheduled", "outcome": "callback_requested"},
        ],
    },
    {
        "id": "callback without any usable time",
        "turns": [
            ("call me later", "When is a good time"),
            ("whenever, i don't know", "we'll try you another time"),
        ],
        "outcome": Outcome.CALLBACK_REQUESTED,
        "reason": "callback_scheduled",
        "actions": [
            {"action": "schedule_callback", "at": None},
            {"action": "end_call", "reason": "callback_scheduled", "outcome": "callback_requested"},
        ],
        "events": [("callback_requested", {"at": None})],
    },
    {
        "id": "callback withdrawn by a refusal",
        "turns": [("this isn't a good time", "When is a good time"), ("no thanks", CLOSE)],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "refused",
    },
    {
        "id": "objection then agreement",
        "turns": [
            ("um it's uh too expensive", "pay nothing upfront"),
            ("ok that sounds good", "Wonderful, Jane!"),
        ],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
        "events": [
            ("objection_matched", {"trigger": "It's too expensive", "score": 1.0}),
            ("said", {"text": "Most homeowners pay nothing upfront. Would a free quote help?"}),
            ("intent", {"intent": "agreement"}),
        ],
    },
    {
        "id": "objection beats a weak yes",
        "turns": [("sure, but it's too expensive", "pay nothing upfront")],
        "outcome": None,
    },
    {
        "id": "objection beats a refusal once",
        "turns": [("no, it's too expensive", "pay nothing upfront"), ("no thanks", CLOSE)],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "refused",
    },
    {
        "id": "repeated objection closes",
        "turns": [("too expensive", "nothing upfront"), ("it's way too pricey, i said", CLOSE)],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "objection_repeated",
    },
    {
        "id": "third objection in a row closes",
        "turns": [
            ("too expensive", "nothing upfront"),
            ("we already got a provider", "switched and saved"),
            ("how'd you get my number", CLOSE),
        ],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "too_many_objections",
    },
    {
        "id": "objections not in a row keep going",
        "turns": [
            ("too expensive", "nothing upfront"),
            ("what is this about?", WHO),
            ("we already got a provider", "switched and saved"),
            ("how'd you get my number", "public homeowner list"),
        ],
        "outcome": None,
    },
    {
        "id": "other steers back",
        "turns": [("my dog is barking, hold on", STEER), ("yes", "Wonderful")],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
    },
    {
        "id": "asked if automated",
        "turns": [("wait, are you a robot?", "I'm an automated assistant"), ("nah", CLOSE)],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "refused",
    },
    {
        "id": "who is this",
        "turns": [("Sorry, who's this?", WHO), ("sounds good", "Wonderful")],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
        "events": [("intent", {"intent": "asks_who"}), ("said", {"text": WHO})],
    },
    {
        "id": "where are you calling from",
        "turns": [("where are you calling from?", WHO), ("what's this regarding", WHO)],
        "outcome": None,
    },
    {
        "id": "yes speaking goes on with the pitch",
        "turns": [("Yes, speaking.", f"Great, thanks. {QUESTION}")],
        "outcome": None,
        "events": [("intent", {"intent": "greeting"})],
    },
    {
        "id": "hello says who is calling again",
        "turns": [("Hello?", f"Hello! {WHO}")],
        "outcome": None,
    },
    {
        "id": "a question the script cannot answer",
        "turns": [("how long does the install take?", f"go through that with you. {QUESTION}")],
        "outcome": None,
    },
    {
        "id": "silence after only asking who is calling",
        "turns": [("who is this?", WHO), (None, "still there"), (None, "lost you")],
        "outcome": Outcome.NO_CONVERSATION,
        "reason": "silence",
    },
    {
        "id": "repeat request",
        "turns": [("sorry, what?", "Hi Jane, this is Anna from Acme Solar.")],
        "outcome": None,
    },
    {
        "id": "silence, never spoke",
        "turns": [(None, "Are you still there?"), ("  ", "It seems I've lost you")],
        "outcome": Outcome.NO_CONVERSATION,
        "reason": "silence",
        "events": [("silence", {"count": 1}), ("silence", {"count": 2})],
    },
    {
        "id": "silence after speaking",
        "turns": [("hmm", STEER), (None, "Are you still there?"), (None, "lost you")],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "silence",
    },
    {
        "id": "speech resets the silence count",
        "turns": [
            (None, "still there"),
            ("what is this about?", WHO),
            (None, "still there"),
            ("sounds good", "Wonderful"),
        ],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
    },
    {
        "id": "max turns",
        "context": {"max_turns": 3},
        "turns": [
            ("my dog is barking", STEER),
            ("the weather is nice", STEER),
            ("what do you mean", "I don't want to take up more of your time"),
        ],
        "outcome": Outcome.NOT_INTERESTED,
        "reason": "max_turns",
    },
    {
        "id": "max turns in silence",
        "context": {"max_turns": 2, "max_silences": 5},
        "turns": [(None, "still there"), (None, "I don't want to take up more")],
        "outcome": Outcome.NO_CONVERSATION,
        "reason": "max_turns",
    },
    {
        "id": "a decision on the last turn still counts",
        "context": {"max_turns": 1},
        "turns": [("let's do it", "Wonderful")],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
    },
    {
        "id": "missing variables use defaults",
        "context": {"variables": {}},
        "opening": "Hi there, this is Anna",
        "turns": [("absolutely", "Wonderful! A specialist")],
        "outcome": Outcome.INTERESTED,
        "reason": "agreed",
    },
]


def _contains_in_order(events: list[dict[str, Any]], expected: list[tuple[str, dict]]) -> bool:
    position = 0
    for kind, data in expected:
        while position < len(events) and not (
            events[position]["kind"] == kind
            and all(events[position].get(key) == value for key, value in data.items())
        ):
            position += 1
        if position == len(events):
            return False
        position += 1
    return True


@pytest.mark.parametrize("row", CONVERSATIONS, ids=[row["id"] for row in CONVERSATIONS])
async def test_it_runs_the_conversation_table(row):
    agent = _agent(**row.get("context", {}))

    opening = " ".join([chunk async for chunk in agent.opening()])
    replies = [await _say(agent, heard) for heard, _ in row["turns"]]

    assert opening.startswith(row.get("opening", "Hi Jane, this is Anna"))
    for (heard, expected), reply in zip(row["turns"], replies, strict=True):
        assert expected in reply, (heard, reply)
    assert agent.outcome == row["outcome"]
    assert agent.finished is (row["outcome"] is not None)
    events = [event.as_dict() for event in agent.events]
    assert [event["seq"] for event in events] == list(range(len(events)))
    assert [event["turn"] for event in events] == sorted(event["turn"] for event in events)
    assert events[-1]["turn"] == len(row["turns"])
    assert [e["text"] for e in events if e["kind"] == "said"] == [opening, *replies]
    if "actions" in row:
        assert [action.as_dict() for action in agent.actions] == row["actions"]
    if row["outcome"] is not None:
        assert events[-1] == {
            "seq": len(events) - 1,
            "turn": len(row["turns"]),
            "kind": "ended",
            "reason": row["reason"],
            "outcome": row["outcome"].value,
        }
        assert agent.actions[-1].as_dict()["action"] == "end_call"
        assert sum(action.as_dict()["action"] == "end_call" for action in agent.actions) == 1
    else:
        assert agent.actions == []
    assert _contains_in_order(events, row.get("events", []))


@pytest.mark.parametrize(
    "heard",
    ["Sorry, who's this?", "Yes, speaking.", "Hello?", "who's calling?", "what does it cost?"],
)
async def test_replies_fit_what_was_said(heard):
    agent = _agent()
    [chunk async for chunk in agent.opening()]

    reply = await _say(agent, heard)

    # "I understand" answers a statement, not a question or a hello.
    assert not reply.startswith("I understand"), reply
    assert reply.endswith("?"), reply  # the caller knows it is their turn
    assert not agent.finished


def _objection_agent(response: str) -> ScriptedAgent:
    script = ScriptSpec(
        opening_line=SCRIPT.opening_line,
        closing_line=SCRIPT.closing_line,
        objection_responses=(
            ("not interested", response),
            ("It's too expensive", "Most homeowners pay nothing upfront."),
        ),
    )
    return ScriptedAgent(script, CallContext(variables={"first_name": "Jane"}))


@pytest.mark.parametrize(
    ("response", "said"),
    [
        # Written as a goodbye: it is one, and the call ends after it.
        ("No problem at all, have a great day!", "No problem at all, have a great day!"),
        # A statement after a refusal hands nothing back: the last line, with a goodbye.
        ("No problem, thanks for your time.", "No problem, thanks for your time. Goodbye."),
    ],
)
async def test_a_not_interested_objection_that_asks_nothing_ends_the_call(response, said):
    agent = _objection_agent(response)
    [chunk async for chunk in agent.opening()]

    reply = await _say(agent, "No thanks, I'm not interested.")

    assert reply == said
    assert agent.finished
    assert agent.outcome is Outcome.NOT_INTERESTED
    assert agent.actions[-1].as_dict() == {
        "action": "end_call",
        "reason": "objection_closed",
        "outcome": "not_interested",
    }


async def test_a_not_interested_objection_that_asks_gets_its_one_chance():
    agent = _objection_agent("Can I ask what would change your mind?")
    [chunk async for chunk in agent.opening()]

    first = await _say(agent, "I'm not interested.")
    second = await _say(agent, "no, really not interested")

    assert first == "Can I ask what would change your mind?"
    assert CLOSE in second
    assert agent.outcome is Outcome.NOT_INTERESTED


async def test_a_rebuttal_that_asks_nothing_hands_the_turn_back_with_the_question():
    agent = _objection_agent("Bye.")
    [chunk async for chunk in agent.opening()]

    reply = await _say(agent, "it's too expensive")

    assert reply == f"Most homeowners pay nothing upfront. {QUESTION}"
    assert not agent.finished


async def test_it_says_who_is_calling_from_the_variables_when_the_opening_does_not():
    script = ScriptSpec(
        opening_line="We help homeowners cut their power bill. Would you like a free quote?",
        closing_line="Great!",
    )
    variables = {"agent_name": "Alex", "business_name": "Acme Solar"}
    agent = ScriptedAgent(script, CallContext(variables=variables))
    agent.start()

    assert agent.respond("who is this?") == (
        "This is Alex, calling from Acme Solar. We help homeowners cut their power bill. "
        "Would you like a free quote?"
    )


@pytest.mark.parametrize(
    ("opening", "parts"),
    [
        (
            "Hi Nick, it's Sam from Anvil Solar, want to hear about our plan?",
            ("Hi Nick,", "It's Sam from Anvil Solar.", "", "Want to hear about our plan?"),
        ),
        (
            "Hi there, this is Alex, an AI assistant calling from Acme. We help homeowners cut "
            "their power bill with solar. Would you like a free quote?",
            (
                "Hi there,",
                "This is Alex, an AI assistant calling from Acme.",
                "We help homeowners cut their power bill with solar.",
                "Would you like a free quote?",
            ),
        ),
        ("Solar is cheaper than ever.", ("", "", "Solar is cheaper than ever.", "")),
    ],
)
def test_it_takes_the_opening_apart(opening, parts):
    found = split_opening(opening)

    assert (found.greeting, found.introduction, found.purpose, found.question) == parts


@pytest.mark.parametrize(
    ("heard", "stance"),
    [
        ([], Stance.NONE),
        (["Hello?", "Sorry, who is this?", "Yes, speaking.", "are you a robot?"], Stance.NONE),
        (["who is this?", "how much is it?"], Stance.ENGAGED),
        (["who is this?", "no thanks"], Stance.NEGATIVE),
        (["please take me off your list"], Stance.NEGATIVE),
    ],
)
def test_the_contacts_stance_is_what_they_expressed(heard, stance):
    events = [
        EngineEvent(seq=index, turn=index + 1, kind=EventKind.HEARD, data={"text": text})
        for index, text in enumerate(heard)
    ]

    assert contact_stance(events) is stance


def test_a_matched_objection_is_negative():
    agent = _agent()
    agent.start()
    agent.respond("it's too expensive")

    assert contact_stance(agent.events) is Stance.NEGATIVE


async def test_it_records_the_whole_transcript():
    agent = _agent()
    [chunk async for chunk in agent.opening()]
    await _say(agent, "it's too expensive")
    await _say(agent, None)
    await _say(agent, "stop calling me")

    assert [event.as_dict() for event in agent.events] == [
        {"seq": 0, "turn": 0, "kind": "said", "text": agent.events[0].data["text"]},
        {"seq": 1, "turn": 1, "kind": "heard", "text": "it's too expensive"},
        {"seq": 2, "turn": 1, "kind": "intent", "intent": "other"},
        {
            "seq": 3,
            "turn": 1,
            "kind": "objection_matched",
            "trigger": "It's too expensive",
            "score": 1.0,
        },
        {
            "seq": 4,
            "turn": 1,
            "kind": "said",
            "text": "Most homeowners pay nothing upfront. Would a free quote help?",
        },
        {"seq": 5, "turn": 2, "kind": "silence", "count": 1},
        {"seq": 6, "turn": 2, "kind": "said", "text": "Are you still there?"},
        {"seq": 7, "turn": 3, "kind": "heard", "text": "stop calling me"},
        {"seq": 8, "turn": 3, "kind": "intent", "intent": "opt_out"},
        {"seq": 9, "turn": 3, "kind": "opted_out"},
        {
            "seq": 10,
            "turn": 3,
            "kind": "said",
            "text": "Understood, we won't call you again. Goodbye.",
        },
        {"seq": 11, "turn": 3, "kind": "ended", "reason": "opted_out", "outcome": "do_not_call"},
    ]
    assert agent.events[0].kind is EventKind.SAID


async def test_it_schedules_in_local_wall_time_across_dst():
    # Saturday before the US spring-forward night: "tomorrow at 3" is 15:00 EDT, 19:00 UTC.
    agent = _agent(now=lambda: datetime(2026, 3, 7, 16, 0, tzinfo=NEW_YORK))

    reply = await _say(agent, "not now, call me back tomorrow at 3")

    assert "tomorrow at 3:00 PM" in reply
    assert agent.actions[0].as_dict() == {
        "action": "schedule_callback",
        "at": "2026-03-08T15:00:00-04:00",
    }


@pytest.mark.parametrize(
    ("zone", "iso"),
    [
        ("Europe/London", "2026-03-05T15:00:00+00:00"),
        ("Asia/Tokyo", "2026-03-05T15:00:00+09:00"),
        ("America/Los_Angeles", "2026-03-05T15:00:00-08:00"),
    ],
)
async def test_it_schedules_in_the_contacts_zone(zone, iso):
    # 12:00 UTC on 4 March is the 4th everywhere listed; "tomorrow" is the 5th locally.
    agent = _agent(timezone=zone, now=lambda: datetime(2026, 3, 4, 12, 0, tzinfo=UTC))

    reply = await _say(agent, "call me back tomorrow at 3")

    assert "tomorrow at 3:00 PM" in reply
    assert agent.actions[0].as_dict() == {"action": "schedule_callback", "at": iso}


async def test_it_refuses_to_reply_after_the_call_ended():
    agent = _agent()
    await _say(agent, "no thanks")

    with pytest.raises(AgentFinishedError):
        await _say(agent, "wait")


def test_it_fails_before_dialling_on_a_broken_placeholder():
    broken = ScriptSpec(opening_line="Hi {{first name}}", closing_line="Bye")

    with pytest.raises(PlaceholderError) as caught:
        ScriptedAgent(broken, CallContext())

    assert caught.value.placeholder == "{{first name}}"


def test_it_implements_the_agent_protocol():
    assert isinstance(_agent(), Agent)


def test_it_builds_scripts_from_stored_data_and_reports_placeholder_errors():
    spec = ScriptSpec.from_dict(
        {
            "opening_line": "Hi {{frist_name}}",
            "closing_line": "Bye {{first_name",
            "objection_responses": [{"trigger": "too expensive", "response": "It's free"}],
            "voicemail_message": "",
        }
    )

    errors = spec.placeholder_errors({"first_name"})

    assert spec.objection_responses[0].response == "It's free"
    assert spec.voicemail_message is None
    assert {field: [e.placeholder for e in found] for field, found in errors.items()} == {
        "opening_line": ["{{frist_name}}"],
        "closing_line": ["{{first_name"],
    }


def test_it_renders_the_voicemail():
    assert SCRIPT.voicemail_text({}) == "Hi there, Anna from Acme Solar. Call us back!"


def test_it_rejects_an_unknown_time_zone():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        CallContext(timezone="Mars/Olympus")


# --- what the agent can say before hearing anything (the TTS warm-up) -------------------------
async def test_its_known_lines_start_with_the_opening_as_rendered_and_change_nothing():
    agent = _agent()

    known = agent.known_lines()

    assert known[0] == [
        "Hi Jane, this is Anna from Acme Solar.",
        "Do you have a minute to hear how you could lower your energy bill?",
    ]
    assert known[1] == ["Wonderful, Jane!", "A specialist will call you to set up a free quote."]
    assert ["Most homeowners pay nothing upfront.", "Would a free quote help?"] in known
    assert agent.events == []  # nothing was said
    assert [chunk async for chunk in agent.opening()] == known[0]


@pytest.mark.parametrize(
    "turns",
    [
        ["sure, book it"],
        ["no thanks"],
        ["It's too expensive", "We already have a provider"],
        ["Sorry, who's this?", "Hello?", "Yes, speaking.", "are you a robot?"],
        ["what does it cost?", "hmm", "say that again?"],
        [None, None],
        ["call me back later", "whenever"],
        ["take me off your list"],
    ],
)
async def test_every_reply_that_names_no_time_is_among_its_known_lines(turns):
    agent = _agent()
    known = agent.known_lines()
    [chunk async for chunk in agent.opening()]

    for heard in turns:
        reply = [chunk async for chunk in agent.reply(heard)]
        assert reply in known, reply
