"""Issue 17: a campaign's control room in the admin (the snapshot, the page, its JSON, roles).

Acme's campaign dials three New York contacts at a frozen Tuesday morning: one call finished
(interested, 90 s), one in progress (the contact just spoke), one still queued.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns import services
from campaigns.control_room import control_room_snapshot
from campaigns.dialling.dispatch import dispatch_due
from campaigns.dialling.outcomes import record_outcome
from campaigns.models import Campaign, CampaignStatus
from sessions.models import AnsweredBy, CallSession, CallStatus, Outcome, TranscriptTurn
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

SYSTEM = services.Actor.named("test")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def busy_campaign(owner, make_campaign, frozen, placement_tasks) -> Campaign:
    campaign = make_campaign(owner.organization, contacts=3, name="Spring solar")
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    dispatch_due(now=NOW)
    finished, live, _queued = CallSession.objects.order_by("id").select_related("contact")
    CallSession.objects.filter(pk=finished.pk).update(
        status=CallStatus.COMPLETED,
        carrier_call_sid="CA1",
        answered_by=AnsweredBy.HUMAN,
        answered_at=NOW,
        ended_at=NOW + timedelta(seconds=90),
        duration_seconds=90,
        outcome=Outcome.INTERESTED,
    )
    record_outcome(session_id=finished.pk, now=NOW + timedelta(seconds=90))
    CallSession.objects.filter(pk=live.pk).update(
        status=CallStatus.IN_PROGRESS,
        carrier_call_sid="CA2",
        placed_at=NOW + timedelta(seconds=10),
        answered_at=NOW + timedelta(seconds=20),
    )
    TranscriptTurn.objects.create(session=live, index=0, speaker="agent", text="Hi there.")
    TranscriptTurn.objects.create(
        session=live, index=1, speaker="contact", text="Who is this?", start_ms=1500
    )
    frozen.move_to(NOW + timedelta(seconds=95))
    campaign.refresh_from_db()
    return campaign


def as_staff(client, persona) -> object:
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    client.force_login(user)
    return client


def room_url(campaign: Campaign, name: str = "control_room") -> str:
    return reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk])


# --- the snapshot ---------------------------------------------------------------------------


def test_it_shows_progress_calls_in_flight_and_outcomes(busy_campaign):
    finished, live, queued = CallSession.objects.order_by("id").select_related("contact")

    snapshot = control_room_snapshot(campaign=busy_campaign)

    assert snapshot["status"] == "running"
    assert snapshot["progress"] == {
        "done": 1,
        "pending": 0,
        "inProgress": 2,
        "total": 3,
        "percent": 33.3,
    }
    assert snapshot["outcomes"] == [{"outcome": "interested", "label": "Interested", "count": 1}]
    assert (snapshot["answerRatePercent"], snapshot["averageTalkSeconds"]) == (100.0, 90.0)
    assert (
        snapshot["liveCalls"]
        == [
            {
                "sessionId": live.pk,
                "contactName": live.contact.full_name,
                "number": live.to_number[:-4] + "····",
                "status": "in_progress",
                "statusLabel": "In progress",
                "elapsedSeconds": 75,  # answered 20 s after the frozen start; now is 95 s after
                "lastSpeaker": "contact",
                "lastText": "Who is this?",
                "outcome": "",
                "outcomeLabel": "",
            },
            {
                "sessionId": queued.pk,
                "contactName": queued.contact.full_name,
                "number": queued.to_number[:-4] + "····",
                "status": "queued",
                "statusLabel": "Queued",
                "elapsedSeconds": 95,
                "lastSpeaker": "",
                "lastText": "",
                "outcome": "",
                "outcomeLabel": "",
            },
        ]
    )
    assert [call["sessionId"] for call in snapshot["recentCalls"]] == [finished.pk]
    assert snapshot["recentCalls"][0]["outcomeLabel"] == "Interested"
    assert snapshot["recentCalls"][0]["elapsedSeconds"] == 90
    assert snapshot["dialling"]["text"] == "Dialling."  # its last tick placed calls


def test_a_stopped_campaign_says_it_is_not_dialling(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=1, status=CampaignStatus.STOPPED)

    snapshot = control_room_snapshot(campaign=campaign)

    assert snapshot["dialling"] == {
        "state": "idle",
        "reason": None,
        "text": "Not dialling: the campaign is stopped.",
        "nextDialLocal": None,
    }
    assert snapshot["liveCalls"] == []


# --- the admin page and its JSON ------------------------------------------------------------


def test_the_page_shows_the_room_and_links_back(client, owner, busy_campaign):
    as_staff(client, owner)
    live = CallSession.objects.get(status=CallStatus.IN_PROGRESS)

    page = client.get(room_url(busy_campaign)).content.decode()
    change = client.get(reverse("admin:campaigns_campaign_change", args=[busy_campaign.pk]))
    changelist = client.get(reverse("admin:campaigns_campaign_changelist"))

    assert 'data-testid="control-room"' in page
    assert f'data-session-id="{live.pk}"' in page
    assert "Who is this?" in page
    assert '<td data-testid="control-room-call-elapsed">1:15</td>' in page  # answered 75 s ago
    assert 'data-testid="control-room-pause"' in page
    assert 'id="campaign-outcome-chart"' in page
    assert room_url(busy_campaign) in change.content.decode()
    assert room_url(busy_campaign) in changelist.content.decode()


def test_a_room_with_no_finished_call_says_so_once(client, owner, make_campaign):
    as_staff(client, owner)
    campaign = make_campaign(owner.organization, contacts=1, status=CampaignStatus.STOPPED)

    page = client.get(room_url(campaign)).content.decode()

    assert page.count("No finished calls yet.") == 1  # the outcome chart's empty text
    assert "None yet: finished calls appear here." in page


def test_the_state_is_json_for_the_page_script(client, owner, busy_campaign):
    as_staff(client, owner)

    response = client.get(room_url(busy_campaign, "control_room_state"))
    state = response.json()

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]  # the admin's never_cache
    assert state["progress"]["done"] == 1
    assert len(state["liveCalls"]) == 2
    assert 'data-key="interested"' in state["charts"]["outcomes"]
    assert [(b["verb"], b["label"], b["enabled"]) for b in state["buttons"]] == [
        ("start", "Start", False),
        ("pause", "Pause", True),
        ("stop", "Stop", True),
    ]


def test_another_organizations_campaign_is_not_found(client, outsider, busy_campaign):
    as_staff(client, outsider)

    assert client.get(room_url(busy_campaign)).status_code == 404
    assert client.get(room_url(busy_campaign, "control_room_state")).status_code == 404


def test_it_needs_a_signed_in_staff_member(client, busy_campaign):
    response = client.get(room_url(busy_campaign, "control_room_state"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_viewer_watches_but_cannot_pause(client, viewer, busy_campaign):
    as_staff(client, viewer)

    state = client.get(room_url(busy_campaign, "control_room_state")).json()
    refused = client.post(
        reverse("admin:campaigns_campaign_lifecycle", args=[busy_campaign.pk, "pause"]),
        {"return_to": "control_room"},
    )

    assert not any(button["enabled"] for button in state["buttons"])
    assert refused.status_code == 403
    busy_campaign.refresh_from_db()
    assert busy_campaign.status == CampaignStatus.RUNNING


def test_a_manager_pauses_and_resumes_from_the_room(client, member, busy_campaign):
    as_staff(client, member)
    pause = reverse("admin:campaigns_campaign_lifecycle", args=[busy_campaign.pk, "pause"])
    start = reverse("admin:campaigns_campaign_lifecycle", args=[busy_campaign.pk, "start"])

    paused = client.post(pause, {"return_to": "control_room"})
    state = client.get(room_url(busy_campaign, "control_room_state")).json()
    resumed = client.post(start, {"return_to": "control_room"})

    assert paused["Location"] == room_url(busy_campaign)
    assert state["status"] == "paused"
    assert state["dialling"]["text"] == "Paused. It dials again when resumed."
    assert [(b["verb"], b["label"], b["enabled"]) for b in state["buttons"]] == [
        ("start", "Resume", True),
        ("pause", "Pause", False),
        ("stop", "Stop", True),
    ]
    assert resumed["Location"] == room_url(busy_campaign)
    busy_campaign.refresh_from_db()
    assert busy_campaign.status == CampaignStatus.RUNNING


def test_the_state_costs_the_same_queries_however_many_calls_are_up(client, owner, busy_campaign):
    as_staff(client, owner)
    url = room_url(busy_campaign, "control_room_state")
    client.get(url)  # the session and permission caches are warm from here on
    before = _queries(lambda: client.get(url))
    live = CallSession.objects.get(status=CallStatus.IN_PROGRESS)
    for index in range(3):
        extra = CallSession.objects.create(
            organization=live.organization,
            campaign=busy_campaign,
            contact=live.contact,
            attempt_number=10 + index,
            to_number=live.to_number,
            from_number=live.from_number,
            status=CallStatus.IN_PROGRESS,
            answered_at=NOW,
        )
        TranscriptTurn.objects.create(session=extra, index=0, speaker="agent", text="Hello.")

    assert len(client.get(url).json()["liveCalls"]) == 5
    assert _queries(lambda: client.get(url)) == before


def _queries(function) -> int:
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)
