"""CPS buckets under beat jitter: ticks a little early or late still grant the full rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.dialling.pacing import take_tokens

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def grants(rate: float, offsets_ms: list[int]) -> list[int]:
    """Ticks with a backlog (want 1000) at START + n s + offset; what each one is granted."""
    buckets = [("campaign:jitter", rate)]
    return [
        take_tokens(
            want=1000, buckets=buckets, now=START + timedelta(seconds=n, milliseconds=offset)
        )
        for n, offset in enumerate(offsets_ms)
    ]


def test_a_tick_that_comes_a_few_ms_early_still_gets_the_full_second():
    # Every other tick 2 ms early: the refill is 4.99 tokens, then 5.01 (clipped at 5).
    granted = grants(5, [0, -2, 0, -2, 0, -2, 0, -2, 0, -2, 0])

    assert granted == [5] * 11


def test_the_rate_over_time_stays_exact_and_no_tick_exceeds_the_burst():
    # Ticks up to 12 ms off the beat at 20 CPS: intervals 24 ms short at worst, inside the
    # slack (half a token: 25 ms at this rate).
    offsets = [0, -12, 12, -10, 12, -12, 5, 0, -12, 10, 10, -5, 0, 12, -12, 12]

    granted = grants(20, offsets)

    # A full bucket, then 20 a second for the 15.012 s that follow: 320, never more per tick.
    assert granted == [20] * 16


def test_ticks_twice_in_the_same_moment_do_not_borrow_a_whole_token():
    first = grants(5, [0])
    again = take_tokens(want=10, buckets=[("campaign:jitter", 5)], now=START)

    assert (first, again) == ([5], 0)
