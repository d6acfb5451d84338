"""Smoke test of `benchmarks.dialler`: its numbers reach the right personas, and the
per-second pacing figures are computed as the docs describe."""

from __future__ import annotations

from anvil_voice.telephony.simulator.personas import persona_for
from benchmarks.dialler import pacing_of, persona_numbers


def test_contacts_get_distinct_numbers_of_personas_that_end_without_answering():
    numbers = persona_numbers(500, offset=100)

    assert len(set(numbers)) == 500
    assert {persona_for(number).key for number in numbers} == {"busy", "failed"}


def test_pacing_counts_wall_clock_seconds_and_the_worst_sliding_second():
    # Bursts at x.9 s, but the second one comes early (101.5): every wall-clock second holds
    # at most 3, while the sliding second from 100.90 holds both bursts.
    stamps = [100.90, 100.92, 100.94, 101.50, 101.52, 101.54, 102.90, 102.92, 103.90, 103.92]

    pacing = pacing_of(stamps)

    assert pacing.creates == 10
    assert pacing.window_max == 3
    # Full seconds between the first and the last: 101 (3) and 102 (2).
    assert (pacing.busy_seconds, pacing.window_mean) == (2, 2.5)
    assert pacing.sliding_max == 6
