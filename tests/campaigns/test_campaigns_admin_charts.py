"""The campaign page's panel: lifecycle buttons, progress, outcome and hourly-calls charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from campaigns import selectors
from campaigns.factories import CampaignFactory
from campaigns.models import Campaign, CampaignStats, CampaignStatus
from sessions.factories import CallSessionFactory

NOW = datetime(2026, 3, 3, 15, 40, tzinfo=UTC)
BAR = re.compile(
    r'<rect class="chart-bar" data-key="([^"]*)" data-label="[^"]*" data-value="(\d+)"'
)


def staff(client, persona):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["campaigns", "call_sessions"])
    )
    client.force_login(user)
    return user


def chart_bars(content: str, chart_id: str) -> dict[str, int]:
    start = content.index(f'id="{chart_id}"')
    figure = content[start : content.index("</figure>", start)]
    return {key: int(value) for key, value in BAR.findall(figure)}


def placed(campaign, at: datetime, **fields) -> None:
    CallSessionFactory(
        organization=campaign.organization, campaign=campaign, placed_at=at, queued_at=at, **fields
    )


def test_the_outcome_chart_draws_the_campaigns_counters(client, owner):
    staff(client, owner)
    campaign = CampaignFactory(organization=owner.organization)
    CampaignStats.objects.filter(campaign=campaign).update(
        outcome_interested=3, outcome_not_interested=1, outcome_voicemail=2
    )

    response = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert chart_bars(content, "campaign-outcome-chart") == {
        "interested": 3,
        "not_interested": 1,
        "voicemail": 2,
    }
    assert "<title>Interested: 3</title>" in content
    assert "3 (50%)" in content


def test_the_outcome_chart_says_when_nothing_finished(client, owner):
    staff(client, owner)
    campaign = CampaignFactory(organization=owner.organization)

    content = client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    ).content.decode()

    assert chart_bars(content, "campaign-outcome-chart") == {}
    assert "No finished calls yet." in content


def test_hourly_calls_count_placed_calls_per_hour_of_this_campaign_only(db, acme, globex):
    campaign = CampaignFactory(organization=acme)
    other = CampaignFactory(organization=acme)
    foreign = CampaignFactory(organization=globex)
    for minutes in (5, 39):  # 15:35 and 15:01: the current hour
        placed(campaign, NOW - timedelta(minutes=minutes))
    placed(campaign, NOW - timedelta(hours=3))  # 12:40
    placed(campaign, NOW - timedelta(hours=23, minutes=40))  # 16:00 yesterday: first bucket
    placed(campaign, NOW - timedelta(hours=23, minutes=41))  # 15:59 yesterday: outside
    placed(campaign, NOW + timedelta(minutes=1))  # a clock skew in the future: not yet
    placed(other, NOW - timedelta(minutes=5))
    placed(foreign, NOW - timedelta(minutes=5))
    CallSessionFactory(organization=acme, campaign=campaign, placed_at=None)  # never placed

    hours = selectors.campaign_hourly_calls(campaign=campaign, now=NOW, tz=UTC)

    assert len(hours) == 24
    assert hours[0].start == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    assert hours[-1].start == datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    counts = {hour.start.hour: hour.count for hour in hours if hour.count}
    assert counts == {16: 1, 12: 1, 15: 2}


def test_hourly_buckets_follow_the_given_time_zone(db, acme):
    campaign = CampaignFactory(organization=acme)
    new_york = ZoneInfo("America/New_York")
    placed(campaign, datetime(2026, 3, 3, 14, 59, tzinfo=UTC))  # 09:59 in New York
    placed(campaign, datetime(2026, 3, 3, 15, 1, tzinfo=UTC))  # 10:01 in New York

    hours = selectors.campaign_hourly_calls(campaign=campaign, now=NOW, tz=new_york, hours=3)

    assert [(hour.start.hour, hour.count) for hour in hours] == [(8, 0), (9, 1), (10, 1)]
    assert all(hour.start.utcoffset() == timedelta(hours=-5) for hour in hours)


def test_the_hourly_chart_on_the_page_has_24_columns_with_the_counts(client, owner, outsider):
    staff(client, owner)
    campaign = CampaignFactory(organization=owner.organization)
    placed(campaign, NOW - timedelta(minutes=5))
    placed(campaign, NOW - timedelta(minutes=6))
    placed(campaign, NOW - timedelta(hours=2))
    foreign = CampaignFactory(organization=outsider.organization)
    placed(foreign, NOW - timedelta(minutes=5))

    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    content = response.content.decode()
    bars = chart_bars(content, "campaign-hourly-chart")
    assert len(bars) == 24
    assert bars["2026-03-03T15:00:00+00:00"] == 2
    assert bars["2026-03-03T13:00:00+00:00"] == 1
    assert sum(bars.values()) == 3
    assert 'id="campaign-hourly-chart" data-total="3"' in content
    assert "(last 24 hours, UTC)" in content


def test_the_panel_links_sessions_and_the_lists_import_page(client, owner):
    staff(client, owner)
    campaign = CampaignFactory(organization=owner.organization)

    content = client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    ).content.decode()

    sessions_url = reverse("admin:call_sessions_callsession_changelist")
    import_url = reverse("admin:campaigns_contactlist_import", args=[campaign.contact_list_id])
    assert f'href="{sessions_url}?campaign__id__exact={campaign.pk}"' in content
    assert f'href="{import_url}"' in content
    assert 'id="campaign-progress" data-percent="0.0"' in content


def test_the_progress_bar_follows_the_counters(client, owner):
    staff(client, owner)
    campaign = CampaignFactory(organization=owner.organization)
    # Started (who takes part is fixed), so the counters are what the page shows.
    Campaign.objects.filter(pk=campaign.pk).update(materialize_until_id=8)
    CampaignStats.objects.filter(campaign=campaign).update(
        contacts_total=8, contacts_materialized=8, completed=2, failed=1, exhausted=1
    )

    content = client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    ).content.decode()

    assert 'data-percent="50.0"' in content
    assert "50.0% of 8 contacts" in content


def test_the_buttons_start_pause_and_stop_through_the_services(client, owner, make_campaign):
    staff(client, owner)
    campaign = make_campaign(owner.organization)
    page = reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    def press(verb: str) -> str:
        url = reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, verb])
        response = client.post(url)
        assert response.status_code == 302
        assert response.url == page
        campaign.refresh_from_db()
        return campaign.status

    draft = client.get(page).content.decode()
    assert re.search(r'id="campaign-pause-button" disabled', draft)
    assert not re.search(r'id="campaign-start-button" disabled', draft)

    assert press("start") == CampaignStatus.RUNNING
    running = client.get(page).content.decode()
    assert not re.search(r'id="campaign-pause-button" disabled', running)
    assert press("pause") == CampaignStatus.PAUSED
    assert press("start") == CampaignStatus.RUNNING
    assert press("stop") == CampaignStatus.STOPPED
    # A stopped campaign cannot start again: the service refuses and says why.
    followed = client.post(
        reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "start"]), follow=True
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert "cannot be started" in followed.content.decode()
    assert campaign.transitions.last().actor_user_id == owner.membership.user_id


def test_the_buttons_refuse_get_unknown_verbs_viewers_and_other_organizations(
    client, owner, viewer, outsider, make_campaign
):
    campaign = make_campaign(owner.organization)
    foreign = make_campaign(outsider.organization)

    def lifecycle(target, verb: str = "start"):
        return reverse("admin:campaigns_campaign_lifecycle", args=[target.pk, verb])

    staff(client, owner)
    assert client.get(lifecycle(campaign)).status_code == 405
    assert client.post(lifecycle(campaign, "delete")).status_code == 404
    assert client.post(lifecycle(foreign)).status_code == 404
    staff(client, viewer)
    assert client.post(lifecycle(campaign)).status_code == 403
    viewer_page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert re.search(r'id="campaign-start-button" disabled', viewer_page.content.decode())

    campaign.refresh_from_db()
    foreign.refresh_from_db()
    assert (campaign.status, foreign.status) == (CampaignStatus.DRAFT, CampaignStatus.DRAFT)
