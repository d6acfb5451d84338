"""Best time to call: a contact list's answer rate by the callee's local hour and weekday,
learned from the organization's own sessions, and the dialler's use of it.

A campaign with `dial_order = best_time` (`DialOrder`):

- claims due contacts whose local hour answers best first (`due_ordering`: one score per time
  zone, since every contact in a zone shares its local hour), oldest due first among equals;
- plans a retry for the moment, within a day after its delay, whose local hour answers best
  (`retry_moment`); every candidate moment comes from `compliance.next_allowed_moment`, so a
  retry is never planned outside the calling window, and the claim's gate checks it again.

The rates (`answer_rates`): a dialled attempt is a campaign or callback session of the
organization, to a contact of the list, that reached the carrier (`placed_at`), in the last
`LOOKBACK_DAYS`; it *answered* when a person picked up (`answered_by` human, or answered with
no machine verdict). The hour is `placed_at` on the contact's clock (`Contact.time_zone`),
counted in the database by UTC hour and zone, then turned into local hours here (a zone with a
half-hour offset is counted in the local hour its UTC hour starts in).

Sparse hours must not dominate: every rate is a Beta posterior mean whose prior is the level
above it, `PRIOR_STRENGTH` pseudo-attempts strong. The organization's rate is the list's prior,
the list's rate the prior of each hour and weekday, and the hour's rate times the weekday's
ratio to the list the prior of each (weekday, hour) cell. With no history every cell equals the
organization's rate: the best-time order is then the plain order.

The selector's result is cached per list for `CACHE_SECONDS` (the dialler asks every tick, the
outcome handler every finished call).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.cache import cache
from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.expressions import OrderBy
from django.db.models.fields import FloatField
from django.db.models.functions import TruncHour
from django.utils import timezone

from campaigns.compliance import Callee, Schedule, next_allowed_moment
from campaigns.models import Campaign, CampaignContact, Contact, ContactList, DialOrder
from sessions.models import AnsweredBy, CallSession, SessionKind

HOURS = tuple(range(24))
WEEKDAYS = tuple(range(7))  # Monday = 0, like `Campaign.days_of_week`
# How much history counts: long enough for sparse lists, short enough to follow a change.
LOOKBACK_DAYS = 180
# Pseudo-attempts of each prior: an hour needs about this many calls before its own rate
# weighs as much as the level above it.
PRIOR_STRENGTH = 20.0
CACHE_SECONDS = 600
# A retry waits at most this long after its planned time for a better hour.
RETRY_HORIZON = timedelta(hours=24)
# Scores closer than this are a tie: the earlier moment (the older due contact) wins.
SCORE_TOLERANCE = 0.01
# Due contacts reordered per claim, at most: the oldest due this many, so a million pending
# contacts cost a bounded sort (the rest wait their turn in due order).
ORDER_WINDOW = 5_000


@dataclass(frozen=True)
class Rate:
    attempts: int
    answered: int
    rate: float  # smoothed (posterior mean), in [0, 1]

    @property
    def observed(self) -> float | None:
        return self.answered / self.attempts if self.attempts else None


def _posterior(answered: int, attempts: int, prior: float, strength: float) -> float:
    return (answered + strength * prior) / (attempts + strength)


@dataclass(frozen=True)
class AnswerRates:
    """Attempts and answers per (weekday, local hour) of one list, with its prior."""

    cells: dict[tuple[int, int], tuple[int, int]]  # (weekday, hour) → (attempts, answered)
    organization_attempts: int
    organization_answered: int
    strength: float = PRIOR_STRENGTH
    lookback_days: int = LOOKBACK_DAYS

    @classmethod
    def empty(cls) -> AnswerRates:
        return cls(cells={}, organization_attempts=0, organization_answered=0)

    def _sum(self, keep: Any) -> tuple[int, int]:
        attempts = answered = 0
        for key, (n, a) in self.cells.items():
            if keep(key):
                attempts, answered = attempts + n, answered + a
        return attempts, answered

    @property
    def organization(self) -> Rate:
        # Laplace's rule: with no history at all every rate is one half, so no hour leads.
        n, a = self.organization_attempts, self.organization_answered
        return Rate(n, a, (a + 1) / (n + 2))

    @property
    def overall(self) -> Rate:
        n, a = self._sum(lambda key: True)
        return Rate(n, a, _posterior(a, n, self.organization.rate, self.strength))

    def hour(self, hour: int) -> Rate:
        n, a = self._sum(lambda key: key[1] == hour)
        return Rate(n, a, _posterior(a, n, self.overall.rate, self.strength))

    def weekday(self, weekday: int) -> Rate:
        n, a = self._sum(lambda key: key[0] == weekday)
        return Rate(n, a, _posterior(a, n, self.overall.rate, self.strength))

    def _cell(self, weekday: int, hour: int, overall: float, hour_rate: float, day: float) -> Rate:
        # The cell's prior: the hour's rate, scaled by how this weekday does against the list.
        factor = day / overall if overall > 0 else 1.0
        prior = min(1.0, hour_rate * factor)
        n, a = self.cells.get((weekday, hour), (0, 0))
        return Rate(n, a, _posterior(a, n, prior, self.strength))

    def cell(self, weekday: int, hour: int) -> Rate:
        return self._cell(
            weekday, hour, self.overall.rate, self.hour(hour).rate, self.weekday(weekday).rate
        )

    def grid(self) -> list[list[Rate]]:
        """Every cell, [weekday][hour], computed once (the API and the admin chart)."""
        overall = self.overall.rate
        # One pass for the hours' and weekdays' sums (`hour`/`weekday` each walk every cell).
        by_hour, by_day = [[0, 0] for _ in HOURS], [[0, 0] for _ in WEEKDAYS]
        for (day, hour), (n, a) in self.cells.items():
            by_hour[hour][0] += n
            by_hour[hour][1] += a
            by_day[day][0] += n
            by_day[day][1] += a
        hours = [_posterior(a, n, overall, self.strength) for n, a in by_hour]
        days = [_posterior(a, n, overall, self.strength) for n, a in by_day]
        return [
            [self._cell(day, hour, overall, hours[hour], days[day]) for hour in HOURS]
            for day in WEEKDAYS
        ]

    @cached_property
    def _table(self) -> tuple[tuple[float, ...], ...]:
        # Every smoothed cell once: the dialler scores many moments against one table.
        return tuple(tuple(rate.rate for rate in row) for row in self.grid())

    def at(self, moment: datetime, zone: ZoneInfo) -> float:
        """The smoothed answer rate of a call placed at `moment`, on the clock of `zone`."""
        local = moment.astimezone(zone)
        return self._table[local.weekday()][local.hour]


# --- The selector ---------------------------------------------------------------------------


def _attempts(organization_id: int, since: datetime) -> QuerySet[CallSession]:
    return CallSession.objects.filter(
        organization_id=organization_id,
        kind__in=(SessionKind.CAMPAIGN, SessionKind.CALLBACK),
        queued_at__gte=since,  # the (organization, queued_at) index
        placed_at__isnull=False,
    )


def _answered() -> Q:
    return Q(answered_by=AnsweredBy.HUMAN) | Q(
        answered_at__isnull=False, answered_by=AnsweredBy.UNKNOWN
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def answer_rates(
    contact_list: ContactList, *, now: datetime | None = None, lookback_days: int = LOOKBACK_DAYS
) -> AnswerRates:
    """The list's answer rates, learned from its organization's sessions (uncached)."""
    return _answer_rates(
        contact_list.pk, contact_list.organization_id, now=now, lookback_days=lookback_days
    )


def _answer_rates(
    contact_list_id: int,
    organization_id: int,
    *,
    now: datetime | None = None,
    lookback_days: int = LOOKBACK_DAYS,
) -> AnswerRates:
    since = (now or timezone.now()) - timedelta(days=lookback_days)
    totals = _attempts(organization_id, since).aggregate(
        attempts=Count("pk"), answered=Count("pk", filter=_answered())
    )
    rows = (
        _attempts(organization_id, since)
        .filter(contact__contact_list_id=contact_list_id)
        .annotate(hour=TruncHour("placed_at", tzinfo=UTC), zone=F("contact__time_zone"))
        .values("zone", "hour")
        .annotate(attempts=Count("pk"), answered=Count("pk", filter=_answered()))
        .order_by()
    )
    cells: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        local = row["hour"].astimezone(_zone(row["zone"]))
        cell = cells[(local.weekday(), local.hour)]
        cell[0] += row["attempts"]
        cell[1] += row["answered"]
    return AnswerRates(
        cells={key: (n, a) for key, (n, a) in cells.items()},
        organization_attempts=totals["attempts"] or 0,
        organization_answered=totals["answered"] or 0,
        lookback_days=lookback_days,
    )


def _cache_key(contact_list_id: int) -> str:
    return f"best-time:rates:{contact_list_id}"


def cached_answer_rates(campaign: Campaign) -> AnswerRates:
    """The campaign's list's `answer_rates`, at most `CACHE_SECONDS` old (the dialler's and
    the retries' reads)."""
    key = _cache_key(campaign.contact_list_id)
    rates = cache.get(key)
    if not isinstance(rates, AnswerRates):
        rates = _answer_rates(campaign.contact_list_id, campaign.organization_id)
        cache.set(key, rates, CACHE_SECONDS)
    return rates


def answer_rates_payload(rates: AnswerRates) -> dict[str, Any]:
    """The API's and the admin's view: by hour, by weekday and by (weekday, hour), with counts."""

    def rate(item: Rate) -> dict[str, Any]:
        return {
            "attempts": item.attempts,
            "answered": item.answered,
            "observedRate": None if item.observed is None else round(item.observed, 4),
            "rate": round(item.rate, 4),
        }

    grid = rates.grid()
    return {
        "overall": rate(rates.overall),
        "organization": rate(rates.organization),
        "priorStrength": rates.strength,
        "lookbackDays": rates.lookback_days,
        "byHour": [{"hour": hour, **rate(rates.hour(hour))} for hour in HOURS],
        "byWeekday": [{"weekday": day, **rate(rates.weekday(day))} for day in WEEKDAYS],
        "cells": [
            {"weekday": day, "hour": hour, **rate(grid[day][hour])}
            for day in WEEKDAYS
            for hour in HOURS
        ],
    }


# --- The dialler's use ----------------------------------------------------------------------


def zone_scores(rates: AnswerRates, zones: Sequence[str], *, now: datetime) -> dict[str, float]:
    """Each zone's answer rate now, rounded so near-equal zones tie (then: oldest due first)."""
    return {name: round(rates.at(now, _zone(name)), 2) for name in zones}


def _list_zones(contact_list_id: int) -> list[str]:
    key = f"best-time:zones:{contact_list_id}"
    zones = cache.get(key)
    if not isinstance(zones, list):
        zones = sorted(
            Contact.objects.filter(contact_list_id=contact_list_id)
            .values_list("time_zone", flat=True)
            .distinct()
        )
        cache.set(key, zones, CACHE_SECONDS)
    return zones


def order_due(
    due: QuerySet[CampaignContact], *, campaign: Campaign, now: datetime
) -> QuerySet[CampaignContact]:
    """The claim's order of due contacts: oldest due first (plain), or, for `best_time`,
    contacts whose local hour answers best first among the `ORDER_WINDOW` oldest due."""
    plain = due.order_by("next_attempt_at", "id")
    if campaign.dial_order != DialOrder.BEST_TIME:
        return plain
    rates = cached_answer_rates(campaign)
    scores = zone_scores(rates, _list_zones(campaign.contact_list_id), now=now)
    if len(set(scores.values())) <= 1:
        return plain  # one zone, or every zone alike now: nothing to reorder
    score = Case(
        *[When(contact__time_zone=name, then=Value(value)) for name, value in scores.items()],
        default=Value(round(rates.overall.rate, 2)),
        output_field=FloatField(),
    )
    window = plain.values("pk")[:ORDER_WINDOW]
    return due.filter(pk__in=window).order_by(
        OrderBy(score, descending=True), "next_attempt_at", "id"
    )


def best_moment(
    rates: AnswerRates,
    *,
    callee: Callee,
    schedule: Schedule,
    zone: ZoneInfo,
    earliest: datetime,
    horizon: timedelta = RETRY_HORIZON,
) -> datetime:
    """The moment in [earliest, earliest + horizon] inside the calling window whose local hour
    answers best (the earliest of the best, within `SCORE_TOLERANCE`); `earliest` when no other
    moment is allowed. Candidates: `earliest` and each later local hour's start, each moved
    into the window by the compliance gate's own `next_allowed_moment`."""
    candidates = [earliest]
    top = earliest.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for step in range(1, int(horizon / timedelta(hours=1)) + 1):
        moment = next_allowed_moment(
            callee=callee, schedule=schedule, at=top + timedelta(hours=step)
        )
        if moment is None or moment > earliest + horizon:
            continue
        if moment not in candidates:
            candidates.append(moment)
    scored = [(rates.at(moment, zone), moment) for moment in candidates]
    best = max(score for score, _ in scored)
    return min(moment for score, moment in scored if score >= best - SCORE_TOLERANCE)


def retry_moment(*, contact: Contact, campaign: Campaign, planned: datetime) -> datetime:
    """When a retry planned for `planned` (already inside the window) happens: unchanged for a
    plain campaign; for `best_time`, the best-answering allowed moment within a day of it."""
    if campaign.dial_order != DialOrder.BEST_TIME:
        return planned
    return best_moment(
        cached_answer_rates(campaign),
        callee=Callee.of(contact),
        schedule=Schedule.of(campaign),
        zone=_zone(contact.time_zone),
        earliest=planned,
    )
