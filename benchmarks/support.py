"""What the benchmarks share; they import each other only through this module.

- Figures: `percentile`, `timed_ms`, `median_ms`, `tone_like` (an MP3-encode baseline).
- Processes: `free_port`, `stop_process`.
- Django in a throw-away database, two ways:
  `create_test_database` / `destroy_test_database` (Django's own test database, `test_<name>`)
  for benchmarks that only need some rows; `run_in_bench_database` (with
  `add_database_arguments`, or `setup_bench_environment` / `teardown_bench_environment` for a
  `main` of its own) for the big-table ones, which may keep (`--keep`) and reuse (`--reuse`) a
  named database on the server DATABASE_URL points at.
- Rows: `bench_organization`, `contact_list_of`, `api_key_for`, and for millions of rows
  `session_rows` (call sessions as a dialler leaves them), `bulk_load` (COPY on PostgreSQL)
  and `analyze`.

Nothing here imports Django or the apps at module level: a benchmark imports this before it
has set Django up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SQLITE_MAX_ROWS = 50_000  # more rows need PostgreSQL (run_in_bench_database refuses them)


# --- figures ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timed_ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def median_ms(action: Callable[[int], object], runs: int) -> float:
    """Median wall time of `runs` calls of `action(run_index)`, in milliseconds."""
    timings = []
    for run in range(runs):
        started = time.perf_counter()
        action(run)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def tone_like(pcm: bytes, rate: int) -> bytes:
    """A 440 Hz tone as long as the 16-bit mono `pcm`: encoding it to MP3 is the baseline
    that separates a voice model's cost from the MP3 encoder's."""
    import numpy as np

    t = np.arange(len(pcm) // 2) / rate
    return (np.sin(2 * np.pi * 440.0 * t) * 0.3 * 32767).astype(np.int16).tobytes()


# --- processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate a child server, kill it if it does not go."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


# --- Django's test database -------------------------------------------------------------------
def create_test_database(prefix: str) -> Any:
    """Set Django up on a fresh test database (`test_<name>`; a SQLite file in a temporary
    directory on the embedded default); returns the connection."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    os.environ.setdefault("ANVIL_VAR_DIR", tempfile.mkdtemp(prefix=prefix))
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return connection


def destroy_test_database(connection: Any) -> None:
    connection.close()
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0, keepdb=False)


# --- named throw-away databases (big tables) ---------------------------------------------------
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
    # DEBUG follows the embedded default (off with a DATABASE_URL): it needs a key and a carrier
    # token, and the test client speaks plain HTTP.
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("TWILIO_AUTH_TOKEN", "bench-only-twilio-auth-token")
    os.environ.setdefault("HTTPS_ONLY", "0")
    # Each figure is many requests from one key: the limiter still runs, it just never refuses.
    os.environ["API_RATE_LIMIT"] = "100000000/m"
    os.environ["API_ORGANIZATION_RATE_LIMIT"] = "100000000/m"
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


# --- rows -------------------------------------------------------------------------------------
def bench_organization() -> Any:
    """The organization `bench` (created on first use)."""
    from anvil_voice.accounts.models import Organization

    organization, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    return organization


def contact_list_of(name: str, numbers: Iterable[str]) -> Any:
    """A contact list of the `bench` organization: one New York contact per number."""
    from campaigns.models import Contact, ContactList, TimeZoneSource

    organization = bench_organization()
    contact_list = ContactList.objects.create(organization=organization, name=name)
    Contact.objects.bulk_create(
        (
            Contact(
                organization=organization,
                contact_list=contact_list,
                phone_number=phone,
                time_zone="America/New_York",
                time_zone_source=TimeZoneSource.EXPLICIT,
                region="NY",
            )
            for phone in numbers
        ),
        batch_size=1000,
    )
    return contact_list


def api_key_for(organization: Any) -> str:
    from anvil_voice.accounts import services

    # A reused database keeps earlier runs' keys: revoke them, or the organization's cap on
    # active keys (API_KEYS_MAX_ACTIVE_PER_ORGANIZATION) stops the 21st run.
    for previous in organization.api_keys.filter(name="bench", revoked_at__isnull=True):
        services.api_key_revoke(api_key=previous)
    return services.api_key_issue(organization=organization, name="bench").raw_key


# The big tables' data ends here (sessions over the 90 days before it, campaigns days before).
DATA_NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
DAYS = 90
OTHER_ORG_SHARE = 0.2  # the second organization's rows, relative to the first one's
JSON_COLUMNS = frozenset({"variables", "extracted", "compliance", "latency"})

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


def session_rows(
    *,
    total: int,
    first_id: int,
    org_a: int,
    org_b: int,
    campaigns_a: list[int],
    campaigns_b: list[int],
    seed: int = 42,
) -> Iterator[tuple[Any, ...]]:
    """Session tuples in SESSION_COLUMNS order; ids (and start times) rise together.

    Realistic distributions: skewed campaign sizes, ~2 % test calls, statuses and answered-by
    as a dialler sees them, outcomes, exponential talk times, start times over DAYS days,
    recordings and callbacks on some calls; `org_b` gets OTHER_ORG_SHARE of the rows."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    start = DATA_NOW - timedelta(days=DAYS)
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


def next_id(model: Any) -> int:
    """The id after the model's highest (rows loaded with explicit ids start there)."""
    return (model.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1


Table = tuple[Any, Sequence[str], Callable[[], Iterable[tuple[Any, ...]]]]


def bulk_load(tables: Sequence[Table]) -> None:
    """Insert each (model, columns, rows) in order: COPY on PostgreSQL, then the sequences
    moved past the explicit ids; `bulk_create` elsewhere (JSON columns come as text)."""
    from django.core.management.color import no_style
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY is not in Django's wrapper
            for model, columns, rows in tables:
                names = ", ".join(f'"{name}"' for name in columns)
                with raw.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy:
                    for row in rows():
                        copy.write_row(row)
            models = [model for model, _, _ in tables]
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)
        return
    for model, columns, rows in tables:
        model._default_manager.bulk_create(
            (
                model(
                    **{
                        name: json.loads(value) if name in JSON_COLUMNS else value
                        for name, value in zip(columns, row, strict=True)
                    }
                )
                for row in rows()
            ),
            batch_size=2000,
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
