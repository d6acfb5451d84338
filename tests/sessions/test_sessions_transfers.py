"""Transfers service by service: the target checked again at the call, carrier failures that
never drop the caller in silence, the `<Dial action>` report applied once, signed; warm
transfers: the conference and the person's leg asked of the carrier, the leg's status callbacks
applied once, the caller sent back to the agent when nobody answered, and that return accepted
once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from twilio.request_validator import RequestValidator

from anvil_voice.telephony.carrier import (
    ColdTransfer,
    OutboundCall,
    ReturnToAgent,
    TransferError,
    WarmTransfer,
)
from campaigns.dialling.gate import check_transfer_target
from campaigns.models import DoNotCallEntry
from scripts.engine import TransferCall, TransferMode, TransferReason, TransferTargetKind
from sessions.live.conversation import ConversationResult, session_conversation_close
from sessions.models import CallEvent, CallSession, Transfer
from sessions.transfers import (
    TRANSFER_FAILED_LINE,
    DialResult,
    LegStatus,
    session_transfer_answered,
    session_transfer_dial_result,
    session_transfer_leg_status,
    session_transfer_resume,
    session_transfer_start,
    session_transfer_timed_out,
    transfer_target_problem,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY

pytestmark = pytest.mark.django_db

PUBLIC = "https://voice.example.com"
TOKEN = "transfer-test-token"
DESK = "+12125550118"
CALL_SID = "CA" + "c" * 32
LEG_SID = "CA" + "e" * 32


class FakeCarrier:
    name = "fake"

    def __init__(
        self, error: TransferError | None = None, return_error: TransferError | None = None
    ) -> None:
        self.error = error
        self.return_error = return_error
        self.transfers: list[tuple[str, ColdTransfer | WarmTransfer]] = []
        self.messages: list[tuple[str, str]] = []
        self.returns: list[tuple[str, ReturnToAgent]] = []
        self.cancelled: list[str] = []

    def transfer_cold(self, call: OutboundCall, transfer: ColdTransfer) -> None:
        if self.error is not None:
            raise self.error
        self.transfers.append((call.call_sid, transfer))

    def transfer_warm(self, call: OutboundCall, transfer: WarmTransfer) -> str:
        if self.error is not None:
            raise self.error
        self.transfers.append((call.call_sid, transfer))
        return LEG_SID

    def return_to_stream(self, call: OutboundCall, back: ReturnToAgent) -> None:
        if self.return_error is not None:
            raise self.return_error
        self.returns.append((call.call_sid, back))

    def cancel_leg(self, leg_sid: str) -> None:
        self.cancelled.append(leg_sid)

    def end_with_message(self, call: OutboundCall, text: str) -> None:
        self.messages.append((call.call_sid, text))

    def hang_up(self, call: OutboundCall) -> None:
        raise AssertionError("a transfer ends the call with words, not a plain hang-up")


@pytest.fixture(autouse=True)
def _twilio(settings) -> None:
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""


@pytest.fixture(autouse=True)
def _inside_the_desks_calling_window() -> Iterator[None]:
    # The target (a New York number) is a person by default: rung only 08:00-21:00 there.
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        yield


@pytest.fixture
def session(acme) -> CallSession:
    return CallSession.objects.create(
        organization=acme,
        to_number="+12125550104",
        from_number="+15005550006",
        status="in_progress",
        carrier_call_sid=CALL_SID,
        outcome="transferred",
        end_reason="transferred",
    )


def transfer_call(number: str = DESK, mode: TransferMode = TransferMode.COLD) -> TransferCall:
    return TransferCall(number, mode, 20, TransferReason.REQUEST)


def test_it_moves_the_call_to_the_target_with_a_signed_action(session):
    carrier = FakeCarrier()
    transfer = session_transfer_start(
        session_id=session.pk, action=transfer_call(), carrier=carrier
    )
    assert transfer is not None
    assert (transfer.state, transfer.target_number, transfer.reason) == (
        "dialling",
        DESK,
        "request",
    )
    [(sid, request)] = carrier.transfers
    assert sid == CALL_SID
    assert request == ColdTransfer(
        target=DESK,
        caller_id="+15005550006",
        timeout_seconds=20,
        action_url=f"{PUBLIC}/telephony/twilio/transfer/{transfer.pk}/?session={session.token}",
    )
    assert carrier.messages == []
    assert CallEvent.objects.filter(session=session, kind="transfer_requested").count() == 1


def test_a_target_on_the_do_not_call_list_is_refused_and_the_caller_told(session, acme):
    DoNotCallEntry.objects.create(organization=acme, phone_number=DESK)
    carrier = FakeCarrier()
    transfer = session_transfer_start(
        session_id=session.pk, action=transfer_call(), carrier=carrier
    )
    assert transfer is not None
    assert transfer.state == "failed"
    assert "do_not_call" in transfer.error_message
    assert carrier.transfers == []
    assert carrier.messages == [(CALL_SID, TRANSFER_FAILED_LINE)]
    session.refresh_from_db()
    assert (session.outcome, session.end_reason) == ("callback_requested", "transfer_failed")


@pytest.mark.parametrize("number", ["2125550118", "+12125550104"])
def test_a_target_that_is_no_number_or_the_caller_is_refused(session, number):
    carrier = FakeCarrier()
    transfer = session_transfer_start(
        session_id=session.pk, action=transfer_call(number), carrier=carrier
    )
    assert transfer is not None
    assert transfer.state == "failed"
    assert carrier.messages == [(CALL_SID, TRANSFER_FAILED_LINE)]


def test_a_carrier_error_tells_the_caller_instead_of_dropping_them(session):
    carrier = FakeCarrier(TransferError("Twilio is down", carrier_code="20500"))
    transfer = session_transfer_start(
        session_id=session.pk, action=transfer_call(), carrier=carrier
    )
    assert transfer is not None
    assert (transfer.state, transfer.carrier_status) == ("failed", "20500")
    assert carrier.messages == [(CALL_SID, TRANSFER_FAILED_LINE)]


def test_a_call_that_already_ended_is_not_spoken_to(session):
    carrier = FakeCarrier(TransferError("gone", call_ended=True))
    session_transfer_start(session_id=session.pk, action=transfer_call(), carrier=carrier)
    assert carrier.messages == []


def dialling(session: CallSession) -> Transfer:
    transfer = session_transfer_start(
        session_id=session.pk, action=transfer_call(), carrier=FakeCarrier()
    )
    assert transfer is not None
    return transfer


def test_an_answered_leg_is_completed_once_with_its_talk_time(session):
    transfer = dialling(session)
    result = DialResult(status="completed", duration_seconds=42, leg_sid="CA" + "d" * 32)
    twiml = session_transfer_dial_result(
        transfer_id=transfer.pk, session_token=session.token, result=result
    )
    assert twiml == "<Response><Hangup/></Response>"
    transfer.refresh_from_db()
    assert (transfer.state, transfer.talk_seconds) == ("completed", 42)
    assert transfer.answered_at is not None
    # A repeated report changes nothing.
    again = DialResult(status="no-answer", duration_seconds=0, leg_sid="")
    session_transfer_dial_result(transfer_id=transfer.pk, session_token=session.token, result=again)
    transfer.refresh_from_db()
    assert transfer.state == "completed"
    assert CallEvent.objects.filter(session=session, kind="transfer_ended").count() == 1
    session.refresh_from_db()
    assert session.outcome == "transferred"


@pytest.mark.parametrize(
    ("status", "state"), [("busy", "busy"), ("no-answer", "no_answer"), ("failed", "failed")]
)
def test_a_leg_nobody_took_apologises_and_asks_for_a_callback(session, status, state):
    transfer = dialling(session)
    twiml = session_transfer_dial_result(
        transfer_id=transfer.pk,
        session_token=session.token,
        result=DialResult(status=status, duration_seconds=0, leg_sid=""),
    )
    assert TRANSFER_FAILED_LINE in twiml
    assert twiml.endswith("<Hangup /></Response>")
    transfer.refresh_from_db()
    assert transfer.state == state
    session.refresh_from_db()
    assert session.outcome == "callback_requested"
    assert session.extracted["callback_at"] is None
    # The stream's close, arriving after, does not put "transferred" back.
    session_conversation_close(
        session_id=session.pk,
        result=ConversationResult(
            outcome="transferred",
            end_reason="transferred",
            contact_spoke=True,
            hung_up_by_us=True,
            extracted={},
            summary="",
        ),
    )
    session.refresh_from_db()
    assert session.outcome == "callback_requested"


def test_another_sessions_token_reaches_no_transfer(session):
    transfer = dialling(session)
    twiml = session_transfer_dial_result(
        transfer_id=transfer.pk,
        session_token="not-the-token",
        result=DialResult(status="no-answer", duration_seconds=0, leg_sid=""),
    )
    assert twiml == "<Response><Hangup/></Response>"
    transfer.refresh_from_db()
    assert transfer.state == "dialling"


def post(client: Any, path: str, params: dict[str, str], *, token: str = TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_the_dial_action_is_signed_and_answers_twiml(client, session):
    transfer = dialling(session)
    path = f"/telephony/twilio/transfer/{transfer.pk}/?session={session.token}"
    params = {"DialCallStatus": "completed", "DialCallDuration": "7", "DialCallSid": "CA1"}
    assert post(client, path, params, token="forged").status_code == 403
    transfer.refresh_from_db()
    assert transfer.state == "dialling"
    response = post(client, path, params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content == b"<Response><Hangup/></Response>"
    transfer.refresh_from_db()
    assert (transfer.state, transfer.talk_seconds) == ("completed", 7)


def warm(session: CallSession, carrier: FakeCarrier | None = None) -> Transfer:
    transfer = session_transfer_start(
        session_id=session.pk,
        action=transfer_call(mode=TransferMode.WARM),
        carrier=carrier or FakeCarrier(),
    )
    assert transfer is not None
    return transfer


def test_a_warm_transfer_holds_the_caller_and_calls_the_person(session):
    carrier = FakeCarrier()
    transfer = warm(session, carrier)
    assert (transfer.state, transfer.mode, transfer.carrier_leg_sid) == (
        "dialling",
        "warm",
        LEG_SID,
    )
    base = f"{PUBLIC}/telephony/twilio/transfer/{transfer.pk}"
    query = f"?session={session.token}"
    assert carrier.transfers == [
        (
            CALL_SID,
            WarmTransfer(
                target=DESK,
                caller_id="+15005550006",
                timeout_seconds=20,
                conference=f"anvil-transfer-{transfer.pk}",
                hold_url=f"{base}/hold/{query}",
                briefing_url=f"{base}/briefing/{query}",
                leg_status_url=f"{base}/leg/{query}",
            ),
        )
    ]
    assert carrier.messages == []


def test_a_warm_transfer_the_carrier_refuses_tells_the_caller(session):
    carrier = FakeCarrier(error=TransferError("Twilio said no", carrier_code="21210"))
    transfer = warm(session, carrier)
    assert (transfer.state, transfer.carrier_status) == ("failed", "21210")
    assert carrier.messages == [(CALL_SID, TRANSFER_FAILED_LINE)]
    session.refresh_from_db()
    assert session.outcome == "callback_requested"


def test_a_warm_transfer_briefs_the_person_then_joins_them_to_the_caller(session):
    from sessions.models import TranscriptTurn

    session.variables = {"first_name": "Jo", "last_name": "Park"}
    session.save()
    for index, (speaker, text) in enumerate(
        [("agent", "Hi Jo, want our plan?"), ("contact", "Can I talk to a person?")]
    ):
        TranscriptTurn.objects.create(session=session, index=index, speaker=speaker, text=text)
    transfer = warm(session)

    twiml = session_transfer_answered(transfer_id=transfer.pk, session_token=session.token)

    assert twiml == (
        "<Response><Say>Transfer from the calling agent: Jo Park. They asked to talk to a "
        "person. We said: Hi Jo, want our plan? They said: Can I talk to a person? "
        'Connecting you now.</Say><Dial><Conference beep="false" endConferenceOnExit="true" '
        f'startConferenceOnEnter="true">anvil-transfer-{transfer.pk}</Conference></Dial>'
        "</Response>"
    )
    transfer.refresh_from_db()
    assert transfer.state == "answered"
    assert transfer.answered_at is not None


def leg(transfer: Transfer, status: str, sequence: int, **kwargs: Any) -> None:
    carrier = kwargs.pop("carrier", None)
    session_transfer_leg_status(
        transfer_id=transfer.pk,
        session_token=transfer.session.token,
        leg=LegStatus(status=status, leg_sid=LEG_SID, sequence=sequence, **kwargs),
        carrier=carrier,
    )
    transfer.refresh_from_db()


def test_the_persons_leg_is_recorded_as_it_goes_and_completed_once(session):
    transfer = warm(session)
    leg(transfer, "initiated", 0)
    leg(transfer, "ringing", 1)
    assert transfer.state == "dialling"
    leg(transfer, "in-progress", 2)
    assert transfer.state == "answered"
    answered_at = transfer.answered_at
    assert answered_at is not None
    leg(transfer, "completed", 3, duration_seconds=42)
    assert (transfer.state, transfer.talk_seconds, transfer.answered_at) == (
        "completed",
        42,
        answered_at,
    )
    leg(transfer, "completed", 3, duration_seconds=99)  # a repeat changes nothing
    assert transfer.talk_seconds == 42
    assert [event["status"] for event in transfer.leg_events] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "completed",
    ]
    assert [event["sequence"] for event in transfer.leg_events][:4] == [0, 1, 2, 3]
    assert CallEvent.objects.filter(session=session, kind="transfer_ended").count() == 1
    session.refresh_from_db()
    assert session.outcome == "transferred"


@pytest.mark.parametrize(
    ("status", "state"),
    [("no-answer", "no_answer"), ("busy", "busy"), ("failed", "failed"), ("canceled", "failed")],
)
def test_nobody_answering_sends_the_caller_back_to_the_agent_once(session, status, state):
    transfer = warm(session)
    CallSession.objects.filter(pk=session.pk).update(stream_sid="MZ1")
    carrier = FakeCarrier()
    leg(transfer, status, 2, carrier=carrier)
    leg(transfer, status, 2, carrier=carrier)
    assert transfer.state == state
    assert transfer.returned_at is not None
    assert carrier.returns == [(CALL_SID, ReturnToAgent({"transfer_return": str(transfer.pk)}))]
    assert carrier.messages == []
    session.refresh_from_db()
    # The stream token admits the return; until the agent hears otherwise, we call back.
    assert session.stream_sid == ""
    assert (session.outcome, session.end_reason) == ("callback_requested", f"transfer_{state}")


def test_a_caller_who_cannot_be_sent_back_hears_the_apology(session):
    transfer = warm(session)
    carrier = FakeCarrier(return_error=TransferError("Twilio failed"))
    leg(transfer, "no-answer", 2, carrier=carrier)
    assert carrier.messages == [(CALL_SID, TRANSFER_FAILED_LINE)]


def test_a_caller_already_gone_is_not_sent_back(session):
    transfer = warm(session)
    CallSession.objects.filter(pk=session.pk).update(status="completed")
    carrier = FakeCarrier()
    leg(transfer, "no-answer", 2, carrier=carrier)
    assert transfer.state == "no_answer"
    assert transfer.returned_at is None
    assert carrier.returns == []


def test_the_return_is_accepted_once_and_reopens_the_conversation(session, acme):
    from sessions.factories import CallSessionFactory

    CallSession.objects.filter(pk=session.pk).update(conversation_state="closed")
    transfer = warm(session)
    assert session_transfer_resume(session_id=session.pk, transfer_id=str(transfer.pk)) is None
    leg(transfer, "no-answer", 2, carrier=FakeCarrier())
    other = CallSessionFactory(organization=acme)
    assert session_transfer_resume(session_id=other.pk, transfer_id=str(transfer.pk)) is None
    assert session_transfer_resume(session_id=session.pk, transfer_id="x") is None

    resumed = session_transfer_resume(session_id=session.pk, transfer_id=str(transfer.pk))

    assert resumed is not None
    assert resumed.resumed_at is not None
    session.refresh_from_db()
    assert (session.conversation_state, session.end_reason) == ("open", "")
    assert session_transfer_resume(session_id=session.pk, transfer_id=str(transfer.pk)) is None


def test_a_cold_transfer_is_never_returned_to_the_agent(session):
    transfer = dialling(session)
    carrier = FakeCarrier()
    leg(transfer, "no-answer", 2, carrier=carrier)
    assert transfer.leg_events == []
    assert carrier.returns == []


def test_the_callers_end_cancels_a_leg_still_ringing(session, monkeypatch):
    from sessions import transfers

    transfer = warm(session)
    carrier = FakeCarrier()
    monkeypatch.setattr(transfers, "get_carrier", lambda: carrier)
    transfers.on_session_finished(CallSession, session=session)
    assert carrier.cancelled == [LEG_SID]
    leg(transfer, "completed", 3, duration_seconds=5)
    carrier.cancelled.clear()
    transfers.on_session_finished(CallSession, session=session)
    assert carrier.cancelled == []


def test_the_leg_is_given_the_ring_time_and_a_grace_on_our_clock_too(
    session, monkeypatch, django_capture_on_commit_callbacks
):
    from sessions import transfers

    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        transfers.session_transfer_timeout_task,
        "apply_async",
        lambda args, countdown: queued.append((args, countdown)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        transfer = warm(session)
    assert queued == [((transfer.pk,), 20 + 15)]


def test_a_leg_that_never_reports_its_end_is_ended_at_the_ring_time(session):
    from datetime import timedelta

    transfer = warm(session)
    carrier = FakeCarrier()
    early = transfer.requested_at + timedelta(seconds=34)
    assert not session_transfer_timed_out(transfer_id=transfer.pk, now=early, carrier=carrier)
    assert carrier.cancelled == []

    late = transfer.requested_at + timedelta(seconds=35)
    assert session_transfer_timed_out(transfer_id=transfer.pk, now=late, carrier=carrier)

    transfer.refresh_from_db()
    assert (transfer.state, transfer.carrier_status) == ("no_answer", "timeout")
    assert [event["status"] for event in transfer.leg_events] == ["timeout"]
    assert carrier.cancelled == [LEG_SID]
    assert carrier.returns == [(CALL_SID, ReturnToAgent({"transfer_return": str(transfer.pk)}))]
    # Once; and never for a leg that answered.
    assert not session_transfer_timed_out(transfer_id=transfer.pk, now=late, carrier=carrier)
    answered = warm(session)
    leg(answered, "in-progress", 2)
    much_later = late + timedelta(minutes=5)
    assert not session_transfer_timed_out(transfer_id=answered.pk, now=much_later, carrier=carrier)
    assert answered.state == "answered"


def test_the_hold_and_leg_endpoints_are_signed(client, session):
    transfer = warm(session)
    hold = f"/telephony/twilio/transfer/{transfer.pk}/hold/?session={session.token}"
    assert post(client, hold, {"CallSid": CALL_SID}, token="forged").status_code == 403
    response = post(client, hold, {"CallSid": CALL_SID})
    assert response.status_code == 200
    assert (
        response.content
        == (
            f'<Response><Play loop="0">{PUBLIC}/telephony/twilio/hold-audio.wav</Play></Response>'
        ).encode()
    )
    path = f"/telephony/twilio/transfer/{transfer.pk}/leg/?session={session.token}"
    params = {"CallSid": LEG_SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    assert post(client, path, params, token="forged").status_code == 403
    assert post(client, path, params).status_code == 204
    transfer.refresh_from_db()
    assert [(e["status"], e["sequence"]) for e in transfer.leg_events] == [("ringing", 1)]


def test_the_hold_audio_is_a_short_8khz_wav(client):
    import io
    import wave

    response = client.get("/telephony/twilio/hold-audio.wav")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 8000, 2)
        assert 2.0 <= wav.getnframes() / 8000 <= 10.0


def test_a_cold_transfer_has_no_briefing(session):
    carrier = FakeCarrier()
    session_transfer_start(session_id=session.pk, action=transfer_call(), carrier=carrier)
    [(_, request)] = carrier.transfers
    assert isinstance(request, ColdTransfer)
    assert request.briefing_url == ""


def test_the_briefing_request_is_signed(client, session):
    transfer = dialling(session)
    path = f"/telephony/twilio/transfer/{transfer.pk}/briefing/?session={session.token}"
    assert post(client, path, {"CallSid": "CA1"}, token="forged").status_code == 403
    response = post(client, path, {"CallSid": "CA1"})
    assert response.status_code == 200
    assert response.content.startswith(b"<Response><Say>Transfer from the calling agent")


# 23:30 in New York (04:30 UTC on Wednesday), 20:30 in Los Angeles.
NEW_YORK_NIGHT = datetime(2026, 3, 4, 4, 30, tzinfo=UTC)
LOS_ANGELES = "+13105550142"


def test_a_persons_number_is_refused_outside_its_calling_window_and_the_caller_told(session):
    carrier = FakeCarrier()
    with time_machine.travel(NEW_YORK_NIGHT, tick=False):
        transfer = session_transfer_start(
            session_id=session.pk, action=transfer_call(), carrier=carrier
        )
    assert transfer is not None
    assert transfer.state == "failed"
    assert "outside_calling_window" in transfer.error_message
    assert carrier.transfers == []
    # The existing failure path: told politely, called back.
    assert carrier.messages == [(CALL_SID, TRANSFER_FAILED_LINE)]
    session.refresh_from_db()
    assert (session.outcome, session.end_reason) == ("callback_requested", "transfer_failed")


def test_a_business_line_is_rung_at_any_hour(session):
    carrier = FakeCarrier()
    desk = TransferCall(
        DESK, TransferMode.COLD, 20, TransferReason.REQUEST, TransferTargetKind.BUSINESS
    )
    with time_machine.travel(NEW_YORK_NIGHT, tick=False):
        transfer = session_transfer_start(session_id=session.pk, action=desk, carrier=carrier)
    assert transfer is not None
    assert transfer.state == "dialling"
    assert [request.target for _, request in carrier.transfers] == [DESK]


def test_the_window_is_the_targets_own_local_time(session, acme):
    with time_machine.travel(NEW_YORK_NIGHT, tick=False):
        # 23:30 in New York; 20:30 in Los Angeles, still inside its window.
        assert "outside_calling_window" in transfer_target_problem(session=session, number=DESK)
        assert transfer_target_problem(session=session, number=LOS_ANGELES) == ""
        assert transfer_target_problem(session=session, number=DESK, person=False) == ""
    # The do-not-call list holds for a business line too.
    DoNotCallEntry.objects.create(organization=acme, phone_number=LOS_ANGELES)
    decision = check_transfer_target(session, LOS_ANGELES, person=False)
    assert (decision.allowed, decision.reason) == (False, "do_not_call")
