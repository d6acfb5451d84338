"""The arithmetic of script experiments: arm choice, posteriors, guardrails, the winner rule."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from campaigns.experiment_bandit import (
    ArmCounts,
    GuardrailCheck,
    choose_arm,
    excess_z,
    guardrail_checks,
    posteriors,
    winner_index,
)


def choices(arms, *, n, seed=7, exploration_share=0.0, min_conversations=0):
    rng = random.Random(seed)
    return Counter(
        choose_arm(
            arms, exploration_share=exploration_share, min_conversations=min_conversations, rng=rng
        )
        for _ in range(n)
    )


def test_it_splits_evenly_during_the_burn_in_without_randomness():
    arms = [ArmCounts(assigned=5, conversations=2, successes=2), ArmCounts(3, 1, 0)]
    rng = random.Random(1)

    picked = choose_arm(arms, exploration_share=0.5, min_conversations=10, rng=rng)

    assert picked == 1  # fewest assigned, whatever the successes say
    assert rng.random() == random.Random(1).random()  # the RNG was not consumed


def test_it_breaks_burn_in_ties_by_position():
    arms = [ArmCounts(4, 0, 0), ArmCounts(4, 0, 0), ArmCounts(4, 0, 0)]
    assert choose_arm(arms, exploration_share=0.0, min_conversations=1, rng=random.Random()) == 0


def test_thompson_sampling_sends_most_calls_to_the_clearly_better_arm():
    arms = [ArmCounts(200, 200, 20), ArmCounts(200, 200, 60)]

    picked = choices(arms, n=1000)

    assert picked[1] > 990


def test_the_exploration_share_keeps_calls_on_the_worse_arm():
    arms = [ArmCounts(200, 200, 20), ArmCounts(200, 200, 60)]

    picked = choices(arms, n=4000, exploration_share=0.2)

    # Half of the exploring 20% lands on the worse arm: about 10% of calls.
    assert 0.07 < picked[0] / 4000 < 0.13


def test_the_same_seed_gives_the_same_choices():
    arms = [ArmCounts(50, 40, 10), ArmCounts(50, 40, 12), ArmCounts(50, 40, 11)]

    assert choices(arms, n=200, seed=42, exploration_share=0.1) == choices(
        arms, n=200, seed=42, exploration_share=0.1
    )


def test_posteriors_are_reproducible_and_sensible():
    arms = [ArmCounts(100, 100, 10), ArmCounts(100, 100, 30)]

    first = posteriors(arms, seed=3)
    again = posteriors(arms, seed=3)

    assert first == again
    assert first[0].mean == pytest.approx(11 / 102)
    assert first[1].mean == pytest.approx(31 / 102)
    # Beta(31, 71)'s exact 95% interval is about [0.219, 0.396].
    assert first[1].low == pytest.approx(0.219, abs=0.01)
    assert first[1].high == pytest.approx(0.396, abs=0.01)
    assert first[1].probability_best > 0.999
    assert sum(p.probability_best for p in first) == pytest.approx(1.0)


def test_equal_arms_share_the_probability_of_being_best():
    arms = [ArmCounts(60, 60, 15)] * 3

    best = [p.probability_best for p in posteriors(arms, seed=11)]

    assert all(abs(value - 1 / 3) < 0.02 for value in best)


def test_a_guardrail_needs_the_minimum_sample_on_both_sides():
    small = GuardrailCheck(
        count=9, conversations=29, others_count=0, others_conversations=100, margin=0.05,
        min_conversations=30,
    )  # fmt: skip
    others_small = GuardrailCheck(
        count=9, conversations=100, others_count=0, others_conversations=29, margin=0.05,
        min_conversations=30,
    )  # fmt: skip
    assert not small.tripped
    assert not others_small.tripped


def test_a_guardrail_trips_on_the_margin_and_a_confident_excess():
    tripped, calm = guardrail_checks([15, 2], [100, 100], margin=0.05, min_conversations=30)

    assert (tripped.rate, tripped.others_rate) == (0.15, 0.02)
    assert tripped.tripped
    assert not calm.tripped


def test_a_guardrail_ignores_an_excess_under_the_margin():
    worse, _ = guardrail_checks([6, 2], [100, 100], margin=0.05, min_conversations=30)

    assert worse.rate - worse.others_rate == pytest.approx(0.04)
    assert not worse.tripped


def test_a_guardrail_ignores_an_excess_the_sample_cannot_tell_from_noise():
    # 2 of 30 (6.7%) against 0 of 30: over the 5-point margin, but z = 1.44 < 1.96.
    worse, _ = guardrail_checks([2, 0], [30, 30], margin=0.05, min_conversations=30)

    assert worse.rate - worse.others_rate >= 0.05
    assert excess_z(2, 30, 0, 30) == pytest.approx(1.44, abs=0.01)
    assert not worse.tripped
    # 15 of 100 against 2 of 100: z = 3.30.
    assert excess_z(15, 100, 2, 100) == pytest.approx(3.30, abs=0.01)


def test_the_winner_needs_the_threshold_and_the_minimum_sample():
    arms = [ArmCounts(100, 100, 10), ArmCounts(100, 100, 30)]

    assert winner_index(arms, [0.01, 0.99], threshold=0.95, min_conversations=30) == 1
    assert winner_index(arms, [0.06, 0.94], threshold=0.95, min_conversations=30) is None
    assert winner_index(arms, [0.01, 0.99], threshold=0.95, min_conversations=101) is None


def test_the_leader_needs_its_own_larger_sample_the_others_only_the_burn_in():
    # The bandit gave the written-off arm few calls: it has the burn-in's 30, not 100.
    arms = [ArmCounts(40, 30, 2), ArmCounts(160, 150, 40)]

    assert (
        winner_index(
            arms, [0.001, 0.999], threshold=0.95, min_conversations=30, leader_min_conversations=100
        )
        == 1
    )
    assert (
        winner_index(
            arms, [0.001, 0.999], threshold=0.95, min_conversations=30, leader_min_conversations=200
        )
        is None
    )
