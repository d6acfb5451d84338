"""`sessions.live.conversation`: the pipeline's verdict and the carrier's end meet exactly once.

Twilio's `completed` callback and the stream's close race. Whichever comes last sends
`session_finished`, once, and the campaign always sees the agent's outcome.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.apps import apps as django_apps
from django.utils import timezone

from anvil_voice.speech.codec import frames_20ms
from scripts.engine import CallContext, ScriptedAgent, ScriptSpec
from scripts.factories import ScriptFactory
from sessions.carrier.status import session_finish
from sessions.factories import CallSessionFactory
from sessions.live.consumer import (
    DatabaseSink,
    LiveCallConsumer,
    build_agent,
    conversation_result,
)
from sessions.live.conversation import (
    ConversationResult,
    session_close_abandoned_conversations,
    session_conversation_close,
    session_conversation_note,
    session_conversation_open,
)
from sessions.models import (
    AnsweredBy,
    CallEvent,
    CallEventKind,
    CallSession,
    CallStatus,
    ConversationState,
    TranscriptTurn,
)
from sessions.pipeline import CallEndReason, CallPipeline, ManualClock
from sessions.pipeline.turns import PipelineResult, PipelineStats, Speaker, Turn
from sessions.selectors import session_tool_calls
from sessions.signals import session_finished
from tests.sessions.pipeline.pipeline_support import FakeRecognizer, FakeVoice, Line, piper

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished() -> Any:
    sent: list[tuple[int, str]] = []

    def receiver(sender: Any, session: CallSession, **kwargs: Any) -> None:
        sent.append((session.pk, session.outcome))

    session_finished.connect(receiver, dispatch_uid="test-conversation-finished")
    yield sent
    session_finished.disconnect(dispatch_uid="test-conversation-finished")


def live_session(**fields: Any) -> CallSession:
    script = ScriptFactory(opening_line="Hi {{first_name|there}}, want to hear more?")
    fields.setdefault("status", CallStatus.IN_PROGRESS)
    fields.setdefault("answered_by", AnsweredBy.HUMAN)
    return CallSessionFactory(
        organization=script.organization,
        script_version=script.versions.get(),
        variables={"first_name": "Ivy"},
        **fields,
    )


def result(outcome: str | None = "interested", **fields: Any) -> ConversationResult:
    values: dict[str, Any] = {
        "outcome": outcome,
        "end_reason": "agreed",
        "contact_spoke": True,
        "hung_up_by_us": True,
        "extracted": {"objections": [{"trigger": "Too expensive", "turn": 1}]},
        "summary": "Interested after 1 contact turn.",
        "turns": [
            {"index": 0, "speaker": "agent", "text": "Hi Ivy", "start_ms": 0, "end_ms": 900},
            {"index": 1, "speaker": "contact", "text": "Sure", "start_ms": 1200, "end_ms": 1600},
        ],
    }
    values.update(fields)
    return ConversationResult(**values)


def test_opening_loads_the_setup_and_marks_the_conversation_open():
    session = live_session()

    setup = session_conversation_open(session_id=session.pk)

    assert setup is not None
    assert setup.script["opening_line"].startswith("Hi {{first_name|there}}")
    assert setup.variables == {"business_name": session.organization.name, "first_name": "Ivy"}
    assert setup.time_zone == "UTC"
    assert CallEvent.objects.filter(
        session=session, kind=CallEventKind.CONVERSATION_STARTED
    ).exists()


def test_the_conversation_state_is_on_the_row_and_moves_once_each_way():
    session = live_session()

    first = session_conversation_open(session_id=session.pk)
    again = session_conversation_open(session_id=session.pk)
    session.refresh_from_db()
    state_while_open = session.conversation_state
    closed = session_conversation_close(session_id=session.pk, result=result())
    closed_again = session_conversation_close(session_id=session.pk, result=result("busy"))
    session.refresh_from_db()

    assert first is not None
    assert again is None  # one call, one conversation
    assert state_while_open == ConversationState.OPEN
    assert (closed, closed_again) == (True, False)
    assert session.conversation_state == ConversationState.CLOSED
    assert session.outcome == "interested"
    # One audit row per transition.
    kinds = list(CallEvent.objects.filter(session=session).values_list("kind", flat=True))
    assert sorted(kinds) == [CallEventKind.CONVERSATION_ENDED, CallEventKind.CONVERSATION_STARTED]


def test_a_conversation_that_never_opened_is_not_closed():
    session = live_session()

    assert not session_conversation_close(session_id=session.pk, result=result())
    session.refresh_from_db()
    assert session.conversation_state == ConversationState.NONE
    assert session.outcome == ""


def test_the_migration_names_the_state_the_events_implied():
    backfill = importlib.import_module(
        "sessions.migrations.0004_conversation_state_and_outcome_applied"
    ).backfill
    talking, done, silent = live_session(), live_session(), live_session()
    for session in (talking, done):
        CallEvent.objects.create(session=session, kind=CallEventKind.CONVERSATION_STARTED)
    CallEvent.objects.create(session=done, kind=CallEventKind.CONVERSATION_ENDED)

    backfill(django_apps, None)

    states = dict(
        CallSession.objects.filter(pk__in=[talking.pk, done.pk, silent.pk]).values_list(
            "pk", "conversation_state"
        )
    )
    assert states == {talking.pk: "open", done.pk: "closed", silent.pk: "none"}


def test_a_session_without_a_script_has_no_conversation():
    session = CallSessionFactory(status=CallStatus.IN_PROGRESS)

    assert session_conversation_open(session_id=session.pk) is None
    assert not CallEvent.objects.filter(session=session).exists()


@pytest.mark.django_db(transaction=True)
def test_the_carrier_ending_first_waits_for_the_conversation(finished):
    session = live_session()
    session_conversation_open(session_id=session.pk)

    assert session_finish(session_id=session.pk, status=CallStatus.COMPLETED)
    assert finished == []  # held back: the agent has not reported yet

    assert session_conversation_close(session_id=session.pk, result=result())
    assert finished == [(session.pk, "interested")]
    session.refresh_from_db()
    assert session.end_reason == "agreed"
    assert session.extracted["objections"][0]["trigger"] == "Too expensive"
    assert list(session.turns.values_list("text", flat=True)) == ["Hi Ivy", "Sure"]
    # A second close (the sink and the consumer both try) changes nothing.
    assert not session_conversation_close(session_id=session.pk, result=result("busy"))
    assert finished == [(session.pk, "interested")]


@pytest.mark.django_db(transaction=True)
def test_the_conversation_ending_first_lets_the_carrier_send_the_signal(finished):
    session = live_session()
    session_conversation_open(session_id=session.pk)

    session_conversation_close(session_id=session.pk, result=result("not_interested"))
    assert finished == []  # the call is still up at the carrier

    session_finish(session_id=session.pk, status=CallStatus.COMPLETED)
    assert finished == [(session.pk, "not_interested")]


@pytest.mark.django_db(transaction=True)
def test_the_note_before_our_hang_up_wins_over_the_preliminary_outcome(finished):
    session = live_session()
    session_conversation_open(session_id=session.pk)

    session_conversation_note(session_id=session.pk, result=result("do_not_call"))
    session_finish(session_id=session.pk, status=CallStatus.COMPLETED)
    session.refresh_from_db()

    assert session.outcome == "do_not_call"  # not the carrier's "completed"
    assert finished == []


def test_turns_the_sink_already_stored_are_kept():
    session = live_session()
    session_conversation_open(session_id=session.pk)
    TranscriptTurn.objects.create(session=session, index=0, speaker="agent", text="Hi Ivy (live)")

    session_conversation_close(session_id=session.pk, result=result())

    assert list(session.turns.values_list("text", flat=True)) == ["Hi Ivy (live)", "Sure"]


@pytest.mark.parametrize(
    ("answered_by", "outcome", "spoke", "stance", "hung_up_by_us", "stored"),
    [
        # A machine answered: whatever the agent made of the greeting, it is a voicemail.
        (AnsweredBy.MACHINE, "interested", True, "engaged", True, "voicemail"),
        # They said no (or objected), then hung up on us before a decision: a no, not a retry.
        (AnsweredBy.HUMAN, None, True, "negative", False, "not_interested"),
        # They only said hello or asked who was calling, then hung up: not a no.
        (AnsweredBy.HUMAN, None, True, "none", False, "no_conversation"),
        # They took part, said neither yes nor no, and hung up: a call, not a refusal.
        (AnsweredBy.HUMAN, None, True, "engaged", False, "completed"),
        # Nobody spoke: the carrier's preliminary outcome stands.
        (AnsweredBy.HUMAN, None, False, "none", False, ""),
        (AnsweredBy.HUMAN, "callback_requested", True, "engaged", True, "callback_requested"),
    ],
)
def test_the_stored_outcome(answered_by, outcome, spoke, stance, hung_up_by_us, stored):
    session = live_session(answered_by=answered_by)
    session_conversation_open(session_id=session.pk)

    session_conversation_close(
        session_id=session.pk,
        result=result(
            outcome, contact_spoke=spoke, contact_stance=stance, hung_up_by_us=hung_up_by_us
        ),
    )
    session.refresh_from_db()

    assert session.outcome == stored


@pytest.mark.parametrize(
    ("carrier_said", "outcome", "stored"),
    [
        # AMD calls most menus a machine: a menu we heard is a menu, and whether a person was
        # reached after it is the outcome.
        (AnsweredBy.MACHINE, "ivr_unresolved", "ivr_unresolved"),
        (AnsweredBy.MACHINE, "interested", "interested"),
        (AnsweredBy.HUMAN, "ivr_unresolved", "ivr_unresolved"),
    ],
)
def test_a_phone_menu_is_told_apart_from_a_machine_and_a_person(carrier_said, outcome, stored):
    session = live_session(answered_by=carrier_said)
    session_conversation_open(session_id=session.pk)

    session_conversation_close(
        session_id=session.pk,
        result=result(outcome, answered_by="ivr", end_reason="ivr_unresolved"),
    )
    session.refresh_from_db()

    assert session.answered_by == AnsweredBy.IVR
    assert session.outcome == stored


def _hung_up_on_after(*heard: str) -> PipelineResult:
    """A call the contact ended after saying ``heard``, with the scripted agent's real events."""
    agent = ScriptedAgent(
        ScriptSpec(
            opening_line="Hi Ivy, it's Sam from Anvil Solar, want to hear about our plan?",
            closing_line="Great, goodbye!",
            objection_responses=(("too expensive", "It costs nothing to start, shall I?"),),
        ),
        CallContext(),
    )
    agent.start()
    turns = [Turn(index=0, speaker=Speaker.AGENT, text="Hi Ivy", start_ms=0, end_ms=900)]
    for text in heard:
        reply = agent.respond(text)
        for speaker, said in ((Speaker.CONTACT, text), (Speaker.AGENT, reply)):
            at = len(turns) * 1000
            turns.append(Turn(index=len(turns), speaker=speaker, text=said, start_ms=at, end_ms=at))
    assert not agent.finished
    return PipelineResult(
        end_reason=CallEndReason.STREAM_STOPPED,
        outcome=None,
        agent_end_reason=None,
        actions=[],
        turns=turns,
        events=[],
        engine_events=list(agent.events),
        hung_up=False,
        abandonment_ms=None,
        duration_ms=5000,
        stats=PipelineStats(),
    )


@pytest.mark.parametrize(
    ("heard", "stored"),
    [
        # "Who is this?" and gone: nobody said no (it was the not_interested of issue 13).
        (["Sorry, who is this?"], "no_conversation"),
        (["Yes, speaking.", "who's calling?"], "no_conversation"),
        (["who is this?", "how long does it take?"], "completed"),
        (["who is this?", "it's too expensive"], "not_interested"),
    ],
)
def test_a_contact_who_hangs_up_is_counted_by_what_they_expressed(heard, stored):
    session = live_session()
    session_conversation_open(session_id=session.pk)

    result = conversation_result(_hung_up_on_after(*heard))
    session_conversation_close(session_id=session.pk, result=result)
    session.refresh_from_db()

    assert result.end_reason == "contact_hung_up"
    assert (session.outcome, session.end_reason) == (stored, "contact_hung_up")


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_closes_conversations_whose_consumer_died(finished):
    session = live_session()
    session_conversation_open(session_id=session.pk)
    ended = timezone.now() - timedelta(minutes=5)
    session_finish(session_id=session.pk, status=CallStatus.COMPLETED, ended_at=ended)
    recent = live_session()
    session_conversation_open(session_id=recent.pk)
    session_finish(session_id=recent.pk, status=CallStatus.COMPLETED)

    assert session_close_abandoned_conversations() == 1
    assert finished == [(session.pk, "completed")]  # the carrier's outcome: nothing invented
    session.refresh_from_db()
    assert session.end_reason == "conversation_lost"
    assert session_close_abandoned_conversations() == 0


def test_how_long_the_sweeper_waits_is_a_setting(settings):
    session = live_session()
    session_conversation_open(session_id=session.pk)
    ended = timezone.now() - timedelta(seconds=30)
    session_finish(session_id=session.pk, status=CallStatus.COMPLETED, ended_at=ended)

    assert session_close_abandoned_conversations() == 0  # 120 s by default
    settings.CALL_CONVERSATION_ABANDONED_SECONDS = 20
    assert session_close_abandoned_conversations() == 1


@pytest.mark.django_db(transaction=True)
def test_an_opt_out_on_a_test_call_reaches_the_do_not_call_list():
    from campaigns.models import DoNotCallEntry
    from sessions.models import SessionKind

    session = live_session(kind=SessionKind.TEST, to_number="+12025550177")
    session_conversation_open(session_id=session.pk)
    session_conversation_close(
        session_id=session.pk,
        result=result("do_not_call", extracted={"opt_out_via": "dtmf"}),
    )

    session_finish(session_id=session.pk, status=CallStatus.COMPLETED)

    entry = DoNotCallEntry.objects.get(organization=session.organization)
    assert (entry.phone_number, entry.source) == ("+12025550177", DoNotCallEntry.Source.DTMF)


class _ClosedPipeline:
    """What the consumer sees of a pipeline at disconnect: its result."""

    def __init__(self, result: PipelineResult) -> None:
        self.result = result

    async def close(self) -> PipelineResult:
        return self.result


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("sink_closed", "closes"), [(True, 0), (False, 1)])
async def test_the_consumer_stores_the_result_only_when_the_sink_did_not(sink_closed, closes):
    session = await database_sync_to_async(live_session)()
    setup = await database_sync_to_async(session_conversation_open)(session_id=session.pk)
    assert setup is not None
    consumer = LiveCallConsumer()
    consumer.channel_layer = InMemoryChannelLayer()
    consumer.channel_name = "test.consumer"
    consumer.setup = setup
    consumer.sink = DatabaseSink(setup)
    consumer.sink.closed = sink_closed  # its on_end stored the result (or ran out of time)
    consumer.pipeline = _ClosedPipeline(  # type: ignore[assignment]
        PipelineResult(
            end_reason=CallEndReason.DISCONNECTED,
            outcome=None,
            agent_end_reason=None,
            actions=[],
            turns=[],
            events=[],
            engine_events=[],
            hung_up=False,
            abandonment_ms=None,
            duration_ms=0,
            stats=PipelineStats(),
        )
    )

    await consumer.on_disconnect(1000)

    ended = CallEvent.objects.filter(session=session, kind=CallEventKind.CONVERSATION_ENDED)
    assert await database_sync_to_async(ended.count)() == closes


@pytest.mark.django_db(transaction=True)
async def test_an_opt_out_said_as_the_caller_hangs_up_is_stored_and_reaches_the_list():
    from campaigns.models import DoNotCallEntry
    from sessions.models import SessionKind

    opt_out = "Take me off your list."
    session = await database_sync_to_async(live_session)(
        kind=SessionKind.TEST, to_number="+12025550178"
    )
    setup = await database_sync_to_async(session_conversation_open)(session_id=session.pk)
    assert setup is not None
    clock = ManualClock(1000.0)
    line = Line(clock)
    sink = DatabaseSink(setup)
    pipeline = CallPipeline(
        agent=build_agent(setup),
        voice=FakeVoice(),
        voice_id="fake:voice",
        recognizer=FakeRecognizer(["Hello?", opt_out]),
        send=line.send,
        hang_up=line.hang_up,
        sink=sink,
        clock=clock,
    )
    line.pipeline = pipeline
    pipeline.start("MZ1")
    await line.run(piper("Hello?"), seconds=1.5)
    await line.until(lambda: len(pipeline.turns) >= 2)
    await line.run(seconds=0.5)
    for frame in frames_20ms(piper(opt_out)):  # said, and the line goes dead at once
        await line.step(frame)
    pipeline.on_stop()
    await pipeline.close()

    assert sink.closed
    session = await CallSession.objects.aget(pk=session.pk)
    assert (session.outcome, session.end_reason) == ("do_not_call", "contact_hung_up")
    assert session.extracted["opt_out_via"] == "speech"
    texts = [turn.text async for turn in TranscriptTurn.objects.filter(session=session)]
    assert texts[-1] == opt_out
    await database_sync_to_async(session_finish)(session_id=session.pk, status=CallStatus.COMPLETED)
    entry = await DoNotCallEntry.objects.aget(organization_id=session.organization_id)
    assert (entry.phone_number, entry.source) == ("+12025550178", DoNotCallEntry.Source.OPT_OUT)


def test_the_agents_tool_calls_are_stored_with_the_conversation_and_read_back():
    session = live_session()
    setup = session_conversation_open(session_id=session.pk)
    assert setup is not None
    # The live call signs its tool requests with the script's own secret.
    assert setup.tool_secret == session.script_version.script.tool_secret
    event = {
        "seq": 3,
        "turn": 1,
        "kind": "engine.tool_called",
        "id": "call_0",
        "name": "book_slot",
        "tool_kind": "http",
        "arguments": {"day": "Friday"},
        "ok": False,
        "error": "The tool answered HTTP 500.",
        "latency_ms": 12.0,
    }

    session_conversation_close(session_id=session.pk, result=result(events=[event]))

    [call] = session_tool_calls(session=session)
    assert {key: value for key, value in call.items() if key != "at"} == {
        "id": "call_0",
        "turn": 1,
        "name": "book_slot",
        "kind": "http",
        "arguments": {"day": "Friday"},
        "ok": False,
        "result": None,
        "error": "The tool answered HTTP 500.",
        "latencyMs": 12.0,
    }
