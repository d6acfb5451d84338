"""The campaign page's cost panel: tiles (spent, per connected call, per success, budget) and
two charts (spend by component, spend by hour), from `campaigns.costs.campaign_costs`.

The charts are `anvil_voice.charts`' SVG bars; their values are whole ten-thousandths of the
currency (the precision costs are stored in) and the written numbers are money."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from django.conf import settings

from anvil_voice.charts import Chart, ChartItem, column_chart, horizontal_bar_chart
from campaigns import costs
from campaigns.models import Campaign

_UNITS = Decimal("10000")
_COMPONENTS = [
    ("carrier", "Carrier minutes"),
    ("speechToText", "Speech to text"),
    ("textToSpeech", "Text to speech"),
    ("llm", "LLM tokens"),
    ("compute", "Compute (local)"),
]


def _units(money: str) -> int:
    return int(Decimal(money) * _UNITS)


def _as_money(chart: Chart, currency: str) -> Chart:
    def text(value: int) -> str:
        return f"{Decimal(value) / _UNITS:.4f} {currency}" if value else ""

    bars = tuple(dataclasses.replace(bar, value_text=text(bar.value)) for bar in chart.bars)
    return dataclasses.replace(
        chart, bars=bars, axis_text=text(chart.maximum) if chart.axis_text else ""
    )


def campaign_cost_panel(campaign: Campaign) -> dict[str, Any]:
    report = costs.campaign_costs(campaign=campaign, success=costs.success_outcomes())
    overall, currency = report["overall"], report["currency"]
    components = horizontal_bar_chart(
        [
            ChartItem(key=key, label=label, value=_units(overall["breakdown"][key]))
            for key, label in _COMPONENTS
        ],
        chart_id="campaign-cost-chart",
        title="Spend by component",
        empty_text="No priced call yet.",
        caption=f"({overall['computeCpuSeconds']} CPU s of local models)",
    )
    hourly = column_chart(
        [
            ChartItem(
                key=row["hour"] or "",
                label=row["hour"] or "",
                value=_units(row["total"]),
                tick=(row["hour"] or "")[11:13],
            )
            for row in report["byHour"][-24:]
        ],
        chart_id="campaign-cost-hourly-chart",
        title="Spend by hour (UTC)",
        empty_text="No priced call yet.",
    )
    return {
        "currency": currency,
        "overall": overall,
        "success": ", ".join(report["successOutcomes"]),
        "budget": report["budget"],
        "by_version": report["byScriptVersion"],
        "components_chart": _as_money(components, currency),
        "hourly_chart": _as_money(hourly, currency),
        "slow_at": settings.CAMPAIGNS_BUDGET_SLOW_PERCENT,
    }
