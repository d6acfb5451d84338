"""Campaign rehearsal (issue 19 part 2): the runner on the simulated clock, the report, the
exclusion from real statistics, the never-a-real-call guarantee, and the API."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.urls import reverse

from anvil_voice.telephony import carrier as carrier_module
from campaigns import services
from campaigns.analytics import analytics_sessions, campaign_analytics, reply_latencies
from campaigns.exports import sessions_csv_rows
from campaigns.rehearsal.models import Rehearsal, RehearsalStatus
from campaigns.rehearsal.services import rehearsal_create
from sessions.carrier.calls import RehearsalNeverDials, outbound_call
from sessions.carrier.placement import PlacementOutcome, session_place_call
from sessions.factories import CallSessionFactory
from sessions.models import CallSession, TranscriptTurn
from tests.campaigns.test_campaigns_admin_charts import chart_bars, staff

pytestmark = pytest.mark.django_db

# Friday 20:00 in New York: the window (09:00-17:00, weekdays) opens on Monday morning.
FRIDAY_EVENING_NY = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)

MIX = {
    "interested": 3,
    "objection-then-interested": 1,
    "not-interested": 2,
    "callback-request": 1,
    "remove-me": 1,
    "no-answer": 2,
    "busy": 1,
    "voicemail": 2,
    "hangs-up": 1,
}


def _campaign(make_campaign, acme, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("window_start", time(9, 0))
    fields.setdefault("window_end", time(17, 0))
    fields.setdefault("days_of_week", [0, 1, 2, 3, 4])
    fields.setdefault("max_concurrent_calls", 3)
    fields.setdefault("max_attempts", 2)
    return make_campaign(acme, contacts=2, **fields)


def _rehearse(campaign, capture, **kwargs) -> Rehearsal:  # type: ignore[no-untyped-def]
    kwargs.setdefault("mix", MIX)
    kwargs.setdefault("size", 28)
    kwargs.setdefault("seed", 7)
    with time_machine.travel(FRIDAY_EVENING_NY, tick=False), capture(execute=True):
        rehearsal = rehearsal_create(campaign=campaign, **kwargs)
    rehearsal.refresh_from_db()
    return rehearsal


@pytest.fixture
def rehearsed(make_campaign, acme, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    campaign = _campaign(make_campaign, acme)
    rehearsal = _rehearse(campaign, django_capture_on_commit_callbacks)
    assert rehearsal.status == RehearsalStatus.COMPLETED, rehearsal.error_message
    return rehearsal


def test_a_rehearsal_plays_the_campaign_over_the_personas_on_a_simulated_clock(rehearsed):
    report = rehearsed.report
    assert report["rehearsal"] is True
    outcomes = {key: value["count"] for key, value in report["outcomes"].items()}
    # Each persona's last word, by the campaign's rules: 2 attempts for the retryable ones.
    assert outcomes == {
        "interested": 8,  # interested (6) and objection-then-interested (2)
        "not_interested": 4,
        "callback_requested": 2,
        "do_not_call": 2,
        "no_answer": 4,
        "busy": 2,
        "voicemail": 4,
        "no_conversation": 2,  # hangs-up: "who is this?", then gone
    }
    assert report["contactStates"] == {"completed": 14, "do_not_call": 2, "exhausted": 12}
    calls = report["calls"]
    assert calls["placed"] == CallSession.rehearsal_objects.filter(rehearsal=rehearsed).count()
    assert report["connectRate"] == round(calls["answeredByHuman"] / calls["placed"], 4)
    # Asked on a Friday evening: nothing is called before Monday's window opens, in New York.
    duration = report["duration"]
    assert duration["firstCallingDay"] == "2026-03-09"
    assert duration["wallClockDays"] > 2.5
    assert report["replyLatencyMs"]["source"] == "model"
    assert 0 < report["replyLatencyMs"]["p50"] <= report["replyLatencyMs"]["p95"]
    # The factory's script has no answer to "We already have a provider.", and the persona
    # who hangs up after "who is this?" leaves the agent no outcome: both are listed, each
    # with its call.
    kinds = {(item["persona"], item["kind"]) for item in report["misbehaviours"]}
    assert ("hangs-up", "no_outcome") in kinds
    assert ("objection-then-interested", "wrong_objection_response") in kinds
    for item in report["misbehaviours"]:
        session = CallSession.rehearsal_objects.get(pk=item["sessionId"])
        assert session.rehearsal_id == rehearsed.pk
        assert TranscriptTurn.objects.filter(session=session).exists()


def test_rehearsal_calls_count_in_no_real_statistic(rehearsed, owner):
    campaign = rehearsed.campaign
    assert CallSession.rehearsal_objects.filter(rehearsal=rehearsed).exists()
    assert not CallSession.objects.exists()  # the default manager: real calls only
    real = CallSessionFactory(organization=campaign.organization, campaign=campaign)
    # The API's lists, the campaign's own sessions, the analytics page and the CSV export.
    listed = owner.client.get("/api/v1/voice/sessions").json()["data"]
    assert [row["id"] for row in listed] == [real.pk]
    in_campaign = owner.client.get(f"/api/v1/voice/campaigns/{campaign.pk}/sessions").json()
    assert [row["id"] for row in in_campaign["data"]] == [real.pk]
    scoped = analytics_sessions(CallSession.objects.all(), campaign_id=campaign.pk)
    assert list(scoped) == [real]
    assert campaign_analytics(sessions=scoped).calls_read == 1
    overall, _ = reply_latencies(sessions=scoped, campaign_names={})
    assert overall.count == 0  # the rehearsal's replies carry latencies; none is counted
    rows = list(sessions_csv_rows(CallSession.objects.filter(campaign=campaign)))
    assert len(rows) == 2  # the header and the real call
    stats = services.campaign_stats_rebuild(campaign=campaign, save=False)
    assert stats.calls_finished == 0
    # Even the rehearsal's own reverse relation reads through the default manager.
    assert not rehearsed.sessions.exists()
    simulated = CallSession.rehearsal_objects.filter(rehearsal=rehearsed).first()
    assert simulated is not None
    assert owner.client.get(f"/api/v1/voice/sessions/{simulated.pk}").status_code == 404


def test_a_rehearsal_never_reaches_a_carrier_whatever_the_settings(
    settings, monkeypatch, make_campaign, acme, django_capture_on_commit_callbacks
):
    # Settings for real calls; any carrier built from settings would fail the test.
    settings.TWILIO_API_BASE_URL = "https://api.twilio.com"
    settings.TWILIO_ACCOUNT_SID = "AC" + "1" * 32

    def no_carrier(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rehearsal asked for a carrier")

    monkeypatch.setattr(carrier_module, "get_carrier", no_carrier)
    monkeypatch.setattr("sessions.carrier.placement.get_carrier", no_carrier)
    campaign = _campaign(make_campaign, acme)
    rehearsal = _rehearse(campaign, django_capture_on_commit_callbacks, size=6)
    assert rehearsal.status == RehearsalStatus.COMPLETED, rehearsal.error_message
    session = CallSession.rehearsal_objects.filter(rehearsal=rehearsal).first()
    assert session is not None
    assert session.carrier == "rehearsal"
    assert not (session.carrier_call_sid or "").startswith("CA")
    # Structurally: placement cannot see it, and no carrier request can be built for it.
    CallSession.rehearsal_objects.filter(pk=session.pk).update(status="queued", placed_at=None)
    placed: list[object] = []

    class Recorder:
        def place_call(self, call: object) -> str:
            placed.append(call)
            return "CA" + "0" * 32

    outcome = session_place_call(session_id=session.pk, carrier=Recorder())  # type: ignore[arg-type]
    assert outcome == PlacementOutcome.NOT_CLAIMED
    assert placed == []
    with pytest.raises(RehearsalNeverDials):
        outbound_call(session)


def _api(client, campaign, body):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/voice/campaigns/{campaign.pk}/rehearsals", body, format="json")


def test_the_api_queues_a_rehearsal_and_reports_it(
    owner, make_campaign, acme, django_capture_on_commit_callbacks
):
    campaign = _campaign(make_campaign, acme)
    with time_machine.travel(FRIDAY_EVENING_NY, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            created = _api(owner.client, campaign, {"size": 12, "mix": MIX, "seed": 3})
        assert created.status_code == 202, created.content
        body = created.json()
        assert body["success"] is True
        assert body["data"]["rehearsal"] is True
        fetched = owner.client.get(f"/api/v1/voice/rehearsals/{body['data']['id']}").json()
    data = fetched["data"]
    assert data["status"] == "completed"
    assert data["mixSource"] == "given"
    assert data["report"]["population"]["size"] == 12
    for item in data["report"]["misbehaviours"]:
        call = owner.client.get(item["transcript"]).json()["data"]
        assert call["rehearsal"] is True
        assert call["transcript"]
        assert call["findings"]


def test_the_api_answers_bad_input_with_the_envelope(
    owner, viewer, outsider, make_campaign, acme, django_capture_on_commit_callbacks
):
    campaign = _campaign(make_campaign, acme)
    bad = [
        ({"size": 0, "mix": MIX}, "size"),
        ({"size": 100000, "mix": MIX}, "size"),
        ({"size": 5, "mix": {"martian": 1}}, "mix"),
        ({"size": 5, "mix": {"interested": -1}}, "mix"),
        ({"size": 5, "mix": {"interested": 0}}, "mix"),
        ({"size": 5, "mix": ["interested"]}, "mix"),
        ({"size": 5}, "mix"),  # no mix and no past calls to estimate one from
        ({"size": 5, "mix": MIX, "colour": "red"}, "colour"),
        ({"size": "many", "mix": MIX}, "size"),
    ]
    for body, field in bad:
        response = _api(owner.client, campaign, body)
        assert response.status_code == 400, (body, response.content)
        error = response.json()["error"]
        assert response.json()["success"] is False
        assert error["code"] == "VALIDATION_ERROR", body
        assert field in error["details"], body
    assert _api(viewer.client, campaign, {"size": 5, "mix": MIX}).status_code == 403
    assert _api(outsider.client, campaign, {"size": 5, "mix": MIX}).status_code == 404
    rehearsal = _rehearse(campaign, django_capture_on_commit_callbacks, size=3)
    other = outsider.client.get(f"/api/v1/voice/rehearsals/{rehearsal.pk}")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "NOT_FOUND"
    session = CallSession.rehearsal_objects.filter(rehearsal=rehearsal).first()
    assert session is not None
    theirs = outsider.client.get(f"/api/v1/voice/rehearsals/{rehearsal.pk}/calls/{session.pk}")
    assert theirs.status_code == 404
    missing = owner.client.get(f"/api/v1/voice/rehearsals/{rehearsal.pk}/calls/999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    schema = owner.client.get("/api/v1/voice/schema/", {"format": "json"}).json()
    assert "/api/v1/voice/campaigns/{id}/rehearsals" in schema["paths"]
    assert "/api/v1/voice/rehearsals/{id}" in schema["paths"]


def test_the_admin_shows_the_report_with_its_charts_and_each_calls_transcript(
    client, rehearsed, owner, outsider
):
    staff(client, owner)
    page = client.get(reverse("admin:campaigns_rehearsal_change", args=[rehearsed.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'data-testid="rehearsal-badge"' in content
    outcomes = chart_bars(content, "rehearsal-outcomes")
    assert outcomes == {k: v["count"] for k, v in rehearsed.report["outcomes"].items()}
    assert sum(chart_bars(content, "rehearsal-latency").values()) > 0
    first = rehearsed.report["misbehaviours"][0]["sessionId"]
    call_url = reverse("admin:campaigns_rehearsal_call", args=[rehearsed.pk, first])
    assert call_url in content
    call = client.get(call_url)
    assert call.status_code == 200
    assert 'data-testid="rehearsal-transcript"' in call.content.decode()
    listing = client.get(reverse("admin:campaigns_rehearsal_changelist"))
    assert 'data-testid="rehearsal-badge"' in listing.content.decode()
    # Another organization's staff: not found.
    staff(client, outsider)
    assert client.get(call_url).status_code == 404
