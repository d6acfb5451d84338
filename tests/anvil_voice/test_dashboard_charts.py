"""The dashboard's outcome chart (server-rendered SVG) and the shared chart geometry."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from anvil_voice.charts import ChartItem, column_chart, horizontal_bar_chart, stacked_bar
from campaigns.factories import CampaignFactory
from campaigns.models import CampaignStatus
from sessions.factories import CallSessionFactory
from sessions.models import Outcome

BAR = re.compile(
    r'<rect class="chart-bar" data-key="([^"]*)" data-label="([^"]*)" data-value="(\d+)"'
)


def outcome_bars(content: str) -> dict[str, tuple[str, int]]:
    start = content.index('id="outcome-chart"')
    figure = content[start : content.index("</figure>", start)]
    return {key: (label, int(value)) for key, label, value in BAR.findall(figure)}


def log_in_staff(client, persona) -> None:
    user = persona.membership.user
    user.is_staff = True
    user.save()
    client.force_login(user)


def test_the_outcome_chart_counts_the_last_24_hours_of_the_members_organization(
    client, owner, outsider
):
    now = timezone.now()
    for outcome in ("interested", "interested", "voicemail", "not_interested"):
        CallSessionFactory(organization=owner.organization, placed_at=now, outcome=outcome)
    CallSessionFactory(organization=owner.organization, placed_at=now, outcome="")  # live
    CallSessionFactory(  # older than a day
        organization=owner.organization,
        queued_at=now - timedelta(hours=25),
        outcome=Outcome.BUSY,
    )
    CallSessionFactory(organization=outsider.organization, outcome=Outcome.DO_NOT_CALL)
    CallSessionFactory(organization=outsider.organization, outcome=Outcome.INTERESTED)
    log_in_staff(client, owner)

    content = client.get("/admin/").content.decode()

    assert outcome_bars(content) == {
        "interested": ("Interested", 2),
        "not_interested": ("Not interested", 1),
        "voicemail": ("Voicemail", 1),
    }
    assert 'id="outcome-chart" data-total="4"' in content
    assert "<title>Interested: 2</title>" in content
    assert "2 (50%)" in content


def test_the_outcome_chart_says_when_there_is_nothing_to_show(client, owner):
    log_in_staff(client, owner)

    content = client.get("/admin/").content.decode()

    assert outcome_bars(content) == {}
    assert "No finished calls in the last 24 hours." in content


def test_active_campaigns_show_progress_bars(client, owner):
    campaign = CampaignFactory(organization=owner.organization, status=CampaignStatus.PAUSED)
    campaign.stats.contacts_total = 10
    campaign.stats.completed = 3
    campaign.stats.save()
    CampaignFactory(organization=owner.organization, name="Finished one", status="completed")
    log_in_staff(client, owner)

    content = client.get("/admin/").content.decode()

    assert campaign.name in content
    assert 'title="30.0%"><span style="width: 30.0%">' in content
    assert "Finished one" not in content


def test_horizontal_bars_scale_to_the_largest_value():
    chart = horizontal_bar_chart(
        [ChartItem("a", "A", 4), ChartItem("b", "B", 1), ChartItem("c", "C", 0)],
        chart_id="x",
        title="X",
    )

    widths = [bar.width for bar in chart.bars]
    assert widths[0] == 4 * widths[1]
    assert widths[2] == 1.0  # a sliver for zero
    assert (chart.total, chart.maximum) == (5, 4)
    assert [bar.value_text for bar in chart.bars] == ["4 (80%)", "1 (20%)", "0 (0%)"]


def test_columns_share_a_baseline_and_scale_to_the_largest_value():
    chart = column_chart(
        [ChartItem("h0", "0", 0), ChartItem("h1", "1", 2), ChartItem("h2", "2", 4)],
        chart_id="y",
        title="Y",
    )

    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 0
    assert heights[2] == 2 * heights[1]
    assert all(bar.y + bar.height == chart.baseline_y for bar in chart.bars)
    assert [bar.value_text for bar in chart.bars] == ["", "2", "4"]
    assert chart.axis_text == "4"


def test_a_stacked_bar_fills_its_width_by_share():
    chart = stacked_bar(
        [ChartItem("a", "A", 3), ChartItem("b", "B", 0), ChartItem("c", "C", 1)], width=200
    )

    assert [(bar.key, bar.x, bar.width) for bar in chart.bars] == [
        ("a", 0.0, 150.0),
        ("c", 150.0, 50.0),
    ]
