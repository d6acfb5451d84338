"""Creates are spaced 1/CPS apart at the carrier, whatever the claims' placement delays."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections

from campaigns.dialling.gate import MAX_DIAL_WAIT_SECONDS, wait_for_dial_slot
from campaigns.dialling.pacing import reserve_dial_slot
from campaigns.models import PacingBucket

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def test_a_burst_of_claims_is_spread_over_the_second():
    buckets = [("campaign:1", 5.0), ("account", 100.0)]

    waits = [reserve_dial_slot(buckets=buckets, now=START) for _ in range(7)]

    # Five in the first 0.8 s of the second, then on into the next one.
    assert waits == pytest.approx([0.0, 0.16, 0.32, 0.48, 0.64, 1.0, 1.16])


def test_a_late_burst_cannot_land_on_top_of_the_next_one():
    buckets = [("campaign:1", 5.0)]
    # Tick 1's five placements ran 0.9 s late; tick 2's ran on time right after them.
    late = [reserve_dial_slot(buckets=buckets, now=START + timedelta(seconds=0.9)) for _ in "12345"]
    on_time = [reserve_dial_slot(buckets=buckets, now=START + timedelta(seconds=1)) for _ in "12"]
    moments = [0.9 + w for w in late] + [1.0 + w for w in on_time]

    # Never more than five in one wall-clock second, however the claims were bunched.
    per_second = Counter(int(moment) for moment in moments)
    assert max(per_second.values()) <= 5
    assert min(round(b - a, 6) for a, b in itertools.pairwise(moments)) >= 0.16


def test_the_slowest_bucket_sets_the_pace():
    buckets = [("campaign:1", 20.0), ("account", 2.0)]

    waits = [reserve_dial_slot(buckets=buckets, now=START) for _ in range(3)]

    assert waits == pytest.approx([0.0, 0.4, 1.0])


def test_an_idle_bucket_dials_at_once():
    buckets = [("campaign:1", 5.0)]
    reserve_dial_slot(buckets=buckets, now=START)

    assert reserve_dial_slot(buckets=buckets, now=START + timedelta(seconds=10)) == 0.0


def test_an_idle_bucket_late_in_a_second_waits_for_the_next_one():
    # Past FILL (0.8 s) a create could reach the carrier in the next second, on top of that
    # second's full allotment: it waits for the second to start instead.
    late = START + timedelta(seconds=0.9)

    assert reserve_dial_slot(buckets=[("campaign:1", 5.0)], now=late) == pytest.approx(0.1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_share_a_moment():
    buckets = [("campaign:9", 10.0)]
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(5):
                wait = reserve_dial_slot(buckets=buckets, now=START)
                with lock:
                    waits.append(wait)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    expected = [round(second + n * 0.08, 6) for second in (0, 1) for n in range(10)]
    assert sorted(round(w, 6) for w in waits) == expected


def test_placement_waits_for_its_slot_but_never_too_long(owner, make_campaign):
    campaign = make_campaign(owner.organization, calls_per_second=1)
    # The account's slot row is shared by every placement: start from an idle account.
    PacingBucket.objects.filter(key__startswith="dial-slot:").delete()
    slept: list[float] = []

    class Session:
        pk = 1
        campaign_id = campaign.pk
        organization_id = campaign.organization_id

    # At the start of a wall-clock second: from 0.8 s into one, even an idle account's first
    # create waits for the next second (the FILL rule, tested above).
    with time_machine.travel(START, tick=False):
        waits = [wait_for_dial_slot(Session(), sleep=slept.append) for _ in range(6)]  # type: ignore[arg-type]

    assert waits[0] == 0  # nothing to wait for: no sleep at all
    assert slept == waits[1:]
    assert 0 < waits[1] <= 1.0  # one a second: at the start of the next wall-clock second
    assert waits[-1] == MAX_DIAL_WAIT_SECONDS  # a backlog: capped, logged
