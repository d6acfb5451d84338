"""Tenant fairness of the dialler: each organization's share of the carrier account's CPS.

`uv run python -m benchmarks.dialler_fairness [--quick] [--seconds S] [--attacker-campaigns N]`

Issue 15, item 3: every organization dials through one carrier account
(`CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND`, 10 here). The real dispatcher runs on an explicit clock,
one tick a second for S seconds (no sleeping: the figures are the claims, which is where the
shares are decided; placement and the dial slots only space the creates out), on a throw-away
test database (SQLite file by default; PostgreSQL as `test_<name>` when DATABASE_URL is set).
Between ticks, outside the timing, claimed sessions are marked ended so concurrency never holds
a campaign back; the first tick (which also materialises the contact lists) is not timed. Each
scenario runs twice in the same process:

- baseline: the tick as it was before the fix (campaigns in turn, oldest dial first, each one
  taking what the buckets allow), kept here only as the comparison;
- fair: `campaigns.dialling.dispatch.dispatch_due` (fair shares, `campaigns.dialling.fair_share`).

(a) two tenants: A runs N campaigns at 10 CPS, B one at 10 CPS. Each one's share of the calls
    placed, against the fair 50 %.
(b) three tenants with one campaign each: the spare call of 10 / 3 goes round (33.3 % each).
(c) an operator's cap of 3 CPS on A (N campaigns at 10 CPS) next to B: A's calls per second
    (max, mean) against its cap, and B's.
Also the dispatcher's cost per tick, fair against baseline: queries (exact) and time (noisy on a
shared box).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks.support import create_test_database, destroy_test_database

ACCOUNT_CPS = 10
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


def legacy_tick(now: datetime) -> int:
    """The dispatcher tick before issue 15 item 3 (the baseline): callbacks, then each running
    campaign in turn, oldest dial first, each taking whatever the buckets still allow."""
    from django.db.models import F

    from campaigns.dialling.dispatch import claim_due_callbacks, claim_due_contacts
    from campaigns.models import Campaign, CampaignStatus
    from campaigns.services import lifecycle

    claimed = len(claim_due_callbacks(now=now).session_ids)
    running = (
        Campaign.objects.filter(status=CampaignStatus.RUNNING)
        .order_by(F("last_dialled_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )
    for campaign_id in list(running):
        lifecycle.campaign_materialize_batch(campaign_id=campaign_id, now=now)
        claimed += len(claim_due_contacts(campaign_id=campaign_id, now=now).session_ids)
    return claimed


def fair_tick(now: datetime) -> int:
    from campaigns.dialling.dispatch import dispatch_due

    return dispatch_due(now=now)


@dataclass
class Tenant:
    name: str
    campaigns: int
    cap: Decimal | None = None


@dataclass
class Outcome:
    calls: dict[str, int]
    per_second: dict[str, list[int]]
    tick_seconds: float
    tick_queries: float


def setup_tenants(tenants: list[Tenant], *, contacts: int, label: str) -> dict[str, Any]:
    from anvil_voice.accounts.models import Organization
    from campaigns import services
    from campaigns.factories import CampaignFactory
    from campaigns.models import Contact, ContactList, TimeZoneSource

    organizations = {}
    for tenant in tenants:
        organization = Organization.objects.create(
            name=f"{label} {tenant.name}",
            slug=f"{label}-{tenant.name}".lower().replace(" ", "-"),
            max_calls_per_second=tenant.cap,
        )
        organizations[tenant.name] = organization
        for k in range(tenant.campaigns):
            contact_list = ContactList.objects.create(organization=organization, name=f"list {k}")
            Contact.objects.bulk_create(
                (
                    Contact(
                        organization=organization,
                        contact_list=contact_list,
                        phone_number=f"+1212555{n:04d}",
                        time_zone="America/New_York",
                        time_zone_source=TimeZoneSource.EXPLICIT,
                        region="NY",
                    )
                    for n in range(contacts)
                ),
                batch_size=1000,
            )
            campaign = CampaignFactory.create(
                organization=organization,
                contact_list=contact_list,
                calls_per_second=ACCOUNT_CPS,
                max_concurrent_calls=500,
                max_attempts=1,
            )
            services.campaign_start(campaign=campaign, actor=services.Actor.named("bench"), now=NOW)
    return organizations


def run(
    tick: Callable[[datetime], int], tenants: list[Tenant], *, seconds: int, label: str
) -> Outcome:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Campaign, CampaignStatus, PacingBucket
    from sessions.models import CallSession, CallStatus

    PacingBucket.objects.all().delete()  # every run starts from full buckets
    organizations = setup_tenants(tenants, contacts=seconds * ACCOUNT_CPS, label=label)
    spent, queries = 0.0, 0
    tick(NOW)  # the first tick also materialises the lists (thousands of rows): not timed
    for second in range(1, seconds):
        CallSession.objects.filter(status=CallStatus.QUEUED).update(status=CallStatus.COMPLETED)
        reset_queries()  # the log keeps 9 000 queries; a full one would count every tick as 0
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            tick(NOW + timedelta(seconds=second))
            spent += time.perf_counter() - started
        queries += len(captured.captured_queries)
    calls: dict[str, int] = {}
    per_second: dict[str, list[int]] = {}
    for name, organization in organizations.items():
        moments = Counter(
            CallSession.objects.filter(organization=organization).values_list(
                "created_at", flat=True
            )
        )
        per_second[name] = [moments.get(NOW + timedelta(seconds=s), 0) for s in range(seconds)]
        calls[name] = sum(per_second[name])
    Campaign.objects.filter(organization__in=organizations.values()).update(
        status=CampaignStatus.STOPPED
    )
    return Outcome(calls, per_second, spent / (seconds - 1), queries / (seconds - 1))


def shares(outcome: Outcome) -> str:
    total = sum(outcome.calls.values()) or 1
    return ", ".join(
        f"{name} {calls} ({100 * calls / total:.1f} %)" for name, calls in outcome.calls.items()
    )


def worst_deviation(outcome: Outcome, fair: dict[str, float]) -> float:
    """The largest distance from the fair share, in % of that share."""
    total = sum(outcome.calls.values()) or 1
    return max(
        abs(outcome.calls[name] / total - share) / share * 100 for name, share in fair.items()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 ticks instead of 60")
    parser.add_argument("--seconds", type=int, help="ticks (seconds) per run (60)")
    parser.add_argument("--attacker-campaigns", type=int, default=4, help="tenant A's campaigns")
    args = parser.parse_args(argv)
    seconds = args.seconds or (20 if args.quick else 60)
    many = args.attacker_campaigns

    connection = create_test_database("dialler-fairness-bench-")
    from django.conf import settings

    logging.disable(logging.INFO)
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = ACCOUNT_CPS
    settings.CAMPAIGNS_CALLER_ID_CHECK = "simulator"
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 1_000_000
    from sessions.tasks import session_place_call_task

    # Placement is not measured: the claims are where the shares are decided.
    session_place_call_task.delay = lambda *args, **kwargs: None  # type: ignore[method-assign,assignment]
    print(
        f"database: {connection.vendor}; account {ACCOUNT_CPS} CPS; {seconds} ticks a run",
        flush=True,
    )
    try:
        two = [Tenant("A", many), Tenant("B", 1)]
        baseline, fair = (
            run(legacy_tick, two, seconds=seconds, label="a-baseline"),
            run(fair_tick, two, seconds=seconds, label="a-fair"),
        )
        half = {"A": 0.5, "B": 0.5}
        print(f"(a) A: {many} campaigns at 10 CPS, B: one at 10 CPS", flush=True)
        print(
            f"    baseline: {shares(baseline)}; worst {worst_deviation(baseline, half):.1f} % "
            f"from the fair 50 %; B's seconds with no call: "
            f"{baseline.per_second['B'].count(0)} of {seconds}",
            flush=True,
        )
        print(
            f"    fair:     {shares(fair)}; worst {worst_deviation(fair, half):.1f} % "
            f"from the fair 50 %; B's seconds with no call: "
            f"{fair.per_second['B'].count(0)} of {seconds}",
            flush=True,
        )
        print(
            f"    dispatcher per tick: baseline {baseline.tick_queries:.1f} queries, "
            f"{1000 * baseline.tick_seconds:.1f} ms; fair {fair.tick_queries:.1f} queries "
            f"(x{fair.tick_queries / baseline.tick_queries:.2f}), "
            f"{1000 * fair.tick_seconds:.1f} ms (x{fair.tick_seconds / baseline.tick_seconds:.2f})",
            flush=True,
        )

        three = [Tenant("A", 1), Tenant("B", 1), Tenant("C", 1)]
        third = {name: 1 / 3 for name in "ABC"}
        baseline, fair = (
            run(legacy_tick, three, seconds=seconds, label="b-baseline"),
            run(fair_tick, three, seconds=seconds, label="b-fair"),
        )
        print("(b) three tenants, one campaign each at 10 CPS", flush=True)
        for name, outcome in (("baseline", baseline), ("fair", fair)):
            print(
                f"    {name + ':':9} {shares(outcome)}; worst "
                f"{worst_deviation(outcome, third):.1f} % from the fair 33.3 %",
                flush=True,
            )

        capped = [Tenant("A", many, cap=Decimal(3)), Tenant("B", 1)]
        fair = run(fair_tick, capped, seconds=seconds, label="c-fair")
        a_rate, b_rate = fair.per_second["A"], fair.per_second["B"]
        print(f"(c) operator's cap of 3 CPS on A ({many} campaigns at 10 CPS), B at 10 CPS")
        print(
            f"    fair: A max {max(a_rate)}/s, mean {sum(a_rate) / seconds:.2f}/s (cap 3); "
            f"B mean {sum(b_rate) / seconds:.2f}/s (the other 7); {shares(fair)}",
            flush=True,
        )
    finally:
        destroy_test_database(connection)


if __name__ == "__main__":
    main()
