"""CSV import and dialler claims: `uv run python -m benchmarks.import_dispatch [--rows N]
[--calls N]`.

1. CSV import: N generated contacts (default 100 000, ~1 % bad rows) through the real import
   service; rows/s without tracing, then peak Python memory with tracemalloc (a second run).
   Then the probe's header attack (issue 15, item 4): a 700 KB header (`phone,` + 350 000 x
   `a,`) against a one-row import, best of 5 each, as a ratio (it was quadratic: 53 s of CPU
   in the probe; now it is refused from its length).
2. Dispatcher overhead per claimed call: a running campaign over M contacts (default 5 000),
   `dispatch_due` ticks until every contact is claimed; placement is replaced by a no-op
   (sessions are marked ended between ticks, outside the timing), so the number is the claim
   itself: compliance gate, locks, CPS bucket, session insert, counters. Then the time to read
   and serialise the campaign with its stats (counters: no query touches contacts, so it does
   not grow with the campaign).

Runs against a throw-away test database (SQLite in memory by default; PostgreSQL when
DATABASE_URL points at one, as `test_<name>`), never the development database.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from benchmarks.support import (
    bench_organization,
    contact_list_of,
    create_test_database,
    destroy_test_database,
)

AREA_CODES = ["212", "415", "312", "617", "713", "305", "206", "303", "404", "503"]
# 100 central-office codes per area code, skipping N11 service codes.
EXCHANGES = [code for code in range(230, 400) if code % 100 != 11][:100]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


def generate_csv(rows: int) -> bytes:
    out = io.StringIO()
    out.write("phone,first_name,last_name,company,email,plan,notes\n")
    for n in range(rows):
        area = AREA_CODES[n % len(AREA_CODES)]
        k = n // len(AREA_CODES)
        exchange = EXCHANGES[k // 100 % len(EXCHANGES)]
        line = k % 100 + 100 * (k // (100 * len(EXCHANGES)))
        phone = f"+1{area}{exchange}{line:04d}"
        if n % 100 == 37:
            phone = "not-a-number"  # ~1 % rejected rows
        out.write(
            f"{phone},First{n},Last{n},Company {n % 500},p{n}@example.com,plan{n % 7},note {n}\n"
        )
    return out.getvalue().encode()


def bench_import(rows: int) -> dict[str, float]:
    from campaigns.importing import contacts_import
    from campaigns.models import Contact, ContactList

    data = generate_csv(rows)
    organization = bench_organization()
    results: dict[str, float] = {"rows": rows, "csv_mb": len(data) / 1e6}

    with tempfile.TemporaryFile() as upload:
        upload.write(data)
        contact_list = ContactList.objects.create(organization=organization, name="timing")
        upload.seek(0)
        started = time.perf_counter()
        report = contacts_import(contact_list=contact_list, upload=upload)
        elapsed = time.perf_counter() - started
        results.update(
            seconds=elapsed,
            rows_per_second=rows / elapsed,
            imported=report.imported,
            rejected=report.rejected,
        )
        assert Contact.objects.filter(contact_list=contact_list).count() == report.imported

        traced = ContactList.objects.create(organization=organization, name="memory")
        upload.seek(0)
        tracemalloc.start()
        contacts_import(contact_list=traced, upload=upload)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results["peak_mib"] = peak / 2**20
    return results


def bench_header_attack() -> dict[str, float]:
    from django.core.exceptions import ValidationError

    from campaigns.importing import contacts_import
    from campaigns.models import ContactList

    contact_list = ContactList.objects.create(organization=bench_organization(), name="header")
    files = {
        "one_row": b"phone,name\n+12125550104,Ann\n",
        "attack": ("phone," + "a," * 350_000 + "\n+12125550105\n").encode(),
    }
    best: dict[str, float] = {}
    for name, data in files.items():
        for _ in range(5):
            started = time.perf_counter()
            try:
                contacts_import(contact_list=contact_list, upload=io.BytesIO(data), dry_run=True)
            except ValidationError:
                assert name == "attack"
            elapsed = time.perf_counter() - started
            best[name] = min(best.get(name, elapsed), elapsed)
    return {
        "one_row_ms": best["one_row"] * 1000,
        "attack_ms": best["attack"] * 1000,
        "ratio": best["attack"] / best["one_row"],
    }


def bench_dispatch(contacts: int) -> dict[str, float]:
    from django.conf import settings

    from campaigns import services
    from campaigns.dialling.dispatch import dispatch_due
    from campaigns.factories import CampaignFactory
    from campaigns.models import Campaign
    from sessions.models import CallSession, CallStatus

    # No-op placement: the benchmark measures the claim, not the carrier.
    from sessions.tasks import session_place_call_task

    setattr(session_place_call_task, "delay", lambda _pk: None)  # noqa: B010 (a task attribute)
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 1000
    # The dialler's own pace is measured, not the machine's live-call capacity.
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 1_000_000

    organization = bench_organization()
    contact_list = contact_list_of(
        "dispatch", (f"+1212{200 + n // 10000:03d}{n % 10000:04d}" for n in range(contacts))
    )
    campaign: Campaign = CampaignFactory.create(
        organization=organization,
        contact_list=contact_list,
        max_concurrent_calls=500,
        calls_per_second=100,
    )
    services.campaign_start(campaign=campaign, actor=services.Actor.named("bench"), now=NOW)

    claimed = ticks = 0
    dispatch_seconds = 0.0
    moment = NOW
    while claimed < contacts and ticks < 10 * contacts:
        started = time.perf_counter()
        claimed += dispatch_due(now=moment)
        dispatch_seconds += time.perf_counter() - started
        ticks += 1
        # The calls "end" instantly (outside the timing) so concurrency never blocks.
        CallSession.objects.filter(campaign=campaign, status=CallStatus.QUEUED).update(
            status=CallStatus.COMPLETED
        )
        moment += timedelta(seconds=1)
    # The stats a `GET /campaigns/:id` serves: one joined row, whatever the campaign's size.
    from campaigns import selectors
    from campaigns.api.serializers import CampaignSerializer

    reads = 200
    started = time.perf_counter()
    for _ in range(reads):
        CampaignSerializer(selectors.campaign_list().get(pk=campaign.pk)).data  # noqa: B018
    stats_ms = 1000 * (time.perf_counter() - started) / reads
    return {
        "stats_ms": stats_ms,
        "contacts": contacts,
        "claimed": claimed,
        "ticks": ticks,
        "seconds": dispatch_seconds,
        "ms_per_call": 1000 * dispatch_seconds / max(claimed, 1),
        "calls_per_second_capacity": claimed / dispatch_seconds if dispatch_seconds else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5_000)
    args = parser.parse_args(argv)
    connection = create_test_database("campaigns-bench-")
    print(f"database: {connection.vendor}")
    try:
        _run(args.rows, args.calls)
    finally:
        destroy_test_database(connection)


def _run(rows: int, calls: int) -> None:
    imported = bench_import(rows)
    print(
        "csv import: {rows:.0f} rows ({csv_mb:.1f} MB) in {seconds:.1f} s = "
        "{rows_per_second:,.0f} rows/s; imported {imported:.0f}, rejected {rejected:.0f}; "
        "peak Python memory {peak_mib:.1f} MiB (tracemalloc run)".format(**imported)
    )
    header = bench_header_attack()
    print(
        "header attack: 700 KB header refused in {attack_ms:.2f} ms, a one-row import "
        "{one_row_ms:.2f} ms: ratio {ratio:.2f}".format(**header)
    )
    dispatched = bench_dispatch(calls)
    print(
        "dispatcher: {claimed:.0f} calls claimed in {ticks:.0f} ticks, {seconds:.2f} s inside "
        "dispatch_due = {ms_per_call:.2f} ms per claimed call "
        "(~{calls_per_second_capacity:,.0f} claims/s per dispatcher); campaign with stats "
        "read + serialised in {stats_ms:.2f} ms".format(**dispatched)
    )


if __name__ == "__main__":
    main()
