"""The best-time evaluation still runs every mode with the same number of attempts."""

from __future__ import annotations

from benchmarks import best_time


def test_every_mode_places_the_same_attempts_and_best_time_connects_more():
    results = best_time.evaluate(seeds=[1], contacts=40, attempts=80, per_tick=4)

    assert set(results) == set(best_time.MODES)
    assert {run.attempts for runs in results.values() for run in runs} == {80}
    assert results["best_time (history)"][0].connects > results["plain"][0].connects
