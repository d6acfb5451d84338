"""Recording consent, service by service: the plan a call is placed with, the evidence, and
the move to "recorded" once the disclosure's mark came back (`sessions.carrier.recording`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anvil_voice" / "telephony"))

from test_carrier_harness import make_campaign, make_session, number

from anvil_voice.telephony.callbacks import CarrierCallStatus, StatusCallback
from anvil_voice.telephony.carrier import (
    OutboundCall,
    RecordingError,
    RecordingErrorKind,
    StartedRecording,
)
from scripts import services as script_services
from sessions.carrier.calls import RecordingMode, outbound_call, recording_plan
from sessions.carrier.dial_gate import DialDecision
from sessions.carrier.placement import PlacementOutcome, session_place_call
from sessions.carrier.recording import session_disclosure_played
from sessions.carrier.status import session_apply_status_callback
from sessions.models import CallEvent, CallSession

pytestmark = pytest.mark.django_db

DISCLOSURE = "This call is recorded for quality by {{business_name}}."
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class FakeCarrier:
    name = "fake"

    def __init__(self, error: RecordingError | None = None) -> None:
        self.placed: list[OutboundCall] = []
        self.recorded: list[str] = []
        self.error = error

    def place_call(self, call: OutboundCall) -> str:
        self.placed.append(call)
        return f"CA{call.reference:032d}"

    def start_recording(self, call: OutboundCall) -> StartedRecording:
        if self.error is not None:
            raise self.error
        self.recorded.append(call.call_sid)
        return StartedRecording(recording_sid="RE" + "1" * 32, started_at=None)


class OpenGate:
    def check(self, session: CallSession) -> DialDecision:
        return DialDecision.allow()

    def wait_for_slot(self, session: CallSession) -> float:
        return 0.0


def campaign_session(organization: Any, *, record: bool = True, required: bool = True) -> Any:
    campaign = make_campaign(organization, record_calls=record)
    script_services.script_update(
        script=campaign.script,
        fields={"recording_disclosure": DISCLOSURE, "recording_disclosure_required": required},
    )
    version = campaign.script.versions.order_by("-number").first()
    return make_session(
        organization,
        number("04", "301"),
        campaign=campaign,
        script_version=version,
        compliance={"allowed": True, "rules": []},
    )


def placed(session: CallSession) -> tuple[CallSession, FakeCarrier]:
    carrier = FakeCarrier()
    assert session_place_call(session_id=session.pk, carrier=carrier, gate=OpenGate()) == (
        PlacementOutcome.PLACED
    )
    session.refresh_from_db()
    return session, carrier


def answered(session: CallSession, at: datetime = NOW) -> CallSession:
    session_apply_status_callback(
        callback=StatusCallback(
            call_sid=str(session.carrier_call_sid),
            status=CarrierCallStatus.IN_PROGRESS,
            carrier_status="in-progress",
            sequence_number=2,
            timestamp=at,
            duration_seconds=None,
            answered_by=None,
            carrier_answered_by="",
        )
    )
    session.refresh_from_db()
    return session


def test_a_required_disclosure_places_the_call_unrecorded_with_the_evidence_saying_so(acme):
    session, carrier = placed(campaign_session(acme))

    [call] = carrier.placed
    assert call.record is False
    # The gate's evidence stays; the recording's is added, saying "not yet" and why.
    assert session.compliance == {
        "allowed": True,
        "rules": [],
        "recording": {
            "requested": True,
            "mode": "after_disclosure",
            "disclosure_required": True,
            "disclosure_text": "This call is recorded for quality by Acme.",
            "disclosure_played_at": None,
            "playback_confirmed_by": None,
            "recording_started_at": None,
            "recorded": False,
            "reason": "disclosure_not_played",
        },
    }
    # The answer starts nothing: the disclosure has to be heard first.
    assert answered(session).recording_started_at is None


def test_without_a_required_disclosure_the_carrier_records_from_the_answer(acme):
    session, carrier = placed(campaign_session(acme, required=False))

    assert carrier.placed[0].record is True
    assert session.compliance["recording"]["reason"] == "not_answered"

    session = answered(session)

    assert session.recording_started_at == NOW
    assert session.compliance["recording"] == {
        "requested": True,
        "mode": "from_answer",
        "disclosure_required": False,
        "disclosure_text": "",
        "disclosure_played_at": None,
        "playback_confirmed_by": None,
        "recording_started_at": NOW.isoformat(),
        "recorded": True,
        "reason": "no_disclosure_required",
    }


def test_a_campaign_that_does_not_record_leaves_no_recording_evidence(acme):
    session, carrier = placed(campaign_session(acme, record=False))

    assert carrier.placed[0].record is False
    assert recording_plan(session).mode is RecordingMode.NONE
    assert "recording" not in session.compliance
    assert answered(session).recording_started_at is None


def test_recording_starts_once_the_disclosure_was_confirmed_by_its_mark(acme):
    session, _ = placed(campaign_session(acme))
    session = answered(session)
    carrier = FakeCarrier()

    with time_machine.travel(NOW, tick=False):
        started = session_disclosure_played(
            session_id=session.pk, confirmed=True, mark="turn2-1", played_at=NOW, carrier=carrier
        )

    assert started is True
    assert carrier.recorded == [session.carrier_call_sid]
    session.refresh_from_db()
    assert session.recording_started_at == NOW
    assert session.compliance["recording"] == {
        "requested": True,
        "mode": "after_disclosure",
        "disclosure_required": True,
        "disclosure_text": "This call is recorded for quality by Acme.",
        "disclosure_played_at": NOW.isoformat(),
        "playback_confirmed_by": "mark",
        "disclosure_mark": "turn2-1",
        "recording_started_at": NOW.isoformat(),
        "recording_sid": "RE" + "1" * 32,
        "recorded": True,
        "reason": "disclosure_confirmed",
    }
    assert CallEvent.objects.get(session=session, kind="recording_started").data == {
        "recording_sid": "RE" + "1" * 32,
        "after_mark": "turn2-1",
    }
    # A repeated report starts nothing more.
    assert not session_disclosure_played(
        session_id=session.pk, confirmed=True, mark="turn2-1", carrier=carrier
    )
    assert len(carrier.recorded) == 1


def test_a_disclosure_the_carrier_never_confirmed_is_not_recorded(acme):
    session, _ = placed(campaign_session(acme))
    carrier = FakeCarrier()

    assert not session_disclosure_played(
        session_id=session.pk, confirmed=False, mark="turn2-1", carrier=carrier
    )

    assert carrier.recorded == []
    session.refresh_from_db()
    assert session.recording_started_at is None
    evidence = session.compliance["recording"]
    assert (evidence["recorded"], evidence["reason"]) == (False, "playback_not_confirmed")
    assert evidence["disclosure_played_at"] is None


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (RecordingErrorKind.CALL_NOT_IN_PROGRESS, "call_ended"),
        (RecordingErrorKind.FAILED, "carrier_failed"),
    ],
)
def test_a_carrier_that_will_not_record_leaves_the_call_unrecorded(acme, kind, reason):
    session, _ = placed(campaign_session(acme))
    carrier = FakeCarrier(error=RecordingError(kind, "no", carrier_code="21220"))

    assert not session_disclosure_played(
        session_id=session.pk, confirmed=True, mark="turn2-1", played_at=NOW, carrier=carrier
    )

    session.refresh_from_db()
    assert session.recording_started_at is None
    evidence = session.compliance["recording"]
    assert (evidence["recorded"], evidence["reason"], evidence["carrier_code"]) == (
        False,
        reason,
        "21220",
    )
    # It was heard, and the evidence says so, even though nothing was recorded.
    assert evidence["disclosure_played_at"] == NOW.isoformat()
    assert CallEvent.objects.get(session=session, kind="recording_not_started").data == {
        "reason": reason,
        "code": "21220",
    }


def test_a_call_placed_from_answer_is_never_started_again_by_a_disclosure_report(acme):
    session, _ = placed(campaign_session(acme, required=False))
    carrier = FakeCarrier()

    assert not session_disclosure_played(
        session_id=session.pk, confirmed=True, mark="turn2-1", carrier=carrier
    )
    assert carrier.recorded == []


def test_the_disclosure_is_what_the_live_call_says(acme):
    from sessions.live.conversation import session_conversation_open

    session, _ = placed(campaign_session(acme))

    setup = session_conversation_open(session_id=session.pk)

    assert setup is not None
    assert setup.recording_disclosure == "This call is recorded for quality by Acme."
    assert outbound_call(session).record is False
