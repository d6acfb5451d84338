"""Reads for the analytics pages: outcomes and answer rate by the callee's local day and hour,
talk time, reply latency, and script versions compared side by side.

Here and not in `sessions`: the pages are per campaign and read the contact's time zone, and
sessions never import campaigns. The caller passes an organization-scoped queryset of sessions
(`analytics_sessions`), so nothing here can read another tenant's calls.

The figures are computed in Python from one `values_list` read per page view (portable across
SQLite and PostgreSQL: converting each call to its callee's zone is not one SQL expression on
both), capped at `ANALYTICS_MAX_CALLS` newest calls; the page says when it was capped.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q, QuerySet

from scripts.models import ScriptVersion
from sessions.models import (
    TERMINAL_CALL_STATUSES,
    CallSession,
    Outcome,
    SessionKind,
    Speaker,
    TranscriptTurn,
)

ANALYTICS_MAX_CALLS = 50_000
# Reply latencies read per page view (a call has a few dozen replies at most).
ANALYTICS_MAX_REPLIES = 200_000
_CHUNK = 2_000
# z for a two-sided 95% interval.
Z_95 = 1.959963984540054
# Histogram bucket edges for reply latency, in ms; the last bucket is open ("≥ 3000 ms").
LATENCY_EDGES_MS = (0, 250, 500, 750, 1000, 1250, 1500, 2000, 3000)
# The outcomes compared across script versions (the ones a script can change).
COMPARED_OUTCOMES = (
    Outcome.INTERESTED,
    Outcome.CALLBACK_REQUESTED,
    Outcome.NOT_INTERESTED,
    Outcome.DO_NOT_CALL,
    Outcome.TRANSFERRED,
)


# --- Pure helpers (unit-tested with known numbers) --------------------------------------------


def wilson_interval(successes: int, total: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion: (low, high), both within [0, 1].

    Unlike the normal approximation it stays inside [0, 1] and is sensible for the small
    counts of a new script version (0 of 5 is not "0% ± 0")."""
    if total <= 0:
        return (0.0, 0.0)
    if not 0 <= successes <= total:
        raise ValueError("successes must lie between 0 and total")
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    margin = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted `values` (q in (0, 100]); None when empty."""
    if not values:
        return None
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_slot(at: datetime, zone_name: str | None) -> tuple[date, int, bool]:
    """(local date, local hour, zone known) of `at` for a callee in `zone_name`. A call whose
    contact is gone or has no valid zone is counted in UTC and flagged."""
    zone = _zone(zone_name or "")
    local = at.astimezone(zone or UTC)
    return local.date(), local.hour, zone is not None


def latency_bucket(ms: float) -> int:
    """The index of the histogram bucket for `ms` (LATENCY_EDGES_MS; the last is open)."""
    for index in range(len(LATENCY_EDGES_MS) - 1, -1, -1):
        if ms >= LATENCY_EDGES_MS[index]:
            return index
    return 0


def latency_bucket_label(index: int) -> str:
    low = LATENCY_EDGES_MS[index]
    if index == len(LATENCY_EDGES_MS) - 1:
        return f"≥ {low} ms"
    return f"{low}-{LATENCY_EDGES_MS[index + 1]} ms"


# --- The read ---------------------------------------------------------------------------------


@dataclass
class Slot:
    """Calls in one local day or hour: finished, answered, outcomes, talk seconds."""

    finished: int = 0
    answered: int = 0
    talk_seconds: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def answer_rate(self) -> float:
        return self.answered / self.finished if self.finished else 0.0


@dataclass(frozen=True)
class Rate:
    count: int
    total: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.count / self.total if self.total else 0.0

    @classmethod
    def of(cls, count: int, total: int) -> Rate:
        low, high = wilson_interval(count, total)
        return cls(count=count, total=total, low=low, high=high)


@dataclass(frozen=True)
class VersionComparison:
    version_id: int
    script_name: str
    number: int
    calls: int  # finished calls
    answered: int
    outcomes: dict[str, Rate]  # per COMPARED_OUTCOMES value, over finished calls
    answer_rate: Rate
    # Objection trigger (as spoken, normalised) → calls where it fired, over answered calls.
    objections: dict[str, Rate]


@dataclass(frozen=True)
class LatencyStats:
    campaign_id: int | None
    campaign_name: str
    count: int
    p50: float | None
    p95: float | None
    buckets: tuple[int, ...]


@dataclass
class Analytics:
    calls_read: int = 0
    truncated: bool = False
    limit: int = ANALYTICS_MAX_CALLS
    unknown_zone_calls: int = 0
    total: Slot = field(default_factory=Slot)
    by_day: dict[date, Slot] = field(default_factory=dict)
    by_hour: dict[int, Slot] = field(default_factory=lambda: {hour: Slot() for hour in range(24)})
    versions: list[VersionComparison] = field(default_factory=list)
    latency: list[LatencyStats] = field(default_factory=list)
    latency_overall: LatencyStats | None = None

    @property
    def average_talk_seconds(self) -> float:
        return self.total.talk_seconds / self.total.answered if self.total.answered else 0.0


def analytics_sessions(
    sessions: QuerySet[CallSession],
    *,
    campaign_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[CallSession]:
    """The calls the pages count: campaign calls and callbacks (not test calls) of the given
    scoped queryset, in one campaign or all, queued in [since, until)."""
    queryset = sessions.filter(kind__in=[SessionKind.CAMPAIGN, SessionKind.CALLBACK])
    if campaign_id is not None:
        queryset = queryset.filter(campaign_id=campaign_id)
    if since is not None:
        queryset = queryset.filter(queued_at__gte=since)
    if until is not None:
        queryset = queryset.filter(queued_at__lt=until)
    return queryset


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def _objection_keys(entries: Any) -> set[str]:
    if not isinstance(entries, list):
        return set()
    return {
        _normalized(str(entry["trigger"]))
        for entry in entries
        if isinstance(entry, Mapping) and entry.get("trigger")
    }


def campaign_analytics(
    *, sessions: QuerySet[CallSession], limit: int = ANALYTICS_MAX_CALLS
) -> Analytics:
    """Everything the analytics page draws, for the calls of `sessions` (already scoped and
    filtered by `analytics_sessions`)."""
    result = Analytics(limit=limit)
    per_version: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"finished": 0, "answered": 0, "outcomes": Counter(), "objections": Counter()}
    )
    rows = sessions.order_by("-id").values_list(
        "placed_at",
        "queued_at",
        "answered_at",
        "status",
        "outcome",
        "duration_seconds",
        "contact__time_zone",
        "script_version_id",
        "extracted__objections",
    )[: limit + 1]
    for (
        placed_at,
        queued_at,
        answered_at,
        status,
        outcome,
        duration,
        zone,
        version_id,
        objections,
    ) in rows.iterator(chunk_size=_CHUNK):
        if result.calls_read == limit:
            result.truncated = True
            break
        result.calls_read += 1
        # The moment the callee's phone rang (or would have): placed, else queued.
        day, hour, known = local_slot(placed_at or queued_at, zone)
        if not known:
            result.unknown_zone_calls += 1
        finished = status in TERMINAL_CALL_STATUSES
        answered = answered_at is not None
        talk = int(duration or 0) if answered else 0
        for slot in (result.total, result.by_day.setdefault(day, Slot()), result.by_hour[hour]):
            slot.finished += finished
            slot.answered += answered and finished
            slot.talk_seconds += talk
            if outcome:
                slot.outcomes[outcome] += 1
        if version_id is not None and finished:
            version = per_version[version_id]
            version["finished"] += 1
            version["answered"] += answered
            if outcome:
                version["outcomes"][outcome] += 1
            if answered:
                for key in _objection_keys(objections):
                    version["objections"][key] += 1
    result.by_day = dict(sorted(result.by_day.items()))
    result.versions = _compare_versions(per_version)
    return result


def _compare_versions(per_version: Mapping[int, Mapping[str, Any]]) -> list[VersionComparison]:
    versions = {
        version.pk: version
        for version in ScriptVersion.objects.filter(pk__in=list(per_version)).select_related(
            "script"
        )
    }
    compared = []
    for version_id, figures in per_version.items():
        version = versions.get(version_id)
        if version is None:
            continue
        finished, answered = figures["finished"], figures["answered"]
        compared.append(
            VersionComparison(
                version_id=version_id,
                script_name=version.script.name,
                number=version.number,
                calls=finished,
                answered=answered,
                answer_rate=Rate.of(answered, finished),
                outcomes={
                    str(outcome): Rate.of(figures["outcomes"][outcome], finished)
                    for outcome in COMPARED_OUTCOMES
                },
                objections={
                    trigger: Rate.of(count, answered)
                    for trigger, count in figures["objections"].most_common()
                },
            )
        )
    compared.sort(key=lambda item: (item.script_name, item.number))
    return compared


def reply_latencies(
    *,
    sessions: QuerySet[CallSession],
    campaign_names: Mapping[int, str],
    limit: int = ANALYTICS_MAX_REPLIES,
) -> tuple[LatencyStats, list[LatencyStats]]:
    """Reply latency (the caller's end of speech → the reply's first audio frame sent) of the
    agent's replies in `sessions`: overall and per campaign, as histograms with p50 / p95."""
    rows = (
        TranscriptTurn.objects.filter(
            session__in=sessions.values("id"),
            speaker=Speaker.AGENT,
            latency__since="speech_end",
        )
        .filter(~Q(latency__first_frame_ms=None))
        .order_by("-id")
        .values_list("session__campaign_id", "latency__first_frame_ms")[:limit]
    )
    by_campaign: dict[int | None, list[float]] = defaultdict(list)
    everything: list[float] = []
    for campaign_id, value in rows.iterator(chunk_size=_CHUNK):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        by_campaign[campaign_id].append(float(value))
        everything.append(float(value))
    overall = _latency_stats(None, "All campaigns", everything)
    per_campaign = [
        _latency_stats(campaign_id, campaign_names.get(campaign_id or 0, "(no campaign)"), values)
        for campaign_id, values in by_campaign.items()
    ]
    per_campaign.sort(key=lambda stats: stats.campaign_name)
    return overall, per_campaign


def _latency_stats(campaign_id: int | None, name: str, values: Iterable[float]) -> LatencyStats:
    ordered = sorted(values)
    buckets = [0] * len(LATENCY_EDGES_MS)
    for value in ordered:
        buckets[latency_bucket(value)] += 1
    return LatencyStats(
        campaign_id=campaign_id,
        campaign_name=name,
        count=len(ordered),
        p50=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        buckets=tuple(buckets),
    )
