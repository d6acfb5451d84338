"""Placement asks the campaign's dial gate right before dialling (settings.DIAL_GATE)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import CampaignContact, CampaignContactState
from sessions.carrier.placement import PlacementOutcome, session_place_call
from sessions.models import CallSession, CallStatus
from tests.campaigns.campaigns_fakes import RecordingCarrier
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

SYSTEM = services.Actor.named("test")


@pytest.fixture
def queued_session(owner, make_campaign, placement_tasks):
    with time_machine.travel(NOW, tick=False):
        campaign = make_campaign(owner.organization, contacts=1)
        services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
        dispatch_due(now=NOW)
    return campaign, CallSession.objects.get()


def test_it_dials_when_the_gate_still_allows(queued_session):
    _, session = queued_session
    carrier = RecordingCarrier()
    RecordingCarrier.reset()

    with time_machine.travel(NOW, tick=False):
        outcome = session_place_call(session_id=session.pk, carrier=carrier)

    assert outcome == PlacementOutcome.PLACED
    assert RecordingCarrier.placed == [session.pk]


def test_it_holds_back_a_queued_call_of_a_campaign_paused_before_dialling(
    queued_session, django_capture_on_commit_callbacks
):
    campaign, session = queued_session
    RecordingCarrier.reset()
    with (
        time_machine.travel(NOW, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.campaign_pause(campaign=campaign, actor=SYSTEM)
        outcome = session_place_call(session_id=session.pk, carrier=RecordingCarrier())

    session.refresh_from_db()
    target = CampaignContact.objects.get()
    assert outcome == PlacementOutcome.REFUSED
    assert RecordingCarrier.placed == []
    assert session.status == CallStatus.CANCELED
    assert session.end_reason == "compliance:campaign_not_running"
    # The contact goes back to pending, to be dialled when the campaign resumes.
    assert target.state == CampaignContactState.PENDING


def test_it_holds_back_a_call_whose_calling_window_closed(queued_session):
    _, session = queued_session
    RecordingCarrier.reset()
    late = NOW + timedelta(hours=12)  # far past 21:00 in New York

    with time_machine.travel(late, tick=False):
        outcome = session_place_call(session_id=session.pk, carrier=RecordingCarrier())

    session.refresh_from_db()
    assert outcome == PlacementOutcome.REFUSED
    assert RecordingCarrier.placed == []
    assert session.end_reason == "compliance:outside_calling_window"
