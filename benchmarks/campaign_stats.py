"""Benchmark: `GET /api/v1/voice/campaigns/:id` with stats at 1 000 000 contacts.

`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python -m benchmarks.campaign_stats
[--contacts N | --quick] [--requests N] [--keep] [--reuse] [--database NAME]`

Loads one campaign with N contacts (default 1 000 000: `Contact` and `CampaignContact` rows in
realistic states, and a call session for every contact the dialler reached, ~70 %), all with
COPY, next to a baseline campaign of 10 contacts in the same organization. Times the real stack
in process (Django test client with an API key) for both campaigns, interleaved, and reports the
ratio big/small: the stats are counters, so the ratio should stay near 1. Then times
`campaign_stats_rebuild` on the big campaign, the aggregate over the rows that the counters
avoid, against the same GET (ratio).

Throw-away database `bench_campaign_stats` (dropped at the end unless `--keep`); SQLite only for
small counts (`--contacts` up to 50 000).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from benchmarks.support import (
    DATA_NOW,
    SESSION_COLUMNS,
    Table,
    add_database_arguments,
    analyze,
    api_key_for,
    bulk_load,
    next_id,
    percentile,
    run_in_bench_database,
    session_rows,
    timed_ms,
)

DEFAULT_CONTACTS = 1_000_000
QUICK_CONTACTS = 20_000
BASELINE_CONTACTS = 10
CAMPAIGNS = "/api/v1/voice/campaigns"

CONTACT_COLUMNS = (
    "id",
    "organization_id",
    "contact_list_id",
    "phone_number",
    "first_name",
    "last_name",
    "company",
    "email",
    "time_zone",
    "time_zone_source",
    "region",
    "variables",
    "consent_source",
    "created_at",
)
TARGET_COLUMNS = (
    "id",
    "organization_id",
    "campaign_id",
    "contact_id",
    "state",
    "attempts",
    "skipped_attempts",
    "next_attempt_at",
    "last_outcome",
    "updated_at",
)
# Where a campaign a few days in stands (state, share); every non-pending contact was dialled.
STATES = (
    ("pending", 0.30),
    ("in_progress", 0.002),
    ("completed", 0.40),
    ("failed", 0.03),
    ("do_not_call", 0.018),
    ("exhausted", 0.25),
)


def _state_of(n: int, count: int) -> str:
    """Deterministic spread of the states over the contacts (no clustering by id)."""
    position = (n * 7919) % count / count
    share = 0.0
    for state, weight in STATES:
        share += weight
        if position < share:
            return state
    return STATES[-1][0]


def load_campaign(*, organization: Any, contacts: int) -> Any:
    """A running campaign over `contacts` contacts with their targets and sessions."""
    from campaigns.factories import CampaignFactory
    from campaigns.models import (
        Campaign,
        CampaignContact,
        CampaignStats,
        CampaignStatus,
        Contact,
        ContactList,
    )
    from sessions.models import CallSession

    campaign = CampaignFactory.create(organization=organization)
    contact_list_id = campaign.contact_list_id
    first_contact, first_target = next_id(Contact), next_id(CampaignContact)
    first_session = next_id(CallSession)
    start = DATA_NOW - timedelta(days=3)

    def contact_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(contacts):
            yield (
                first_contact + n,
                organization.pk,
                contact_list_id,
                f"+1{212 + n // 7_000_000 % 700}{2000000 + n % 7_000_000:07d}",
                f"First{n}",
                f"Last{n}",
                f"Company {n % 5000}",
                f"p{n}@example.com",
                "America/New_York",
                "explicit",
                "NY",
                "{}",
                "import",
                start,
            )

    def target_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(contacts):
            state = _state_of(n, contacts)
            attempts = 0 if state == "pending" else 1 + n % 3
            yield (
                first_target + n,
                organization.pk,
                campaign.pk,
                first_contact + n,
                state,
                attempts,
                0,
                start + timedelta(seconds=n % 259_200),
                "" if state == "pending" else "no_answer",
                start,
            )

    def call_rows() -> Iterator[tuple[Any, ...]]:
        dialled = [n for n in range(contacts) if _state_of(n, contacts) != "pending"]
        rows = session_rows(
            total=len(dialled),
            first_id=first_session,
            org_a=organization.pk,
            org_b=organization.pk,
            campaigns_a=[campaign.pk],
            campaigns_b=[campaign.pk],
        )
        kind = SESSION_COLUMNS.index("kind")
        campaign_column = SESSION_COLUMNS.index("campaign_id")
        for n, row in zip(dialled, rows, strict=True):
            values = list(row)
            values[kind], values[campaign_column] = "campaign", campaign.pk
            yield (*values, first_target + n, first_contact + n)

    tables: list[Table] = [
        (Contact, CONTACT_COLUMNS, contact_rows),
        (CampaignContact, TARGET_COLUMNS, target_rows),
        (CallSession, (*SESSION_COLUMNS, "target_id", "contact_id"), call_rows),
    ]
    bulk_load(tables)
    ContactList.objects.filter(pk=contact_list_id).update(contact_count=contacts)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.RUNNING,
        started_at=start,
        materialize_until_id=first_contact + contacts - 1,
        materialized_through_id=first_contact + contacts - 1,
    )
    CampaignStats.objects.filter(campaign=campaign).update(
        contacts_total=contacts, contacts_materialized=contacts
    )
    return campaign


def run(
    *,
    contacts: int,
    requests: int = 200,
    rebuilds: int = 3,
    reuse: bool = False,
    report: Callable[[str], None] = print,
) -> dict[str, Any]:
    from django.test import Client

    from anvil_voice.accounts.factories import OrganizationFactory
    from campaigns.models import Campaign
    from campaigns.services.stats import campaign_stats_rebuild
    from sessions.models import CallSession

    organization = OrganizationFactory.create(slug="bench-stats", name="Bench stats")
    existing = list(Campaign.objects.filter(organization=organization).order_by("id"))
    started = time.perf_counter()
    if reuse and len(existing) == 2:
        small, big = existing
        report(f"reusing campaigns {small.pk} (baseline) and {big.pk}")
    else:
        small = load_campaign(organization=organization, contacts=BASELINE_CONTACTS)
        big = load_campaign(organization=organization, contacts=contacts)
        analyze()
        report(
            f"loaded {contacts:,} contacts, their campaign targets and "
            f"{CallSession.objects.filter(campaign=big).count():,} sessions "
            f"in {time.perf_counter() - started:.1f} s"
        )
    # The counters as the dialler would have kept them (rebuild writes what they should be).
    for campaign in (small, big):
        campaign_stats_rebuild(campaign=campaign)

    headers = {"Authorization": f"Bearer {api_key_for(organization)}"}
    client = Client()

    def get(campaign: Any) -> None:
        response = client.get(f"{CAMPAIGNS}/{campaign.pk}", headers=headers)
        assert response.status_code == 200, response.content[:300]

    body = client.get(f"{CAMPAIGNS}/{big.pk}", headers=headers).json()
    stats = body["data"]["stats"]
    assert stats["contacts"]["total"] == contacts, stats["contacts"]
    for _ in range(5):
        get(small)
        get(big)
    small_ms: list[float] = []
    big_ms: list[float] = []
    for _ in range(requests):
        small_ms.append(timed_ms(lambda: get(small)))
        big_ms.append(timed_ms(lambda: get(big)))
    rebuild_ms = [timed_ms(lambda: campaign_stats_rebuild(campaign=big)) for _ in range(rebuilds)]
    small_rebuild_ms = statistics.median(
        timed_ms(lambda: campaign_stats_rebuild(campaign=small)) for _ in range(rebuilds)
    )
    figures = {
        "contacts": contacts,
        "requests": requests,
        "big_p50": statistics.median(big_ms),
        "big_p95": percentile(big_ms, 95),
        "small_p50": statistics.median(small_ms),
        "small_p95": percentile(small_ms, 95),
        "rebuild_p50": statistics.median(rebuild_ms),
        "small_rebuild_p50": small_rebuild_ms,
        "completed": stats["contacts"]["completed"],
    }
    figures["ratio_big_small"] = figures["big_p50"] / figures["small_p50"]
    figures["ratio_rebuild_get"] = figures["rebuild_p50"] / figures["big_p50"]
    report(
        "GET /campaigns/:id with stats, {requests} requests each: {contacts:,} contacts "
        "p50 {big_p50:.2f} ms p95 {big_p95:.2f} ms; {small_contacts} contacts p50 "
        "{small_p50:.2f} ms p95 {small_p95:.2f} ms; ratio {ratio_big_small:.2f}".format(
            small_contacts=BASELINE_CONTACTS, **figures
        )
    )
    report(
        "campaign_stats_rebuild (the aggregate the counters avoid): {contacts:,} contacts "
        "p50 {rebuild_p50:,.0f} ms ({ratio_rebuild_get:,.0f}x the GET); "
        "10 contacts {small_rebuild_p50:.1f} ms".format(**figures)
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=None, help=f"default {DEFAULT_CONTACTS:,}")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CONTACTS:,} contacts")
    parser.add_argument("--requests", type=int, default=None, help="GETs per campaign (200)")
    add_database_arguments(parser, default="bench_campaign_stats")
    args = parser.parse_args(argv)
    contacts = args.contacts or (QUICK_CONTACTS if args.quick else DEFAULT_CONTACTS)
    requests = args.requests or (50 if args.quick else 200)
    return run_in_bench_database(
        args,
        bench="benchmarks.campaign_stats",
        size=contacts,
        noun="contacts",
        size_flag="--contacts",
        run=lambda reused: run(contacts=contacts, requests=requests, reuse=reused),
    )


if __name__ == "__main__":
    sys.exit(main())
