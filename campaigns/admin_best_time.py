"""The contact list page's "best time to call" charts: answer rate by the callee's local hour,
by weekday, and a weekday x hour heatmap (`campaigns.best_time`).

Drawn with the admin's chart geometry and template (`anvil_voice.charts`,
`admin/includes/bar_chart.svg.html`): the heatmap is a `Chart` whose bars are the cells, so it
is plain SVG a test can read like every other chart (`data-key` "weekday-hour", `data-value`
the smoothed rate in percent).
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from anvil_voice.charts import Bar, Chart, ChartItem, column_chart
from campaigns import best_time
from campaigns.models import ContactList

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CELL = 18
_GAP = 2
_LEFT = 40
_TOP = 16
# From pale to deep blue: the share of the best cell's rate.
_PALE = (0xE3, 0xF2, 0xFD)
_DEEP = (0x0D, 0x47, 0xA1)


def _shade(share: float) -> str:
    share = min(max(share, 0.0), 1.0)
    red, green, blue = (round(p + (d - p) * share) for p, d in zip(_PALE, _DEEP, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def heatmap(rates: best_time.AnswerRates) -> Chart:
    grid = rates.grid()
    values = [round(100 * cell.rate) for row in grid for cell in row]
    low, high = min(values), max(values)
    bars = []
    for day, row in enumerate(grid):
        for hour, cell in enumerate(row):
            value = round(100 * cell.rate)
            x = _LEFT + hour * (_CELL + _GAP)
            y = _TOP + day * (_CELL + _GAP)
            bars.append(
                Bar(
                    key=f"{day}-{hour}",
                    label=(
                        f"{WEEKDAY_NAMES[day]} {hour:02d}:00, {cell.answered} of {cell.attempts} "
                        "answered, smoothed rate"
                    ),
                    value=value,
                    colour=_shade((value - low) / (high - low) if high > low else 0.0),
                    x=x,
                    y=y,
                    width=_CELL,
                    height=_CELL,
                    # Weekday names down the left; hours along the top (every third).
                    label_x=_LEFT - 6,
                    label_y=y + _CELL - 5,
                    label_text=WEEKDAY_NAMES[day] if hour == 0 else "",
                    label_anchor="end",
                    value_x=x + 1,
                    value_y=_TOP - 4,
                    value_text=f"{hour:02d}" if day == 0 and hour % 3 == 0 else "",
                )
            )
    return Chart(
        chart_id="best-time-heatmap",
        title="Answer rate by local hour x weekday (%)",
        width=_LEFT + 24 * (_CELL + _GAP) + 8,
        height=_TOP + 7 * (_CELL + _GAP) + 4,
        bars=tuple(bars),
        total=rates.overall.attempts,
        maximum=high,
        empty_text="No calls yet: every hour is at the organization's rate.",
        caption="Darker answers more; hover a cell for its counts.",
    )


def by_hour(rates: best_time.AnswerRates) -> Chart:
    items = []
    for hour in best_time.HOURS:
        rate = rates.hour(hour)
        items.append(
            ChartItem(
                key=str(hour),
                label=f"{hour:02d}:00 ({rate.answered} of {rate.attempts} answered)",
                value=round(100 * rate.rate),
                tick=f"{hour:02d}" if hour % 3 == 0 else "",
            )
        )
    return column_chart(
        items,
        chart_id="best-time-by-hour",
        title="Answer rate by the callee's local hour",
        caption="smoothed toward the list's average",
        unit="%",
    )


def answer_rate_charts(contact_list: ContactList) -> SafeString:
    """The charts for the list's admin page (rates as the dialler sees them, uncached)."""
    rates = best_time.answer_rates(contact_list)
    charts = [heatmap(rates), by_hour(rates)]
    summary = format_html(
        "<p>{} calls counted over the last {} days, {} answered by a person "
        "(organization: {} of {}).</p>",
        rates.overall.attempts,
        rates.lookback_days,
        rates.overall.answered,
        rates.organization.answered,
        rates.organization.attempts,
    )
    rendered = "".join(
        render_to_string("admin/includes/bar_chart.svg.html", {"chart": chart}) for chart in charts
    )
    return mark_safe(summary + rendered)  # noqa: S308 (escaped by format_html and the template)
