"""Several dispatchers at once on PostgreSQL: attempts == claims, never two calls per attempt.

Needs real row locks (`FOR UPDATE SKIP LOCKED`, `FOR NO KEY UPDATE`) and real commits, so it
runs only when DATABASE_URL points at PostgreSQL (`make test` in CI does both runs).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections

from anvil_voice.accounts.factories import OrganizationFactory
from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.factories import CampaignFactory, ContactListFactory
from campaigns.models import CampaignContact, CampaignStats, Contact, TimeZoneSource
from sessions.models import CallSession
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

DISPATCHERS = 6
TICKS = 5

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks: run with DATABASE_URL=postgres://...")


def campaign_with_contacts(organization, contacts: int, **fields):
    contact_list = ContactListFactory(organization=organization)
    Contact.objects.bulk_create(
        Contact(
            organization=organization,
            contact_list=contact_list,
            phone_number=f"+1212555{n:04d}",
            time_zone="America/New_York",
            time_zone_source=TimeZoneSource.EXPLICIT,
            region="NY",
        )
        for n in range(contacts)
    )
    campaign = CampaignFactory(organization=organization, contact_list=contact_list, **fields)
    services.campaign_start(campaign=campaign, actor=services.Actor.named("test"), now=NOW)
    return campaign


def run_dispatchers() -> list[int]:
    claimed: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(DISPATCHERS)
    lock = threading.Lock()

    def dispatcher() -> None:
        try:
            barrier.wait()
            for tick in range(TICKS):
                count = dispatch_due(now=NOW + timedelta(seconds=tick))
                with lock:
                    claimed.append(count)
        except BaseException as exc:  # surfaced below, on the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return claimed


def test_several_dispatchers_claim_each_attempt_exactly_once(
    settings, monkeypatch, placement_tasks
):
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 1000
    # Small batches so the dispatchers also race each other materialising contacts.
    monkeypatch.setattr("campaigns.services.lifecycle.MATERIALIZE_BATCH", 40)
    organization = OrganizationFactory()
    capped = campaign_with_contacts(
        organization, 300, max_concurrent_calls=30, calls_per_second=100
    )
    paced = campaign_with_contacts(organization, 300, max_concurrent_calls=500, calls_per_second=20)

    claimed = run_dispatchers()

    sessions = CallSession.objects.filter(campaign__in=[capped, paced])
    per_attempt = Counter(sessions.values_list("target_id", "attempt_number"))
    attempts = sum(CampaignContact.objects.values_list("attempts", flat=True))
    assert sum(claimed) == sessions.count() == attempts == len(placement_tasks)
    assert max(per_attempt.values()) == 1
    # Concurrency holds across dispatchers: exactly the 30 free slots were filled.
    assert sessions.filter(campaign=capped).count() == 30
    # CPS holds across dispatchers: one full bucket (20) plus 20 a second for 4 seconds at most.
    assert 20 <= sessions.filter(campaign=paced).count() <= 20 + 20 * (TICKS - 1)
    for campaign in (capped, paced):
        stats = CampaignStats.objects.get(campaign=campaign)
        assert (
            stats.contacts_materialized
            == CampaignContact.objects.filter(campaign=campaign).count()
            == 300
        )
        rebuilt = services.campaign_stats_rebuild(campaign=campaign, save=False)
        assert (stats.pending, stats.in_progress, stats.sessions_created) == (
            rebuilt.pending,
            rebuilt.in_progress,
            rebuilt.sessions_created,
        )
