"""Benchmark: `GET /api/v1/voice/sessions` at 1 000 000 sessions vs the raw SQL for the same page.

`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python -m benchmarks.sessions_list
[--rows N | --quick] [--requests N] [--pages N] [--keep] [--reuse] [--database NAME]`

Loads N sessions (default 1 000 000) for one organization plus a fifth as many for a second one,
interleaved in one table like a real multi-tenant install (COPY through psycopg), with realistic
distributions: 10 campaigns of skewed sizes, ~2 % test calls, statuses and answered-by as a
dialler sees them, outcomes, exponential talk times, start times over 90 days rising with the id,
recordings and callbacks on some calls, and 4 transcript turns on ~4 % of the answered calls.
Then, for several filter combinations, it times the real stack in process (Django test client,
API key, middleware, rate limit, filters, keyset pagination, serializer, envelope) on the first
page of 50 and on the pages its `meta.cursor` leads to, and the SQL those requests ran (captured
once, then executed on a raw psycopg cursor with the rows fetched), interleaved in the same run.
The ratio api/sql is what the API adds on top of the database work it cannot avoid.

Runs in a throw-away database (`bench_sessions`, created next to the one DATABASE_URL names and
dropped at the end unless `--keep`; `--reuse` keeps the rows of a kept database). SQLite is only
for small row counts (`--rows` up to 50 000): the figure that matters is PostgreSQL's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from benchmarks.support import (
    DATA_NOW,
    OTHER_ORG_SHARE,
    SESSION_COLUMNS,
    add_database_arguments,
    analyze,
    api_key_for,
    bulk_load,
    next_id,
    percentile,
    run_in_bench_database,
    session_rows,
)

DEFAULT_ROWS = 1_000_000
QUICK_ROWS = 20_000
SESSIONS = "/api/v1/voice/sessions"
SESSION_TABLE = "call_sessions_callsession"
SEARCH_TERM = "refinance"
FIRST_PAGE_OLD_RANGE = "started 89-86 days ago, first page"

# Transcript lines; the search term sits in one contact line out of 20.
AGENT_LINES = [
    "Hi, this is Alex calling from Sunny Roofs about solar panels for your home.",
    "Would you have two minutes to hear how much you could save on your bill?",
    "I understand. Many of our customers felt the same before the free survey.",
    "Great, I can book a technician for a free survey next week.",
]
CONTACT_LINES = [
    "Who is this?",
    "I'm not interested, thanks.",
    "How much does it cost?",
    "Sure, tell me more.",
    "Please call me back tomorrow afternoon.",
    "We already have panels on the roof.",
    "Is this a scam?",
    "Take me off your list.",
    "My husband handles these things.",
    "What is the payback period?",
    "Can you send me an email instead?",
    "We rent, so I can't decide that.",
    "Does it work in winter?",
    "I'm driving right now.",
    "How did you get my number?",
    "Sounds interesting, what's the catch?",
    "We might move next year.",
    f"We plan to {SEARCH_TERM} the house first, maybe next spring.",
    "Is there a government rebate?",
    "OK, book the survey.",
]

TURN_COLUMNS = (
    "session_id",
    "index",
    "speaker",
    "text",
    "start_ms",
    "end_ms",
    "interrupted",
    "latency",
    "created_at",
)


# --- data ----------------------------------------------------------------------------------
@dataclass
class Dataset:
    organization_id: int
    other_organization_id: int
    campaigns: list[int]
    rows: int  # the benchmarked organization's sessions
    total: int  # both organizations
    turns: int


def _turn_rows(sessions: Iterator[tuple[Any, ...]], every: int) -> Iterator[tuple[Any, ...]]:
    """Four turns for every `every`-th answered-by-a-human session."""
    for row in sessions:
        pk, answered_by, queued = row[0], row[14], row[16]
        if answered_by != "human" or pk % every:
            continue
        for index in range(4):
            if index % 2 == 0:
                speaker, text = "agent", AGENT_LINES[(pk + index) % len(AGENT_LINES)]
            else:
                line = (pk // every * 7 + index * 3) % len(CONTACT_LINES)
                speaker, text = "contact", CONTACT_LINES[line]
            start_ms = index * 4000
            yield (pk, index, speaker, text, start_ms, start_ms + 3500, False, "{}", queued)


def load_sessions(*, rows: int, campaigns: int = 10, turn_every: int = 10) -> Dataset:
    """Two organizations with campaigns and `rows` (+ 20 %) sessions; COPY on PostgreSQL."""
    from anvil_voice.accounts.factories import OrganizationFactory
    from campaigns.factories import CampaignFactory
    from sessions.models import CallSession, TranscriptTurn

    org_a = OrganizationFactory.create(slug="bench-sessions", name="Bench sessions")
    org_b = OrganizationFactory.create(slug="bench-other", name="Bench other")
    campaigns_a = [CampaignFactory.create(organization=org_a).pk for _ in range(campaigns)]
    campaigns_b = [CampaignFactory.create(organization=org_b).pk for _ in range(3)]
    total = round(rows * (1 + OTHER_ORG_SHARE))
    first_id = next_id(CallSession)

    def generate() -> Iterator[tuple[Any, ...]]:
        return session_rows(
            total=total,
            first_id=first_id,
            org_a=org_a.pk,
            org_b=org_b.pk,
            campaigns_a=campaigns_a,
            campaigns_b=campaigns_b,
        )

    bulk_load(
        [
            (CallSession, SESSION_COLUMNS, generate),
            (TranscriptTurn, TURN_COLUMNS, lambda: _turn_rows(generate(), turn_every)),
        ]
    )
    analyze()
    return dataset_for(org_a.pk, org_b.pk)


def dataset_for(org_a: int, org_b: int) -> Dataset:
    from campaigns.models import Campaign
    from sessions.models import CallSession, TranscriptTurn

    campaigns = list(
        Campaign.objects.filter(organization_id=org_a).order_by("id").values_list("id", flat=True)
    )
    return Dataset(
        organization_id=org_a,
        other_organization_id=org_b,
        campaigns=campaigns,
        rows=CallSession.objects.filter(organization_id=org_a).count(),
        total=CallSession.objects.count(),
        turns=TranscriptTurn.objects.count(),
    )


# --- measurement ---------------------------------------------------------------------------
@dataclass
class CaseResult:
    name: str
    params: dict[str, str]
    total: int
    pages: int
    api_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)  # every sessions query of the request
    page_sql_ms: list[float] = field(default_factory=list)  # the page SELECT alone
    plans: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        api50, sql50 = statistics.median(self.api_ms), statistics.median(self.sql_ms)
        page50 = statistics.median(self.page_sql_ms)
        return {
            "name": self.name,
            "total": self.total,
            "pages": self.pages,
            "requests": len(self.api_ms),
            "api_p50": api50,
            "api_p95": percentile(self.api_ms, 95),
            "sql_p50": sql50,
            "sql_p95": percentile(self.sql_ms, 95),
            "page_sql_p50": page50,
            "ratio": api50 / sql50 if sql50 else float("inf"),
            "ratio_page": api50 / page50 if page50 else float("inf"),
            "plans": self.plans,
        }


def bench_cases(dataset: Dataset) -> list[tuple[str, dict[str, str]]]:
    day = timedelta(days=1)
    return [
        ("no filter", {}),
        ("campaign + status", {"campaign": str(dataset.campaigns[1]), "status": "completed"}),
        ("outcome", {"outcome": "interested"}),
        (
            "started between (60-30 days ago)",
            {
                "startedAfter": (DATA_NOW - 60 * day).isoformat(),
                "startedBefore": (DATA_NOW - 30 * day).isoformat(),
            },
        ),
        # The oldest stretch, first page only: what reading by start time costs before the
        # first row of the range (the pages after it start from their cursor).
        (
            FIRST_PAGE_OLD_RANGE,
            {
                "startedAfter": (DATA_NOW - 89 * day).isoformat(),
                "startedBefore": (DATA_NOW - 86 * day).isoformat(),
            },
        ),
        ("min duration 300 s", {"minDuration": "300"}),
        ("ordering -duration", {"ordering": "-duration"}),
        (f"text search '{SEARCH_TERM}'", {"search": SEARCH_TERM}),
    ]


def _session_queries(captured: list[dict[str, str]]) -> list[str]:
    """The statements of one request that read sessions (not the API key lookup or touch)."""
    return [
        query["sql"]
        for query in captured
        if SESSION_TABLE in query["sql"] and query["sql"].lstrip().startswith("SELECT")
    ]


def _plan_summary(sql: str) -> str:
    """The plan's node types, e.g. 'Limit > Index Scan Backward using session_org_recent_idx'."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        lines = [line for (line,) in cursor.fetchall()]
    # Plan nodes only: the first line and the "->" lines, without their cost estimates.
    nodes = [lines[0].split("  (")[0]] + [
        line.strip().removeprefix("->").strip().split("  (")[0]
        for line in lines[1:]
        if line.strip().startswith("->")
    ]
    return " > ".join(nodes[:6])


def measure_case(
    *,
    client: Any,
    headers: dict[str, str],
    name: str,
    params: dict[str, str],
    requests: int,
    pages: int,
    explain: bool,
) -> CaseResult:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Discovery: walk the pages once, keeping each page's query string and its SQL.
    page_params: list[dict[str, str]] = []
    page_sql: list[list[str]] = []
    query = {**params, "limit": "50"}
    total = 0
    for _ in range(pages):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(SESSIONS, query, headers=headers)
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        total = body["meta"]["total"]
        page_params.append(query)
        page_sql.append(_session_queries(captured.captured_queries))
        cursor = body["meta"]["cursor"]
        if not cursor:
            break
        query = {**params, "limit": "50", "cursor": cursor}
    result = CaseResult(name=name, params=params, total=total, pages=len(page_params))
    if explain and connection.vendor == "postgresql":
        result.plans = [_plan_summary(sql) for sql in page_sql[0]]

    raw_connection = connection.connection  # psycopg / sqlite3 connection, no Django wrapper

    def run_sql(statements: list[str]) -> tuple[float, float]:
        total_ms = page_ms = 0.0
        for sql in statements:
            raw = raw_connection.cursor()
            started = time.perf_counter()
            raw.execute(sql)
            raw.fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            raw.close()
            total_ms += elapsed
            if "COUNT(" not in sql.upper():
                page_ms += elapsed
        return total_ms, page_ms

    # Warm-up (plans, caches), then API and SQL interleaved so load on the box hits both alike.
    for query, statements in zip(page_params, page_sql, strict=True):
        client.get(SESSIONS, query, headers=headers)
        run_sql(statements)
    for _ in range(requests):
        for query, statements in zip(page_params, page_sql, strict=True):
            started = time.perf_counter()
            client.get(SESSIONS, query, headers=headers)
            result.api_ms.append((time.perf_counter() - started) * 1000)
            total_ms, page_ms = run_sql(statements)
            result.sql_ms.append(total_ms)
            result.page_sql_ms.append(page_ms)
    return result


def run(
    *,
    rows: int,
    requests: int = 20,
    pages: int = 3,
    explain: bool = True,
    reuse: bool = False,
    campaigns: int = 10,
    report: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load (unless reusing a kept database), then measure every case; returns the figures."""
    from django.test import Client

    from anvil_voice.accounts.models import Organization

    existing = Organization.objects.filter(slug="bench-sessions").first()
    other = Organization.objects.filter(slug="bench-other").first()
    started = time.perf_counter()
    if reuse and existing is not None and other is not None:
        analyze()  # statistics for indexes a migration may have added since
        dataset = dataset_for(existing.pk, other.pk)
        report(f"reusing {dataset.rows:,} sessions (+{dataset.total - dataset.rows:,} other org)")
    else:
        dataset = load_sessions(rows=rows, campaigns=campaigns)
        report(
            f"loaded {dataset.total:,} sessions ({dataset.rows:,} in the benchmarked organization)"
            f" and {dataset.turns:,} transcript turns in {time.perf_counter() - started:.1f} s"
        )
    organization = Organization.objects.get(pk=dataset.organization_id)
    headers = {"Authorization": f"Bearer {api_key_for(organization)}"}
    client = Client()
    results = []
    for name, params in bench_cases(dataset):
        case = measure_case(
            client=client,
            headers=headers,
            name=name,
            params=params,
            requests=requests,
            pages=1 if name == FIRST_PAGE_OLD_RANGE else pages,
            explain=explain,
        )
        summary = case.summary()
        results.append(summary)
        report(
            "{name:<34} total {total:>9,}  api p50 {api_p50:7.2f} ms p95 {api_p95:7.2f} ms | "
            "sql p50 {sql_p50:7.2f} ms p95 {sql_p95:7.2f} ms (page {page_sql_p50:6.2f}) | "
            "api/sql {ratio:5.2f} (api/page {ratio_page:5.2f})".format(**summary)
        )
        for plan in summary["plans"]:
            report(f"    plan: {plan}")
    return {"rows": dataset.rows, "total": dataset.total, "turns": dataset.turns, "cases": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help=f"default {DEFAULT_ROWS:,}")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, fewer runs")
    parser.add_argument("--requests", type=int, default=None, help="rounds per case (20)")
    parser.add_argument("--pages", type=int, default=3, help="pages followed per round")
    add_database_arguments(parser, default="bench_sessions")
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    requests = args.requests or (5 if args.quick else 20)
    return run_in_bench_database(
        args,
        bench="benchmarks.sessions_list",
        size=rows,
        noun="rows",
        size_flag="--rows",
        run=lambda reused: run(rows=rows, requests=requests, pages=args.pages, reuse=reused),
    )


if __name__ == "__main__":
    sys.exit(main())
