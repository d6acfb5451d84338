"""The analytics page's charts and tables, built from `campaigns.analytics` figures.

Kept apart from the view so the view stays an adapter (parse the filter, read, render) and the
drawing decisions (which colours, which labels, what an empty chart says) live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from anvil_voice.charts import (
    DEFAULT_COLOUR,
    OUTCOME_COLOURS,
    Chart,
    ChartItem,
    IntervalChart,
    IntervalItem,
    column_chart,
    horizontal_bar_chart,
    interval_chart,
)
from campaigns.analytics import (
    COMPARED_OUTCOMES,
    LATENCY_EDGES_MS,
    Analytics,
    LatencyStats,
    Rate,
    Slot,
    VersionComparison,
    latency_bucket_label,
)
from sessions.models import Outcome

OUTCOME_LABELS = dict(Outcome.choices)


def _percent(value: float) -> int:
    return round(100 * value)


def _rate_text(rate: Rate) -> str:
    return (
        f"{100 * rate.rate:.0f}% ({rate.count}/{rate.total}; "
        f"95% CI {100 * rate.low:.0f}-{100 * rate.high:.0f}%)"
    )


def _day_tick(day: date, index: int, count: int) -> str:
    # Every day's tick fits for two weeks; beyond that every seventh and the last.
    if count <= 14 or index % 7 == 0 or index == count - 1:
        return day.strftime("%d")
    return ""


def outcome_chart(analytics: Analytics) -> Chart:
    outcomes = analytics.total.outcomes
    return horizontal_bar_chart(
        [
            ChartItem(
                key=value,
                label=str(label),
                value=outcomes[value],
                colour=OUTCOME_COLOURS.get(value, DEFAULT_COLOUR),
            )
            for value, label in Outcome.choices
            if outcomes.get(value)
        ],
        chart_id="analytics-outcome-chart",
        title="Outcomes",
        empty_text="No call in this range has an outcome yet.",
    )


def _day_items(
    analytics: Analytics, value: Callable[[Slot], int], colour: str = DEFAULT_COLOUR
) -> list[ChartItem]:
    """One column a day, labelled and ticked alike on every by-day chart."""
    days = list(analytics.by_day.items())
    return [
        ChartItem(
            key=day.isoformat(),
            label=day.strftime("%a %d %b %Y"),
            value=value(slot),
            colour=colour,
            tick=_day_tick(day, index, len(days)),
        )
        for index, (day, slot) in enumerate(days)
    ]


def day_charts(analytics: Analytics) -> tuple[Chart, Chart, Chart]:
    calls = column_chart(
        _day_items(analytics, lambda slot: slot.finished),
        chart_id="analytics-calls-by-day",
        title="Calls by day",
        caption="(the callee's local date)",
        empty_text="No finished calls in this range.",
    )
    answer_rate = column_chart(
        _day_items(
            analytics, lambda slot: _percent(slot.answer_rate), OUTCOME_COLOURS["interested"]
        ),
        chart_id="analytics-answer-rate-by-day",
        title="Answer rate by day",
        caption="(answered ÷ finished calls)",
        empty_text="No finished calls in this range.",
        unit="%",
    )
    talk = column_chart(
        _day_items(
            analytics, lambda slot: round(slot.talk_seconds / 60), OUTCOME_COLOURS["completed"]
        ),
        chart_id="analytics-talk-time-by-day",
        title="Talk time by day",
        caption="(minutes of answered calls)",
        empty_text="No answered calls in this range.",
        unit="m",
    )
    return calls, answer_rate, talk


def hour_charts(analytics: Analytics) -> tuple[Chart, Chart]:
    hours = sorted(analytics.by_hour.items())
    calls = column_chart(
        [
            ChartItem(
                key=str(hour),
                label=f"{hour:02d}:00-{hour:02d}:59",
                value=slot.finished,
                tick=f"{hour:02d}" if hour % 3 == 0 else "",
            )
            for hour, slot in hours
        ],
        chart_id="analytics-calls-by-hour",
        title="Calls by hour of the callee's day",
        caption="(local time in each contact's zone)",
        empty_text="No finished calls in this range.",
    )
    answer_rate = column_chart(
        [
            ChartItem(
                key=str(hour),
                label=f"{hour:02d}:00-{hour:02d}:59 ({slot.answered}/{slot.finished})",
                value=_percent(slot.answer_rate),
                colour=OUTCOME_COLOURS["interested"],
                tick=f"{hour:02d}" if hour % 3 == 0 else "",
            )
            for hour, slot in hours
        ],
        chart_id="analytics-answer-rate-by-hour",
        title="Answer rate by hour of the callee's day",
        caption="(answered ÷ finished calls)",
        empty_text="No finished calls in this range.",
        unit="%",
    )
    return calls, answer_rate


def latency_chart(stats: LatencyStats, *, chart_id: str) -> Chart:
    return column_chart(
        [
            ChartItem(
                key=str(index),
                label=latency_bucket_label(index),
                value=count,
                tick=str(LATENCY_EDGES_MS[index]) if index % 2 == 0 else "",
            )
            for index, count in enumerate(stats.buckets)
        ],
        chart_id=chart_id,
        title=f"Reply latency: {stats.campaign_name}",
        caption="(caller's end of speech → first audio of the reply, ms)",
        empty_text="No replies measured in this range.",
    )


@dataclass(frozen=True)
class VersionRow:
    version: VersionComparison
    outcomes: list[tuple[str, str, Rate]]  # (value, label, rate)
    objections: list[tuple[str, Rate]]


def version_table(versions: list[VersionComparison]) -> list[VersionRow]:
    return [
        VersionRow(
            version=version,
            outcomes=[
                (str(value), str(OUTCOME_LABELS[value]), version.outcomes[str(value)])
                for value in COMPARED_OUTCOMES
            ],
            objections=list(version.objections.items()),
        )
        for version in versions
    ]


def version_chart(versions: list[VersionComparison], *, outcome: str) -> IntervalChart:
    label = OUTCOME_LABELS.get(outcome, outcome)
    return interval_chart(
        [
            IntervalItem(
                key=str(version.version_id),
                label=f"{version.script_name} v{version.number}",
                rate=version.outcomes[outcome].rate,
                low=version.outcomes[outcome].low,
                high=version.outcomes[outcome].high,
                text=_rate_text(version.outcomes[outcome]),
                colour=OUTCOME_COLOURS.get(outcome, DEFAULT_COLOUR),
            )
            for version in versions
        ],
        chart_id=f"analytics-versions-{outcome.replace('_', '-')}",
        title=f"“{label}” rate by script version",
        caption="(share of finished calls, with its 95% Wilson interval)",
        empty_text="No script version has finished calls in this range.",
    )


def page_context(
    *, analytics: Analytics, latency_overall: LatencyStats, latency: list[LatencyStats]
) -> dict[str, Any]:
    calls_by_day, answer_rate_by_day, talk_by_day = day_charts(analytics)
    calls_by_hour, answer_rate_by_hour = hour_charts(analytics)
    return {
        "analytics": analytics,
        "outcome_chart": outcome_chart(analytics),
        "calls_by_day_chart": calls_by_day,
        "answer_rate_by_day_chart": answer_rate_by_day,
        "talk_by_day_chart": talk_by_day,
        "calls_by_hour_chart": calls_by_hour,
        "answer_rate_by_hour_chart": answer_rate_by_hour,
        "answer_rate_percent": round(100 * analytics.total.answer_rate, 1),
        "average_talk_seconds": round(analytics.average_talk_seconds),
        "total_talk_minutes": round(analytics.total.talk_seconds / 60),
        "latency_overall": latency_overall,
        "latency_chart": latency_chart(latency_overall, chart_id="analytics-latency-histogram"),
        "latency_rows": latency,
        "version_rows": version_table(analytics.versions),
        "version_charts": [
            version_chart(analytics.versions, outcome=str(outcome))
            for outcome in (Outcome.INTERESTED, Outcome.CALLBACK_REQUESTED)
        ],
    }
