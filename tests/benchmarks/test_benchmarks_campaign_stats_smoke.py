"""The campaign stats benchmark still runs end to end (a few hundred contacts)."""

from __future__ import annotations

import pytest

from benchmarks import campaign_stats
from campaigns.models import CampaignContact, Contact
from sessions.models import CallSession


@pytest.mark.django_db
def test_the_campaign_stats_benchmark_reads_the_counters_of_a_loaded_campaign() -> None:
    lines: list[str] = []

    figures = campaign_stats.run(contacts=200, requests=3, rebuilds=1, report=lines.append)

    assert Contact.objects.count() == CampaignContact.objects.count() == 210
    # Every contact that left "pending" was dialled once: 70 % of them.
    assert CallSession.objects.count() == 7 + 140
    assert figures["contacts"] == 200
    assert figures["completed"] == 80  # 40 % of the contacts, read back from the API's stats
    assert figures["big_p50"] > 0
    assert figures["small_p50"] > 0
    assert figures["rebuild_p50"] > 0
    assert len(lines) == 3
