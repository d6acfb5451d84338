"""What the admin's landing page shows a campaign manager: campaigns, today's calls, outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone

from anvil_voice.accounts.selectors import scope_queryset_for_user
from anvil_voice.charts import DEFAULT_COLOUR, OUTCOME_COLOURS, ChartItem, horizontal_bar_chart
from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import campaign_stats_payload
from sessions.models import TERMINAL_CALL_STATUSES, CallSession, CallStatus, Outcome

ACTIVE_STATUSES = (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    progress_percent: float
    contacts_total: int
    answer_rate_percent: float


def dashboard_context(*, request: HttpRequest) -> dict[str, Any]:
    campaigns = scope_queryset_for_user(
        Campaign.objects.filter(status__in=ACTIVE_STATUSES).select_related("stats"),
        request=request,
    ).order_by("-id")[:20]
    rows = []
    for campaign in campaigns:
        stats = campaign_stats_payload(getattr(campaign, "stats", None))
        rows.append(
            CampaignRow(
                campaign=campaign,
                progress_percent=stats["progressPercent"],
                contacts_total=stats["contacts"]["total"],
                answer_rate_percent=round(100 * stats["answerRate"], 1),
            )
        )

    sessions = scope_queryset_for_user(CallSession.objects.all(), request=request)
    since = timezone.now() - timedelta(hours=24)
    today = sessions.filter(queued_at__gte=since).aggregate(
        placed=Count("id", filter=~Q(placed_at=None)),
        finished=Count("id", filter=Q(status__in=TERMINAL_CALL_STATUSES)),
        answered=Count("id", filter=~Q(answered_at=None)),
    )
    live = sessions.filter(
        status__in=[CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS]
    ).count()
    by_outcome = dict(
        sessions.filter(queued_at__gte=since)
        .exclude(outcome="")
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    outcome_chart = horizontal_bar_chart(
        [
            ChartItem(
                key=value,
                label=str(label),
                value=by_outcome[value],
                colour=OUTCOME_COLOURS.get(value, DEFAULT_COLOUR),
            )
            for value, label in Outcome.choices
            if by_outcome.get(value)
        ],
        chart_id="outcome-chart",
        title="Outcomes (24 h)",
        caption="(calls queued in the last 24 hours that have an outcome)",
        empty_text="No finished calls in the last 24 hours.",
    )
    return {
        "campaign_rows": rows,
        "calls_today": today["placed"],
        "answer_rate_percent": (
            round(100 * today["answered"] / today["finished"], 1) if today["finished"] else 0.0
        ),
        "live_calls": live,
        "outcome_chart": outcome_chart,
    }
