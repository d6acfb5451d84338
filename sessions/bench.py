"""Benchmark: `GET /api/v1/voice/sessions` at 1 000 000 sessions vs the raw SQL for the same page.

`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python -m sessions.bench
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
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_ROWS = 1_000_000
QUICK_ROWS = 20_000
SQLITE_MAX_ROWS = 50_000
OTHER_ORG_SHARE = 0.2  # the second organization's rows, relative to the first one's
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
DAYS = 90
SESSIONS = "/api/v1/voice/sessions"
SESSION_TABLE = "call_sessions_callsession"
SEARCH_TERM = "refinance"

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

SESSION_COLUMNS = (
    "id",
    "organization_id",
    "kind",
    "campaign_id",
    "attempt_number",
    "to_number",
    "from_number",
    "variables",
    "token",
    "token_expires_at",
    "carrier",
    "carrier_call_sid",
    "status",
    "last_sequence_number",
    "answered_by",
    "stream_sid",
    "queued_at",
    "placed_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "end_reason",
    "outcome",
    "summary",
    "extracted",
    "compliance",
    "error_code",
    "error_message",
    "recording",
    "recording_sid",
    "recording_duration_seconds",
    "cost_currency",
    "created_at",
)
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


# --- small statistics helpers (shared by the other API benchmarks) -------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- throw-away database -------------------------------------------------------------------
def database_url_for(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def pg_admin(url: str, statements: Sequence[str]) -> None:
    """Run CREATE/DROP DATABASE on the maintenance database of the server `url` points at."""
    import psycopg

    with psycopg.connect(database_url_for(url, "postgres"), autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def pg_database_exists(url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(database_url_for(url, "postgres"), autocommit=True) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def setup_bench_environment(*, database: str, reuse: bool) -> tuple[str | None, bool]:
    """Point Django at the throw-away database and set it up; returns (admin url, reused).

    Called before `django.setup()`: the settings read DATABASE_URL when they are imported.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    if "ANVIL_VAR_DIR" not in os.environ:  # SQLite file and media: removed by the teardown
        os.environ["ANVIL_VAR_DIR"] = os.environ["ANVIL_BENCH_VAR_DIR"] = tempfile.mkdtemp(
            prefix="anvil-bench-"
        )
    # DEBUG follows the embedded default (off with a DATABASE_URL): it needs a key, and the
    # test client speaks plain HTTP.
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("HTTPS_ONLY", "0")
    # Each figure is many requests from one key: the limiter still runs, it just never refuses.
    os.environ["API_RATE_LIMIT"] = "100000000/m"
    url = os.environ.get("DATABASE_URL", "")
    admin_url = None
    reused = False
    if url.startswith(("postgres://", "postgresql://")):
        admin_url = url
        reused = reuse and pg_database_exists(url, database)
        if not reused:
            pg_admin(
                url, [f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"']
            )
        os.environ["DATABASE_URL"] = database_url_for(url, database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)
    return admin_url, reused


def teardown_bench_environment(*, admin_url: str | None, database: str, keep: bool) -> None:
    from django.db import connections

    connections.close_all()
    if admin_url and not keep:
        pg_admin(admin_url, [f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'])
    var_dir = os.environ.get("ANVIL_BENCH_VAR_DIR")
    if var_dir and not keep:
        shutil.rmtree(var_dir, ignore_errors=True)


def add_database_arguments(parser: argparse.ArgumentParser, *, default: str) -> None:
    """`--database`, `--keep` and `--reuse`: the options `run_in_bench_database` reads."""
    parser.add_argument("--database", default=default)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database's rows")


def run_in_bench_database(
    args: argparse.Namespace,
    *,
    bench: str,
    size: int,
    noun: str,
    size_flag: str,
    run: Callable[[bool], object],
) -> int:
    """A big-table benchmark's `main`: refuse a size SQLite cannot hold, then `run(reused)`
    in a throw-away database that is dropped afterwards (unless `--keep`)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) and size > SQLITE_MAX_ROWS:
        print(
            f"{bench}: {size:,} {noun} needs PostgreSQL; set DATABASE_URL=postgres://… "
            f"(a throw-away database '{args.database}' is created on that server), or pass "
            f"{size_flag} {SQLITE_MAX_ROWS} or fewer to try it on SQLite.",
            file=sys.stderr,
        )
        return 2
    admin_url, reused = setup_bench_environment(database=args.database, reuse=args.reuse)
    from django.db import connection

    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}); {size:,} {noun}")
    try:
        run(reused)
    finally:
        teardown_bench_environment(admin_url=admin_url, database=args.database, keep=args.keep)
    return 0


def api_key_for(organization: Any) -> str:
    from anvil_voice.accounts import services

    return services.api_key_issue(organization=organization, name="bench").raw_key


# --- data ----------------------------------------------------------------------------------
@dataclass
class Dataset:
    organization_id: int
    other_organization_id: int
    campaigns: list[int]
    rows: int  # the benchmarked organization's sessions
    total: int  # both organizations
    turns: int


def _session_rows(
    *,
    total: int,
    first_id: int,
    org_a: int,
    org_b: int,
    campaigns_a: list[int],
    campaigns_b: list[int],
    seed: int = 42,
) -> Iterator[tuple[Any, ...]]:
    """Session tuples in SESSION_COLUMNS order; ids (and start times) rise together."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    start = NOW - timedelta(days=DAYS)
    span = DAYS * 86400
    live_tail = max(1, total // 2000)  # the newest calls are still queued, ringing, talking
    b_share = OTHER_ORG_SHARE / (1 + OTHER_ORG_SHARE)
    for n in range(total):
        pk = first_id + n
        org_b_row = rng.random() < b_share
        organization = org_b if org_b_row else org_a
        campaigns = campaigns_b if org_b_row else campaigns_a
        test_call = rng.random() < 0.02
        # Skewed campaign sizes: the first campaigns are the big ones.
        campaign = None if test_call else campaigns[int(len(campaigns) * rng.random() ** 2)]
        queued = start + timedelta(seconds=span * n / total - rng.random() * 1200)
        r = rng.random()
        if n >= total - live_tail:
            status = ("queued", "ringing", "in_progress")[n % 3]
        elif r < 0.55:
            status = "completed"
        elif r < 0.80:
            status = "no_answer"
        elif r < 0.90:
            status = "busy"
        elif r < 0.96:
            status = "failed"
        else:
            status = "canceled"
        answered_by = ""
        if status == "completed":
            answered_by = "human" if rng.random() < 0.72 else "machine"
        outcome = ""
        duration: int | None = None
        if answered_by == "human":
            r = rng.random()
            outcome = (
                "interested"
                if r < 0.08
                else "not_interested"
                if r < 0.40
                else "callback_requested"
                if r < 0.46
                else "do_not_call"
                if r < 0.49
                else "no_conversation"
                if r < 0.60
                else "completed"
            )
            duration = 15 + int(rng.expovariate(1 / 80))
        elif answered_by == "machine":
            outcome = "voicemail"
            duration = 20 + int(rng.random() * 25)
        elif status in ("no_answer", "busy", "failed"):
            outcome = status
            duration = 0
        elif status == "canceled":
            duration = 0
        dialled = status not in ("queued", "canceled")
        answered = queued + timedelta(seconds=12) if answered_by else None
        ended = None
        if duration is not None:
            ended = (answered or queued + timedelta(seconds=30)) + timedelta(seconds=duration)
        recorded = answered_by == "human" and rng.random() < 0.4
        extracted = "{}"
        if outcome == "callback_requested":
            extracted = f'{{"callback_at": "{(queued + timedelta(days=2)).isoformat()}"}}'
        yield (
            pk,
            organization,
            "test" if test_call else "campaign",
            campaign,
            1 + int(rng.random() < 0.3),
            f"+1212{2000000 + n % 7000000:07d}",
            "+15555550100",
            "{}",
            f"bench-{pk}",
            queued + timedelta(hours=6),
            "twilio",
            f"CAbench{pk:026d}" if dialled else None,
            status,
            -1,
            answered_by,
            "",
            queued,
            queued + timedelta(seconds=1) if dialled else None,
            answered,
            ended,
            duration,
            "hangup" if ended else "",
            outcome,
            "The contact asked about prices." if answered_by == "human" else "",
            extracted,
            "{}",
            "",
            "",
            f"recordings/bench/{pk}.mp3" if recorded else "",
            f"RE{pk:032d}" if recorded else "",
            duration if recorded else None,
            "",
            queued,
        )


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
    from django.core.management.color import no_style
    from django.db import connection

    from anvil_voice.accounts.factories import OrganizationFactory
    from campaigns.factories import CampaignFactory
    from sessions.models import CallSession, TranscriptTurn

    org_a = OrganizationFactory.create(slug="bench-sessions", name="Bench sessions")
    org_b = OrganizationFactory.create(slug="bench-other", name="Bench other")
    campaigns_a = [CampaignFactory.create(organization=org_a).pk for _ in range(campaigns)]
    campaigns_b = [CampaignFactory.create(organization=org_b).pk for _ in range(3)]
    total = round(rows * (1 + OTHER_ORG_SHARE))
    first_id = (CallSession.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1

    def generate() -> Iterator[tuple[Any, ...]]:
        return _session_rows(
            total=total,
            first_id=first_id,
            org_a=org_a.pk,
            org_b=org_b.pk,
            campaigns_a=campaigns_a,
            campaigns_b=campaigns_b,
        )

    if connection.vendor == "postgresql":
        session_table = CallSession._meta.db_table
        turn_table = TranscriptTurn._meta.db_table
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY is not in Django's wrapper
            columns = ", ".join(f'"{name}"' for name in SESSION_COLUMNS)
            with raw.copy(f'COPY "{session_table}" ({columns}) FROM STDIN') as copy:
                for row in generate():
                    copy.write_row(row)
            columns = ", ".join(f'"{name}"' for name in TURN_COLUMNS)
            with raw.copy(f'COPY "{turn_table}" ({columns}) FROM STDIN') as copy:
                for row in _turn_rows(generate(), turn_every):
                    copy.write_row(row)
            # Explicit ids: move the sequences past them so later inserts do not collide.
            for statement in connection.ops.sequence_reset_sql(
                no_style(), [CallSession, TranscriptTurn]
            ):
                cursor.execute(statement)
    else:
        batch: list[CallSession] = []
        for row in generate():
            values = dict(zip(SESSION_COLUMNS, row, strict=True))
            # COPY takes JSON as text; the ORM wants the Python value.
            for name in ("variables", "extracted", "compliance"):
                values[name] = json.loads(values[name])
            batch.append(CallSession(**values))
            if len(batch) == 2000:
                CallSession.objects.bulk_create(batch)
                batch = []
        CallSession.objects.bulk_create(batch)
        TranscriptTurn.objects.bulk_create(
            (
                TranscriptTurn(**{**dict(zip(TURN_COLUMNS, row, strict=True)), "latency": {}})
                for row in _turn_rows(generate(), turn_every)
            ),
            batch_size=2000,
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


def analyze() -> None:
    """Fresh statistics (and, outside a transaction, the visibility map) as autovacuum would."""
    from django.db import connection

    from sessions.models import CallSession, TranscriptTurn

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            for model in (CallSession, TranscriptTurn):
                cursor.execute(f'{command} "{model._meta.db_table}"')
        else:
            cursor.execute("ANALYZE")


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
                "startedAfter": (NOW - 60 * day).isoformat(),
                "startedBefore": (NOW - 30 * day).isoformat(),
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
            pages=pages,
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
        bench="sessions.bench",
        size=rows,
        noun="rows",
        size_flag="--rows",
        run=lambda reused: run(rows=rows, requests=requests, pages=args.pages, reuse=reused),
    )


if __name__ == "__main__":
    sys.exit(main())
