"""`benchmarks.experiments` runs, and the bandit loses fewer successes than a fixed split."""

from __future__ import annotations

import pytest

from benchmarks.experiments import simulate


def test_the_bandit_beats_the_fixed_split_on_clearly_different_arms():
    rates = (0.10, 0.30)
    fixed = [simulate(rates, policy="fixed", horizon=300, seed=seed) for seed in range(3)]
    bandit = [simulate(rates, policy="promote", horizon=300, seed=seed) for seed in range(3)]

    assert [run.regret for run in fixed] == [
        pytest.approx(30.0)
    ] * 3  # half the calls, 0.2 lost each
    assert sum(run.regret for run in bandit) < sum(run.regret for run in fixed) / 2
