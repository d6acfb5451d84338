"""Small server-rendered SVG bar charts for the admin (no JavaScript, no CDN).

The geometry is computed here and `templates/admin/includes/bar_chart.svg.html` only draws it,
so a chart is plain markup a test can read: every bar is a `<rect class="chart-bar">` with
`data-key` (a stable machine value), `data-label` and `data-value`, plus a `<title>` tooltip.

Layouts: `horizontal_bar_chart` (one labelled row per category: outcome breakdowns),
`column_chart` (a time series or a histogram: calls per hour, reply latency) and
`interval_chart` (rates with confidence intervals, one row each: script versions compared;
drawn by `templates/admin/includes/interval_chart.svg.html`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# One colour per call outcome, so the same outcome looks the same on every chart.
OUTCOME_COLOURS = {
    "interested": "#2e7d32",
    "callback_requested": "#f9a825",
    "not_interested": "#c62828",
    "do_not_call": "#6a1b9a",
    "no_conversation": "#78909c",
    "voicemail": "#5c6bc0",
    "no_answer": "#90a4ae",
    "busy": "#ef6c00",
    "failed": "#4e342e",
    "completed": "#00838f",
}
DEFAULT_COLOUR = "#417690"  # Django admin's primary blue

_ROW_HEIGHT = 22
_BAR_HEIGHT = 14
_LABEL_WIDTH = 150
_BAR_SPACE = 240
_VALUE_WIDTH = 70

_COLUMN_WIDTH = 18
_COLUMN_GAP = 4
_PLOT_HEIGHT = 120
_AXIS_HEIGHT = 18
_TOP_PADDING = 14
_LEFT_PADDING = 34


@dataclass(frozen=True)
class ChartItem:
    """One category or time slot: `key` is stable (an outcome value, an ISO hour), `label` is
    what a person reads, `tick` an optional short axis label for column charts."""

    key: str
    label: str
    value: int
    colour: str = DEFAULT_COLOUR
    tick: str = ""


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: int
    colour: str
    x: float
    y: float
    width: float
    height: float
    # Text drawn next to the bar (category name / axis tick) and the number.
    label_x: float
    label_y: float
    label_text: str
    label_anchor: str
    value_x: float
    value_y: float
    value_text: str


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    total: int
    maximum: int
    empty_text: str
    # Column charts draw a baseline and the maximum on the left axis.
    baseline_y: float | None = None
    axis_text: str = ""
    axis_x: float = 0
    axis_y: float = 0
    caption: str = ""

    @property
    def is_empty(self) -> bool:
        return self.total == 0


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def horizontal_bar_chart(
    items: Sequence[ChartItem],
    *,
    chart_id: str,
    title: str,
    empty_text: str = "No data yet.",
    caption: str = "",
) -> Chart:
    """One row per item: label on the left, a bar scaled to the largest value, count and share."""
    total = sum(item.value for item in items)
    maximum = max((item.value for item in items), default=0)
    bars = []
    for row, item in enumerate(items):
        top = row * _ROW_HEIGHT + 4
        width = _BAR_SPACE * item.value / maximum if maximum else 0.0
        # A zero still gets a sliver, so the row does not look like a rendering gap.
        width = max(width, 1.0)
        bars.append(
            Bar(
                key=item.key,
                label=item.label,
                value=item.value,
                colour=item.colour,
                x=_LABEL_WIDTH,
                y=top,
                width=round(width, 1),
                height=_BAR_HEIGHT,
                label_x=_LABEL_WIDTH - 6,
                label_y=top + _BAR_HEIGHT - 3,
                label_text=item.label,
                label_anchor="end",
                value_x=round(_LABEL_WIDTH + width + 6, 1),
                value_y=top + _BAR_HEIGHT - 3,
                value_text=f"{item.value} ({_percent(item.value, total)})",
            )
        )
    return Chart(
        chart_id=chart_id,
        title=title,
        width=_LABEL_WIDTH + _BAR_SPACE + _VALUE_WIDTH,
        height=max(len(items), 1) * _ROW_HEIGHT + 8,
        bars=tuple(bars),
        total=total,
        maximum=maximum,
        empty_text=empty_text,
        caption=caption,
    )


def column_chart(
    items: Sequence[ChartItem],
    *,
    chart_id: str,
    title: str,
    empty_text: str = "No data yet.",
    caption: str = "",
    unit: str = "",
) -> Chart:
    """Columns left to right (a time series), scaled to the largest value, with axis ticks.
    `unit` follows each written number ("%" for rates)."""
    total = sum(item.value for item in items)
    maximum = max((item.value for item in items), default=0)
    baseline = _TOP_PADDING + _PLOT_HEIGHT
    bars = []
    for column, item in enumerate(items):
        left = _LEFT_PADDING + column * (_COLUMN_WIDTH + _COLUMN_GAP)
        height = _PLOT_HEIGHT * item.value / maximum if maximum else 0.0
        middle = left + _COLUMN_WIDTH / 2
        bars.append(
            Bar(
                key=item.key,
                label=item.label,
                value=item.value,
                colour=item.colour,
                x=left,
                y=round(baseline - height, 1),
                width=_COLUMN_WIDTH,
                height=round(height, 1),
                label_x=middle,
                label_y=baseline + _AXIS_HEIGHT - 4,
                label_text=item.tick,
                label_anchor="middle",
                value_x=middle,
                value_y=round(baseline - height - 3, 1),
                # Numbers above every column would collide; only non-zero ones are written.
                value_text=f"{item.value}{unit}" if item.value else "",
            )
        )
    width = _LEFT_PADDING + len(items) * (_COLUMN_WIDTH + _COLUMN_GAP) + 8
    return Chart(
        chart_id=chart_id,
        title=title,
        width=max(width, 200),
        height=baseline + _AXIS_HEIGHT + 4,
        bars=tuple(bars),
        total=total,
        maximum=maximum,
        empty_text=empty_text,
        baseline_y=baseline,
        axis_text=f"{maximum}{unit}",
        axis_x=_LEFT_PADDING - 4,
        axis_y=_TOP_PADDING + 4,
        caption=caption,
    )


def stacked_bar(items: Sequence[ChartItem], *, width: int = 200, height: int = 12) -> Chart:
    """One bar split into segments by share (e.g. the outcomes of the calls where an objection
    fired). Zero items are dropped; the segments fill the whole width."""
    shown = [item for item in items if item.value > 0]
    total = sum(item.value for item in shown)
    bars = []
    left = 0.0
    for item in shown:
        share = width * item.value / total
        bars.append(
            Bar(
                key=item.key,
                label=item.label,
                value=item.value,
                colour=item.colour,
                x=round(left, 1),
                y=0,
                width=round(share, 1),
                height=height,
                label_x=0,
                label_y=0,
                label_text="",
                label_anchor="start",
                value_x=0,
                value_y=0,
                value_text=f"{item.label}: {item.value} ({_percent(item.value, total)})",
            )
        )
        left += share
    return Chart(
        chart_id="",
        title="",
        width=width,
        height=height,
        bars=tuple(bars),
        total=total,
        maximum=max((item.value for item in shown), default=0),
        empty_text="",
    )


# --- Rates with confidence intervals ----------------------------------------------------------

_INTERVAL_LABEL_WIDTH = 170
_INTERVAL_SPACE = 260
_INTERVAL_TEXT_WIDTH = 150
_INTERVAL_ROW = 24
_INTERVAL_AXIS = 20


@dataclass(frozen=True)
class IntervalItem:
    """One rate (0..1) with its interval: `text` is what a person reads beside it."""

    key: str
    label: str
    rate: float
    low: float
    high: float
    text: str
    colour: str = DEFAULT_COLOUR


@dataclass(frozen=True)
class IntervalRow:
    key: str
    label: str
    rate: float
    low: float
    high: float
    colour: str
    y: float  # the row's centre line
    rate_x: float
    low_x: float
    high_x: float
    label_x: float
    text_x: float
    text: str


@dataclass(frozen=True)
class IntervalChart:
    chart_id: str
    title: str
    width: int
    height: int
    rows: tuple[IntervalRow, ...]
    # (x, "50%") ticks along the bottom axis, 0% to 100%.
    ticks: tuple[tuple[float, str], ...]
    axis_y: float
    empty_text: str
    caption: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.rows


def interval_chart(
    items: Sequence[IntervalItem],
    *,
    chart_id: str,
    title: str,
    empty_text: str = "No data yet.",
    caption: str = "",
) -> IntervalChart:
    """One row per item on a shared 0-100% axis: a line from the interval's low to its high
    end, a dot at the rate. Overlapping lines say "no evidence of a difference"."""

    def x_of(share: float) -> float:
        return round(_INTERVAL_LABEL_WIDTH + _INTERVAL_SPACE * min(max(share, 0.0), 1.0), 1)

    rows = tuple(
        IntervalRow(
            key=item.key,
            label=item.label,
            rate=item.rate,
            low=item.low,
            high=item.high,
            colour=item.colour,
            y=index * _INTERVAL_ROW + _INTERVAL_ROW // 2,
            rate_x=x_of(item.rate),
            low_x=x_of(item.low),
            high_x=x_of(item.high),
            label_x=_INTERVAL_LABEL_WIDTH - 8,
            text_x=_INTERVAL_LABEL_WIDTH + _INTERVAL_SPACE + 8,
            text=item.text,
        )
        for index, item in enumerate(items)
    )
    axis_y = len(rows) * _INTERVAL_ROW + 4
    return IntervalChart(
        chart_id=chart_id,
        title=title,
        width=_INTERVAL_LABEL_WIDTH + _INTERVAL_SPACE + _INTERVAL_TEXT_WIDTH,
        height=int(axis_y + _INTERVAL_AXIS),
        rows=rows,
        ticks=tuple((x_of(share / 100), f"{share}%") for share in (0, 25, 50, 75, 100)),
        axis_y=axis_y,
        empty_text=empty_text,
        caption=caption,
    )
