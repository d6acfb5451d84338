"""The arithmetic of script experiments, in plain Python (no Django): which arm the next call
gets, each arm's posterior, P(best), the guardrails and the winner rule.

`campaigns.experiments` feeds it counts read from sessions; `benchmarks/experiments.py` feeds
it simulated arms. Every random choice takes an explicit RNG or seed, so a test (or a replay of
a campaign's sessions) gets the same answer every time.

The model: each arm's success probability per *conversation* (a call answered by a person)
has a Beta(1 + successes, 1 + failures) posterior (uniform prior). Calls nobody answered tell
nothing about a script (whether a phone is picked up does not depend on what will be said), so
they are neither successes nor failures.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Monte Carlo draws for P(best) and the credible intervals: the estimate's standard error is at
# most 0.5 / sqrt(20 000) ≈ 0.0035, small against any sensible winner threshold.
POSTERIOR_DRAWS = 20_000
CREDIBLE_MASS = 0.95
# Prior Beta(1, 1): uniform.
PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0


@dataclass(frozen=True)
class ArmCounts:
    """What the bandit knows of one arm: calls assigned so far, and its conversations and
    successes among the calls that finished."""

    assigned: int
    conversations: int
    successes: int

    @property
    def failures(self) -> int:
        return self.conversations - self.successes


def choose_arm(
    arms: Sequence[ArmCounts],
    *,
    exploration_share: float,
    min_conversations: int,
    rng: random.Random,
) -> int:
    """The index (into `arms`, the active arms) of the arm the next call gets.

    1. Burn-in: while any arm has fewer than `min_conversations` conversations, the arm with
       the fewest assigned calls (the first such on a tie): an even split, no randomness.
    2. Then, with probability `exploration_share`, a uniformly drawn arm (keeps learning about
       arms the posterior has written off too early);
    3. otherwise Thompson sampling: one draw from each arm's Beta posterior, the largest wins.
    """
    if not arms:
        raise ValueError("an experiment needs at least one active arm")
    if len(arms) == 1:
        return 0
    if any(arm.conversations < min_conversations for arm in arms):
        fewest = min(arm.assigned for arm in arms)
        return next(index for index, arm in enumerate(arms) if arm.assigned == fewest)
    if rng.random() < exploration_share:
        return rng.randrange(len(arms))
    draws = [
        rng.betavariate(PRIOR_ALPHA + arm.successes, PRIOR_BETA + arm.failures) for arm in arms
    ]
    return max(range(len(arms)), key=draws.__getitem__)


@dataclass(frozen=True)
class Posterior:
    mean: float
    low: float  # the equal-tailed credible interval (CREDIBLE_MASS)
    high: float
    probability_best: float


def posteriors(
    arms: Sequence[ArmCounts], *, seed: int, draws: int = POSTERIOR_DRAWS
) -> list[Posterior]:
    """Each arm's posterior mean, 95% credible interval and probability of being the best arm
    (of those given), estimated from `draws` joint draws of a seeded PCG64 generator: the same
    counts and seed always give the same figures."""
    if not arms:
        return []
    generator = np.random.Generator(np.random.PCG64(seed))
    samples = np.stack(
        [
            generator.beta(PRIOR_ALPHA + arm.successes, PRIOR_BETA + arm.failures, size=draws)
            for arm in arms
        ]
    )
    best = np.bincount(np.argmax(samples, axis=0), minlength=len(arms)) / draws
    tail = (1 - CREDIBLE_MASS) / 2
    lows = np.quantile(samples, tail, axis=1)
    highs = np.quantile(samples, 1 - tail, axis=1)
    return [
        Posterior(
            mean=(PRIOR_ALPHA + arm.successes) / (PRIOR_ALPHA + PRIOR_BETA + arm.conversations),
            low=float(lows[index]),
            high=float(highs[index]),
            probability_best=float(best[index]),
        )
        for index, arm in enumerate(arms)
    ]


# --- Guardrails -------------------------------------------------------------------------------

# A one-sided test at 2.5%: the excess must be this many standard errors.
_Z = 1.959963984540054


def excess_z(count: int, total: int, others_count: int, others_total: int) -> float:
    """The two-proportion z statistic (pooled) of an arm's rate over the other arms' rate."""
    if total <= 0 or others_total <= 0:
        return 0.0
    pooled = (count + others_count) / (total + others_total)
    variance = pooled * (1 - pooled) * (1 / total + 1 / others_total)
    if variance <= 0:
        return 0.0
    return (count / total - others_count / others_total) / math.sqrt(variance)


@dataclass(frozen=True)
class GuardrailCheck:
    """One arm's rate of a bad event (opt-out, early hang-up) against the other arms'."""

    count: int
    conversations: int
    others_count: int
    others_conversations: int
    margin: float
    min_conversations: int

    @property
    def rate(self) -> float:
        return self.count / self.conversations if self.conversations else 0.0

    @property
    def others_rate(self) -> float:
        return self.others_count / self.others_conversations if self.others_conversations else 0.0

    @property
    def tripped(self) -> bool:
        """The rule: with at least `min_conversations` conversations on the arm and on the
        other arms together, the arm's rate exceeds theirs by at least `margin` (absolute)
        AND the excess is significant in a one-sided two-proportion z-test at 2.5% (z ≥ 1.96),
        so one unlucky streak on a small sample does not stop an arm."""
        if self.conversations < self.min_conversations:
            return False
        if self.others_conversations < self.min_conversations:
            return False
        if self.rate - self.others_rate < self.margin:
            return False
        z = excess_z(self.count, self.conversations, self.others_count, self.others_conversations)
        return z >= _Z


def guardrail_checks(
    counts: Sequence[int],
    conversations: Sequence[int],
    *,
    margin: float,
    min_conversations: int,
) -> list[GuardrailCheck]:
    """For each arm: its bad events against the pooled bad events of all the other arms."""
    total_count, total_conversations = sum(counts), sum(conversations)
    return [
        GuardrailCheck(
            count=count,
            conversations=n,
            others_count=total_count - count,
            others_conversations=total_conversations - n,
            margin=margin,
            min_conversations=min_conversations,
        )
        for count, n in zip(counts, conversations, strict=True)
    ]


def winner_index(
    arms: Sequence[ArmCounts],
    best: Sequence[float],
    *,
    threshold: float,
    min_conversations: int,
    leader_min_conversations: int | None = None,
) -> int | None:
    """The winning arm (index into the active `arms`), or None: every active arm has at least
    `min_conversations` conversations, the arm with the largest P(best) has at least
    `leader_min_conversations` (default: the same) and its P(best) is at least `threshold`.
    The others need only the burn-in's sample: the bandit gives an arm it has written off
    few calls, so asking them for more would keep any winner from being declared."""
    if not arms or any(arm.conversations < min_conversations for arm in arms):
        return None
    top = max(range(len(arms)), key=lambda index: best[index])
    if arms[top].conversations < (leader_min_conversations or min_conversations):
        return None
    return top if best[top] >= threshold else None
