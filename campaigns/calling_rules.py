"""The calling-window rule tables: data, with the source of every rule, to be reviewed.

Product rules, not legal advice (see the compliance reference). A contact is called only when
the time is inside every rule that applies to it: the country's rule, its state's rule when one
is listed, and the campaign's own days and hours (which can only narrow). Public holidays are
not modelled yet: states that forbid calls on holidays are listed with that noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from types import MappingProxyType

SUNDAY = 6


@dataclass(frozen=True)
class DayWindow:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class CallingRule:
    key: str
    summary: str
    source: str
    window: DayWindow
    # Weekday (Monday = 0) → that day's window, or None for "no calls that day".
    days: Mapping[int, DayWindow | None] = field(default_factory=lambda: MappingProxyType({}))

    def window_for(self, weekday: int) -> DayWindow | None:
        if weekday in self.days:
            return self.days[weekday]
        return self.window


def _rule(
    key: str,
    summary: str,
    source: str,
    start: tuple[int, int],
    end: tuple[int, int],
    days: Mapping[int, DayWindow | None] | None = None,
) -> CallingRule:
    return CallingRule(
        key=key,
        summary=summary,
        source=source,
        window=DayWindow(time(*start), time(*end)),
        days=MappingProxyType(dict(days or {})),
    )


# The legal window everywhere we have no better rule; campaigns may narrow it, never widen it.
LEGAL_WINDOW = DayWindow(time(8, 0), time(21, 0))

DEFAULT_RULE = _rule(
    "default",
    "08:00-21:00 in the callee's local time",
    "Anvil product rule for countries without a listed rule (mirrors the US federal window)",
    (8, 0),
    (21, 0),
)

COUNTRY_RULES: Mapping[str, CallingRule] = MappingProxyType(
    {
        "US": _rule(
            "US",
            "08:00-21:00 in the callee's local time",
            "TCPA, 47 CFR § 64.1200(c)(1)",
            (8, 0),
            (21, 0),
        ),
        "CA": _rule(
            "CA",
            "09:00-21:30 weekdays, 10:00-18:00 weekends (narrowed to 08:00-21:00 at most)",
            "CRTC Unsolicited Telecommunications Rules, Part III s. 35 (telemarketing hours)",
            (9, 0),
            (21, 0),
            {5: DayWindow(time(10, 0), time(18, 0)), SUNDAY: DayWindow(time(10, 0), time(18, 0))},
        ),
    }
)

# US states with stricter hours or days than the federal rule, keyed "US-<state>".
STATE_RULES: Mapping[str, CallingRule] = MappingProxyType(
    {
        "US-FL": _rule(
            "US-FL",
            "08:00-20:00",
            "Florida Telephone Solicitation Act, Fla. Stat. § 501.059(8)(a) (2021)",
            (8, 0),
            (20, 0),
        ),
        "US-OK": _rule(
            "US-OK",
            "08:00-20:00",
            "Oklahoma Telephone Solicitation Act, 15 O.S. § 775C.4 (2022)",
            (8, 0),
            (20, 0),
        ),
        "US-MD": _rule(
            "US-MD",
            "08:00-20:00",
            "Maryland Stop the Spam Calls Act, Md. Code Com. Law § 14-4503 (2023)",
            (8, 0),
            (20, 0),
        ),
        "US-CT": _rule(
            "US-CT",
            "09:00-20:00",
            "Conn. Gen. Stat. § 42-288a(c) (as amended 2023)",
            (9, 0),
            (20, 0),
        ),
        "US-TX": _rule(
            "US-TX",
            "09:00-21:00 Monday-Saturday, 12:00-21:00 Sunday",
            "Tex. Bus. & Com. Code § 301.051",
            (9, 0),
            (21, 0),
            {SUNDAY: DayWindow(time(12, 0), time(21, 0))},
        ),
        "US-LA": _rule(
            "US-LA",
            "08:00-20:00, no Sunday calls (state holidays: not modelled)",
            "La. R.S. 45:844.17",
            (8, 0),
            (20, 0),
            {SUNDAY: None},
        ),
        "US-MS": _rule(
            "US-MS",
            "08:00-20:00, no Sunday calls",
            "Miss. Code Ann. § 77-3-725",
            (8, 0),
            (20, 0),
            {SUNDAY: None},
        ),
        "US-UT": _rule(
            "US-UT",
            "08:00-21:00, no Sunday calls (legal holidays: not modelled)",
            "Utah Code § 13-25a-103",
            (8, 0),
            (21, 0),
            {SUNDAY: None},
        ),
    }
)


def rules_for(*, country: str, region: str) -> tuple[CallingRule, ...]:
    """Every legal rule for a callee in `country` (ISO code) and `region` (state code)."""
    rules = [COUNTRY_RULES.get(country, DEFAULT_RULE)]
    if region and (state_rule := STATE_RULES.get(f"{country}-{region}")):
        rules.append(state_rule)
    return tuple(rules)
