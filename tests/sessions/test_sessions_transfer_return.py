"""A caller back from a warm transfer nobody took: the session's conversation reopens once, for
the agent that offers a callback, and its turns and result continue the same session; a stream
claiming a return we never sent gets the apology, not silence."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from scripts.engine import TransferReturnAgent
from sessions.live import consumer as consumer_module
from sessions.live.consumer import LiveCallConsumer, build_agent, pipeline_config
from sessions.live.conversation import (
    session_conversation_close,
    session_conversation_open,
    session_conversation_resume,
)
from sessions.live.stream import StreamStart
from sessions.models import CallEvent, CallEventKind, ConversationState, Transfer
from sessions.transfers import TRANSFER_FAILED_LINE
from tests.sessions.test_sessions_conversation import live_session, result
from tests.sessions.test_sessions_transfers import FakeCarrier


def unanswered(session: Any, **fields: Any) -> Transfer:
    values: dict[str, Any] = {
        "organization": session.organization,
        "session": session,
        "mode": "warm",
        "target_number": "+12125550119",
        "reason": "agreement",
        "state": "no_answer",
        "returned_at": timezone.now(),
    }
    values.update(fields)
    return Transfer.objects.create(**values)


def transferred(session: Any) -> None:
    session_conversation_open(session_id=session.pk)
    session_conversation_close(
        session_id=session.pk, result=result("transferred", end_reason="transferred")
    )


@pytest.mark.django_db
def test_the_return_reopens_the_conversation_for_the_callback_offer():
    session = live_session()
    transferred(session)
    transfer = unanswered(session)

    setup = session_conversation_resume(session_id=session.pk, transfer_id=str(transfer.pk))

    assert setup is not None
    assert (setup.transfer_return_reason, setup.turn_offset) == ("agreement", 2)
    assert setup.recording_disclosure == ""
    assert isinstance(build_agent(setup), TransferReturnAgent)
    assert pipeline_config(setup).ivr_target is None
    session.refresh_from_db()
    assert session.conversation_state == ConversationState.OPEN
    started = CallEvent.objects.filter(session=session, kind=CallEventKind.CONVERSATION_STARTED)
    assert [event.data for event in started] == [{}, {"resumed_from_transfer": transfer.pk}]
    # Once: a second stream for the same return is refused.
    assert session_conversation_resume(session_id=session.pk, transfer_id=str(transfer.pk)) is None

    turn = {"speaker": "agent", "text": "We'll call you back.", "start_ms": 0, "end_ms": 900}
    closed = session_conversation_close(
        session_id=session.pk,
        result=result(
            "callback_requested",
            end_reason="callback_scheduled",
            extracted={"callback_at": "2026-03-04T15:00:00-05:00"},
            turns=[{"index": 2, **turn}],
        ),
    )

    assert closed
    session.refresh_from_db()
    assert (session.outcome, session.end_reason) == ("callback_requested", "callback_scheduled")
    assert session.extracted["callback_at"] == "2026-03-04T15:00:00-05:00"
    assert list(session.turns.order_by("index").values_list("index", flat=True)) == [0, 1, 2]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"returned_at": None},  # nobody sent the caller back
        {"state": "completed"},  # the person answered
        {"mode": "cold"},
    ],
)
def test_only_a_warm_transfer_sent_back_unanswered_reopens_it(fields):
    session = live_session()
    transferred(session)
    transfer = unanswered(session, **fields)
    assert session_conversation_resume(session_id=session.pk, transfer_id=str(transfer.pk)) is None
    session.refresh_from_db()
    assert session.conversation_state == ConversationState.CLOSED


@pytest.mark.django_db
def test_a_return_before_the_first_conversation_closed_can_be_claimed_again_later():
    session = live_session()
    session_conversation_open(session_id=session.pk)  # still closing
    transfer = unanswered(session)
    assert session_conversation_resume(session_id=session.pk, transfer_id=str(transfer.pk)) is None
    transfer.refresh_from_db()
    assert transfer.resumed_at is None  # the claim rolled back
    session_conversation_close(
        session_id=session.pk, result=result("transferred", end_reason="transferred")
    )
    assert session_conversation_resume(session_id=session.pk, transfer_id=str(transfer.pk))


@pytest.mark.django_db(transaction=True)
async def test_a_stream_claiming_a_return_we_never_sent_hears_the_apology(settings, monkeypatch):
    from sessions import transfers

    settings.CALL_PIPELINE = True
    session = await database_sync_to_async(live_session)(carrier_call_sid="CA" + "f" * 32)
    await database_sync_to_async(transferred)(session)
    carrier = FakeCarrier()
    monkeypatch.setattr(transfers, "get_carrier", lambda: carrier)
    monkeypatch.setattr(consumer_module, "RESUME_WAIT_SECONDS", 0.3)
    consumer = LiveCallConsumer()
    consumer.session_id = session.pk

    await consumer.on_start(
        StreamStart(
            stream_sid="MZ" + "1" * 32,
            call_sid=session.carrier_call_sid,
            custom_parameters={"session": session.token, "transfer_return": "999"},
        )
    )

    assert consumer.pipeline is None
    assert carrier.messages == [(session.carrier_call_sid, TRANSFER_FAILED_LINE)]
