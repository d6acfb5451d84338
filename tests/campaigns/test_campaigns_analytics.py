"""The analytics page's figures (campaigns.analytics), its CSV export (campaigns.exports), the
interval chart, and the admin views: scoping by organization and the roles that may read."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from anvil_voice.charts import IntervalItem, interval_chart
from campaigns.analytics import (
    analytics_sessions,
    campaign_analytics,
    latency_bucket,
    local_slot,
    percentile,
    reply_latencies,
    wilson_interval,
)
from campaigns.exports import sessions_csv_rows, spreadsheet_safe
from campaigns.factories import CampaignFactory, ContactFactory
from scripts import services as script_services
from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.models import CallSession, CallStatus, Outcome, SessionKind, Speaker
from tests.campaigns.test_campaigns_admin_charts import chart_bars

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


# --- Known numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_it_computes_the_wilson_interval(successes, total, low, high):
    computed = wilson_interval(successes, total)
    assert computed == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_the_wilson_interval_of_nothing_is_empty_and_bad_counts_are_refused():
    assert wilson_interval(0, 0) == (0.0, 0.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_it_buckets_an_instant_into_each_callees_local_hour_and_day():
    at = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)
    assert local_slot(at, "America/New_York") == (datetime(2026, 3, 3).date(), 10, True)
    assert local_slot(at, "America/Los_Angeles") == (datetime(2026, 3, 3).date(), 7, True)
    # Tokyo is already on the next day.
    assert local_slot(at, "Asia/Tokyo") == (datetime(2026, 3, 4).date(), 0, True)
    # New York after the switch to summer time (8 March 2026): UTC-4, not -5.
    assert local_slot(datetime(2026, 3, 9, 14, 0, tzinfo=UTC), "America/New_York")[1] == 10
    # No zone, or a broken one: counted in UTC and flagged.
    assert local_slot(at, "") == (datetime(2026, 3, 3).date(), 15, False)
    assert local_slot(at, "Mars/Olympus") == (datetime(2026, 3, 3).date(), 15, False)


def test_percentiles_are_nearest_rank_and_latency_buckets_are_half_open():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95)) == (50.0, 95.0)
    assert percentile([700.0], 95) == 700.0
    assert percentile([], 50) is None
    assert [latency_bucket(ms) for ms in (0, 249.9, 250, 999, 1000, 2999, 3000, 90_000)] == [
        0, 0, 1, 3, 4, 7, 8, 8,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+12125550104", "'+12125550104"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("Agent: hello = hi", "Agent: hello = hi"),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(cell, safe):
    assert spreadsheet_safe(cell) == safe


def test_the_interval_chart_places_rate_and_interval_on_one_axis():
    chart = interval_chart(
        [IntervalItem(key="1", label="v1", rate=0.5, low=0.25, high=0.75, text="50%")],
        chart_id="c",
        title="t",
    )
    (row,) = chart.rows
    zero, hundred = chart.ticks[0][0], chart.ticks[-1][0]
    assert (row.low_x, row.rate_x, row.high_x) == (
        zero + (hundred - zero) * 0.25,
        zero + (hundred - zero) * 0.5,
        zero + (hundred - zero) * 0.75,
    )
    assert interval_chart([], chart_id="e", title="t").is_empty


# --- The read -----------------------------------------------------------------------------------


def _call(campaign, contact, at, **fields):
    fields.setdefault("status", CallStatus.COMPLETED)
    return CallSessionFactory(
        organization=campaign.organization,
        campaign=campaign,
        contact=contact,
        script_version=fields.pop("version", None),
        queued_at=at,
        placed_at=at,
        **fields,
    )


@pytest.fixture
def figures_campaign(acme):
    """Four calls at 15:30 UTC on 3 March: two New York callees (10:xx local), one in Tokyo
    (00:xx on 4 March), one whose call failed; script v1 then v2."""
    campaign = CampaignFactory(organization=acme, name="Spring")
    script = campaign.script
    v1 = script.versions.get(number=1)
    script_services.script_update(script=script, fields={"closing_line": "Bye now!"})
    v2 = script.versions.get(number=2)
    at = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)
    new_york = ContactFactory(organization=acme, time_zone="America/New_York")
    tokyo = ContactFactory(organization=acme, time_zone="Asia/Tokyo")
    answered = {"answered_at": at + timedelta(seconds=5)}
    _call(
        campaign, new_york, at, version=v1, outcome=Outcome.INTERESTED, duration_seconds=60,
        extracted={"objections": [{"trigger": "Too expensive", "index": 0}]}, **answered,
    )  # fmt: skip
    _call(
        campaign, new_york, at + timedelta(minutes=10), version=v1,
        outcome=Outcome.NOT_INTERESTED, duration_seconds=30,
        extracted={"objections": [{"trigger": "too  expensive"}, {"trigger": "too expensive"}]},
        **answered,
    )  # fmt: skip
    _call(
        campaign, tokyo, at, version=v2, outcome=Outcome.INTERESTED, duration_seconds=90,
        **answered,
    )  # fmt: skip
    _call(campaign, tokyo, at, version=v2, status=CallStatus.NO_ANSWER, outcome=Outcome.NO_ANSWER)
    # Neither counted: a test call, and a call still ringing is not finished.
    _call(campaign, new_york, at, kind=SessionKind.TEST, outcome=Outcome.INTERESTED)
    _call(campaign, new_york, at, status=CallStatus.RINGING)
    return campaign


def test_it_counts_outcomes_answer_rate_and_talk_time_by_the_callees_hour_and_day(
    figures_campaign,
):
    campaign = figures_campaign
    figures = campaign_analytics(
        sessions=analytics_sessions(CallSession.objects.all(), campaign_id=campaign.pk)
    )

    assert figures.calls_read == 5  # the test call is not read; the ringing one is, unfinished
    assert (figures.total.finished, figures.total.answered) == (4, 3)
    assert figures.total.talk_seconds == 180
    assert figures.average_talk_seconds == 60
    assert dict(figures.total.outcomes) == {"interested": 2, "not_interested": 1, "no_answer": 1}
    hours = {h: (s.finished, s.answered) for h, s in figures.by_hour.items() if s.finished}
    assert hours == {10: (2, 2), 0: (2, 1)}
    days = {d.isoformat(): (s.finished, s.answered) for d, s in figures.by_day.items()}
    assert days == {"2026-03-03": (2, 2), "2026-03-04": (2, 1)}


def test_it_compares_script_versions_with_intervals_and_objection_hit_rates(figures_campaign):
    campaign = figures_campaign
    figures = campaign_analytics(
        sessions=analytics_sessions(CallSession.objects.all(), campaign_id=campaign.pk)
    )

    first, second = figures.versions
    assert (first.number, first.calls, first.answered) == (1, 2, 2)
    assert (second.number, second.calls, second.answered) == (2, 2, 1)
    interested = first.outcomes["interested"]
    assert (interested.count, interested.total) == (1, 2)
    assert (interested.low, interested.high) == wilson_interval(1, 2)
    assert second.outcomes["interested"].rate == 0.5
    # Both v1 calls fired "too expensive" (spacing and case ignored, counted once per call).
    assert {key: (r.count, r.total) for key, r in first.objections.items()} == {
        "too expensive": (2, 2)
    }
    assert second.objections == {}


def test_reply_latency_reads_replies_only_per_campaign(acme):
    spring = CampaignFactory(organization=acme, name="Spring")
    autumn = CampaignFactory(organization=acme, name="Autumn")
    for campaign, values in ((spring, [400, 600, 800, 1000]), (autumn, [2500])):
        session = CallSessionFactory(organization=acme, campaign=campaign)
        for value in values:
            TranscriptTurnFactory(
                session=session,
                speaker=Speaker.AGENT,
                latency={"since": "speech_end", "first_frame_ms": value},
            )
        # Neither is a reply: the opening, and the caller's own turn.
        TranscriptTurnFactory(session=session, latency={"since": "start", "first_frame_ms": 9000})
        TranscriptTurnFactory(
            session=session,
            speaker=Speaker.CONTACT,
            latency={"since": "speech_end", "stt_final_ms": 300},
        )

    overall, per_campaign = reply_latencies(
        sessions=CallSession.objects.all(),
        campaign_names={spring.pk: "Spring", autumn.pk: "Autumn"},
    )

    assert (overall.count, overall.p50, overall.p95) == (5, 800.0, 2500.0)
    assert [(s.campaign_name, s.count, s.p50, s.p95) for s in per_campaign] == [
        ("Autumn", 1, 2500.0, 2500.0),
        ("Spring", 4, 600.0, 1000.0),
    ]
    assert overall.buckets == (0, 1, 1, 1, 1, 0, 0, 1, 0)


def test_the_csv_has_transcripts_and_escapes_formulas(acme):
    campaign = CampaignFactory(organization=acme, name="=cmd|' /C calc'!A0")
    contact = ContactFactory(organization=acme, first_name="Ivy", last_name="Example")
    session = CallSessionFactory(
        organization=acme,
        campaign=campaign,
        contact=contact,
        to_number="+12125550104",
        outcome=Outcome.INTERESTED,
        summary="Wants a quote",
    )
    TranscriptTurnFactory(session=session, index=0, start_ms=0, text="Hi Ivy, this is Alex.")
    TranscriptTurnFactory(
        session=session, index=1, start_ms=2000, speaker=Speaker.CONTACT, text="=1+1 sign me up"
    )

    reader = csv.DictReader(io.StringIO("".join(sessions_csv_rows(CallSession.objects.all()))))
    row = next(reader)

    assert reader.fieldnames is not None
    assert reader.fieldnames[-1] == "transcript"
    assert row["campaign"] == "'=cmd|' /C calc'!A0"
    assert row["to_number"] == "'+12125550104"
    assert row["contact_name"] == "Ivy Example"
    assert row["outcome"] == "interested"
    assert row["transcript"] == "Agent: Hi Ivy, this is Alex.\nContact: =1+1 sign me up"


# --- Admin views ----------------------------------------------------------------------------


def staff(client, persona, *, can_view=True):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    if can_view:
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="call_sessions", codename="view_callsession"
            )
        )
    client.force_login(user)


@pytest.fixture
def two_tenants(acme, globex):
    mine = CampaignFactory(organization=acme, name="Acme spring")
    theirs = CampaignFactory(organization=globex, name="Globex secret")
    at = NOW - timedelta(days=1)
    _call(mine, None, at, outcome=Outcome.INTERESTED, answered_at=at, duration_seconds=42)
    _call(theirs, None, at, outcome=Outcome.DO_NOT_CALL, answered_at=at, summary="globex only")
    return mine, theirs


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("persona", ["owner", "member", "viewer"])
def test_every_member_sees_charts_of_her_organization_only(client, two_tenants, persona, request):
    staff(client, request.getfixturevalue(persona))

    response = client.get(reverse("analytics"))

    content = response.content.decode()
    assert response.status_code == 200
    assert chart_bars(content, "analytics-outcome-chart") == {"interested": 1}
    assert "Globex secret" not in content
    assert 'id="analytics-calls-by-hour"' in content
    assert 'id="analytics-versions-interested"' in content


@time_machine.travel(NOW, tick=False)
def test_another_organizations_campaign_is_a_404_on_the_page_and_the_export(
    client, two_tenants, owner
):
    _, theirs = two_tenants
    staff(client, owner)

    assert client.get(reverse("analytics"), {"campaign": theirs.pk}).status_code == 404
    assert client.get(reverse("analytics-sessions-csv"), {"campaign": theirs.pk}).status_code == 404


@time_machine.travel(NOW, tick=False)
def test_the_export_streams_only_her_calls_in_the_range(client, two_tenants, viewer):
    mine, _ = two_tenants
    staff(client, viewer)

    response = client.get(reverse("analytics-sessions-csv"), {"campaign": mine.pk})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["campaign"] for row in rows] == ["Acme spring"]

    earlier = client.get(
        reverse("analytics-sessions-csv"), {"start": "2026-01-01", "end": "2026-01-31"}
    )
    assert b"".join(earlier.streaming_content).decode().count("\n") == 1  # the header only


@time_machine.travel(NOW, tick=False)
def test_a_bad_range_is_said_plainly(client, two_tenants, owner):
    staff(client, owner)
    page = client.get(reverse("analytics"), {"start": "2026-03-05", "end": "2026-03-01"})
    assert "“To” is before “From”." in page.content.decode()
    export = client.get(reverse("analytics-sessions-csv"), {"start": "2026-03-05", "end": "x"})
    assert export.status_code == 400


def test_staff_without_the_session_permission_is_refused_and_anonymous_must_log_in(
    client, two_tenants, outsider
):
    assert client.get(reverse("analytics")).status_code == 302
    staff(client, outsider, can_view=False)
    assert client.get(reverse("analytics")).status_code == 403
    assert client.get(reverse("analytics-sessions-csv")).status_code == 403


def test_the_export_reads_a_fixed_number_of_queries_per_page(acme, django_assert_num_queries):
    campaign = CampaignFactory(organization=acme)
    for n in range(3):
        session = CallSessionFactory(
            organization=acme,
            campaign=campaign,
            contact=ContactFactory(organization=acme),
            script_version=campaign.script.versions.get(number=1),
        )
        TranscriptTurnFactory(session=session, index=0, text=f"line {n}")

    # One page of sessions (with campaign, contact and script version), its turns, the end.
    with django_assert_num_queries(3):
        lines = list(sessions_csv_rows(CallSession.objects.all()))

    assert len(lines) == 4
    assert all(" v1," in line for line in lines[1:])
