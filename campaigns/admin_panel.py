"""What the campaign page's panel and the control room both show: the lifecycle buttons and
the charts (server-rendered SVG, `anvil_voice.charts`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone

from anvil_voice.charts import OUTCOME_COLOURS, Chart, ChartItem, column_chart, horizontal_bar_chart
from campaigns import selectors
from campaigns.models import Campaign, CampaignStatus
from campaigns.services.lifecycle import ALLOWED_TRANSITIONS


def campaign_page_object(
    model_admin: Any,
    request: HttpRequest,
    object_id: str,
    *,
    change: bool = False,
    denied: str = "",
) -> Campaign:
    """The campaign a page of the campaign admin is about: the admin's own (organization-scoped)
    lookup, a 404 for none or another organization's, a 403 when the role may not view it (or,
    with `change`, may not change it)."""
    campaign = model_admin.get_object(request, object_id)
    if not isinstance(campaign, Campaign):
        raise Http404("No such campaign.")
    allowed = model_admin.has_change_permission if change else model_admin.has_view_permission
    if not allowed(request, campaign):
        raise PermissionDenied(denied) if denied else PermissionDenied
    return campaign


# Which lifecycle buttons a campaign in each status offers (the services decide for real).
LIFECYCLE_VERBS = {
    "start": (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED),
    "pause": (CampaignStatus.RUNNING,),
    "stop": tuple(
        status
        for status, targets in ALLOWED_TRANSITIONS.items()
        if CampaignStatus.STOPPED in targets
    ),
}


def campaign_outcome_chart(campaign: Campaign) -> Chart:
    items = [
        ChartItem(
            key=item.outcome,
            label=item.label,
            value=item.count,
            colour=OUTCOME_COLOURS.get(item.outcome, "#417690"),
        )
        for item in selectors.campaign_outcome_breakdown(campaign=campaign)
    ]
    return horizontal_bar_chart(
        items,
        chart_id="campaign-outcome-chart",
        title="Outcomes",
        caption="(finished calls, whole campaign)",
        empty_text="No finished calls yet.",
    )


def campaign_hourly_chart(campaign: Campaign, *, now: Any = None) -> Chart:
    hours = selectors.campaign_hourly_calls(campaign=campaign, now=now)
    zone = timezone.get_current_timezone_name()
    items = [
        ChartItem(
            key=hour.start.isoformat(),
            label=f"{hour.start:%Y-%m-%d %H:00} {zone}",
            value=hour.count,
            # Every third hour gets a tick so 24 columns stay readable.
            tick=f"{hour.start:%H}" if hour.start.hour % 3 == 0 else "",
        )
        for hour in hours
    ]
    return column_chart(
        items,
        chart_id="campaign-hourly-chart",
        title="Calls placed per hour",
        caption=f"(last {len(items)} hours, {zone})",
        empty_text=f"No calls placed in the last {len(items)} hours.",
    )


def lifecycle_buttons(campaign: Campaign, *, can_change: bool) -> list[dict[str, Any]]:
    """Start/pause/stop, each enabled when the status allows it and the user may change the
    campaign; they POST to the change page's lifecycle view, which asks again."""
    return [
        {
            "verb": verb,
            "label": verb.title(),
            "enabled": can_change and campaign.status in statuses,
            "url": reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, verb]),
        }
        for verb, statuses in LIFECYCLE_VERBS.items()
    ]
