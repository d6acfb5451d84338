"""Benchmark: the analytics page and the sessions CSV export vs the raw SQL they cannot avoid.

`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python -m benchmarks.analytics_page
[--rows N | --quick] [--runs N] [--keep] [--reuse] [--database NAME]`

Loads N sessions (default 200 000, plus a fifth for a second organization) with the sessions-list
benchmark's loader (`benchmarks.sessions_list.load_sessions`: realistic statuses, outcomes, talk
times over 90 days, transcript turns), gives every call a contact in one of four time zones and
every agent turn a reply latency, then times, interleaved in the same run:

- `campaign_analytics` (the page's figures, per-call zone conversion in Python) for the last 30
  days of the benchmarked organization, against the raw SQL of its one read fetched on a plain
  cursor (the baseline: the database work and transfer it cannot avoid);
- the whole page through the Django test client (a superuser: every organization's calls would
  be read without the campaign filter, so the filter names the organization's biggest campaign);
- the CSV export of the same 30 days, consumed to the end, against the raw SQL of its session
  pages and their turns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from benchmarks.support import DATA_NOW, add_database_arguments, run_in_bench_database

DEFAULT_ROWS = 200_000
QUICK_ROWS = 20_000
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo")


def _median_ms(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples)


def _raw_fetch(queryset: Any) -> int:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def _prepare(organization_id: int) -> None:
    """Contacts in four zones for the organization's calls; a reply latency on agent turns."""
    from django.db.models import F, Value
    from django.db.models.functions import Mod

    from campaigns.models import Contact, ContactList
    from sessions.models import CallSession, Speaker, TranscriptTurn

    contact_list = ContactList.objects.create(organization_id=organization_id, name="bench zones")
    contacts = Contact.objects.bulk_create(
        Contact(
            organization_id=organization_id,
            contact_list=contact_list,
            phone_number=f"+1212555{n:04d}",
            time_zone=ZONES[n % len(ZONES)],
        )
        for n in range(1000)
    )
    first = min(contact.pk for contact in contacts)
    CallSession.objects.filter(organization_id=organization_id).update(
        contact_id=Value(first) + Mod(F("id"), Value(1000))
    )
    TranscriptTurn.objects.filter(speaker=Speaker.AGENT).update(
        latency={"since": "speech_end", "first_frame_ms": 640}
    )


def run(*, rows: int, runs: int, reuse: bool, report: Callable[[str], None] = print) -> None:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db.models import Count
    from django.test import Client, override_settings
    from django.urls import reverse

    from anvil_voice.accounts.models import Organization
    from benchmarks.sessions_list import load_sessions
    from campaigns.analytics import analytics_sessions, campaign_analytics
    from sessions.models import CallSession, TranscriptTurn

    existing = Organization.objects.filter(slug="bench-sessions").first()
    if not (reuse and existing is not None):
        started = time.perf_counter()
        dataset = load_sessions(rows=rows)
        _prepare(dataset.organization_id)
        organization_id = dataset.organization_id
        report(f"loaded {dataset.total:,} sessions in {time.perf_counter() - started:.1f} s")
    else:
        organization_id = existing.pk
    until = DATA_NOW
    since = until - timedelta(days=30)
    scoped = CallSession.objects.filter(organization_id=organization_id)
    calls = analytics_sessions(scoped, since=since, until=until)
    top = calls.values("campaign_id").annotate(n=Count("id")).order_by("-n").first()
    assert top is not None, "no campaign calls in the range"
    biggest: int = top["campaign_id"]
    read = calls.order_by("-id").values_list(
        "placed_at", "queued_at", "answered_at", "status", "outcome", "duration_seconds",
        "contact__time_zone", "script_version_id", "extracted__objections",
    )  # fmt: skip
    figures = campaign_analytics(sessions=calls)
    report(f"30 days: {figures.calls_read:,} calls read (truncated: {figures.truncated})")

    selector_ms = _median_ms(lambda: campaign_analytics(sessions=calls), runs)
    baseline_ms = _median_ms(lambda: _raw_fetch(read[: figures.limit + 1]), runs)

    # The page renders the admin's static tags: without collectstatic (as in the tests) the
    # production manifest storage has no manifest.
    static = override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    )
    static.enable()
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@example.com", "x"
    )
    client = Client()
    client.force_login(admin)
    query = {"campaign": str(biggest), "start": str(since.date()), "end": str(until.date())}

    def page() -> None:
        response = client.get(reverse("analytics"), query)
        assert response.status_code == 200, response.status_code

    page_ms = _median_ms(page, runs)
    campaign_calls = analytics_sessions(scoped, campaign_id=biggest, since=since, until=until)
    page_baseline_ms = _median_ms(lambda: _raw_fetch(read.filter(campaign_id=biggest)), runs)

    exported = campaign_calls.count()

    def export() -> None:
        response = client.get(reverse("analytics-sessions-csv"), query)
        for _ in response.streaming_content:  # type: ignore[attr-defined]
            pass

    def export_baseline() -> None:
        _raw_fetch(campaign_calls.select_related("campaign", "contact", "script_version__script"))
        _raw_fetch(TranscriptTurn.objects.filter(session__in=campaign_calls.values("id")))

    export_ms = _median_ms(export, max(1, runs // 2))
    export_baseline_ms = _median_ms(export_baseline, max(1, runs // 2))
    report(f"selector {selector_ms:.0f} ms vs raw read {baseline_ms:.0f} ms: "
           f"{selector_ms / baseline_ms:.2f} x")  # fmt: skip
    report(f"page (campaign {biggest}, {campaign_calls.count():,} calls) {page_ms:.0f} ms vs raw "
           f"read {page_baseline_ms:.0f} ms: {page_ms / page_baseline_ms:.2f} x")  # fmt: skip
    report(f"export of {exported:,} sessions {export_ms:.0f} ms "
           f"({exported / export_ms * 1000:,.0f} rows/s) vs raw reads {export_baseline_ms:.0f} ms: "
           f"{export_ms / export_baseline_ms:.2f} x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help=f"default {DEFAULT_ROWS:,}")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, fewer runs")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per figure (7)")
    add_database_arguments(parser, default="bench_analytics")
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    runs = args.runs or (3 if args.quick else 7)
    return run_in_bench_database(
        args,
        bench="benchmarks.analytics_page",
        size=rows,
        noun="rows",
        size_flag="--rows",
        run=lambda reused: run(rows=rows, runs=runs, reuse=reused),
    )


if __name__ == "__main__":
    sys.exit(main())
