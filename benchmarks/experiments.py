"""Script experiments (issue 19 part 1): the bandit's regret against a fixed 50/50 split.

    .venv/bin/python -m benchmarks.experiments [--seeds N] [--horizon CALLS] [--quick]

Pure-Python simulation (no database, no calls): arms with known success rates per
conversation; each call is a conversation whose success is drawn from its arm's rate. The
policies see feedback late, as the dialler does: allocation uses the counts of the last recount,
taken every `RECOUNT` calls (calls are claimed in batches and finish minutes later), while the
assigned counts move with every call.

Policies, each run on the same seeds:
- fixed split: calls go round the arms in turn (the 50/50 of other platforms; 1/k with k arms);
- bandit: `campaigns.experiment_bandit.choose_arm` with the product's defaults (burn-in of 30
  conversations per arm, 10 % exploration, Thompson sampling);
- bandit + promote: the same, and when the winner rule holds at a recount (`winner_index`:
  P(best) ≥ 0.95 over `posteriors`, the leader with ≥ 100 conversations, every arm with the
  burn-in's 30: the product's defaults) the campaign manager promotes the winner at once:
  every later call goes to it;
- bandit + promote at 30: the same with the leader allowed to win after the burn-in's 30
  conversations (the rule without `winner_min_conversations`), for comparison.

Figures per scenario (mean over seeds): expected regret = Σ over calls of (best rate - the
chosen arm's rate), i.e. successes lost against always calling the best arm; its ratio to the
fixed split's; the share of calls on the best arm; for bandit + promote, how often a winner was
declared within the horizon, how often a worse arm was promoted (share of all runs; with
equal arms any winner is as good as the other), and the median calls to declaration.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaigns.experiment_bandit import ArmCounts, choose_arm, posteriors, winner_index

EXPLORATION_SHARE = 0.1
MIN_CONVERSATIONS = 30
WINNER_THRESHOLD = 0.95
WINNER_MIN_CONVERSATIONS = 100
RECOUNT = 20  # calls between recounts: the dialler recounts every 15 s, ~20 calls at 1-2 CPS
WINNER_DRAWS = 4_000  # Monte Carlo draws per winner check (the product uses 20 000)

SCENARIOS: dict[str, tuple[float, ...]] = {
    "2 arms, 10 % vs 15 %": (0.10, 0.15),
    "2 arms, 10 % vs 12 %": (0.10, 0.12),
    "2 arms, 20 % vs 30 %": (0.20, 0.30),
    "4 arms, 8/10/12/15 %": (0.08, 0.10, 0.12, 0.15),
    "2 arms, equal 12 %": (0.12, 0.12),
}


@dataclass
class Run:
    regret: float
    best_share: float
    declared_at: int | None = None
    declared_best: bool | None = None


def simulate(
    rates: Sequence[float],
    *,
    policy: str,
    horizon: int,
    seed: int,
    winner_min_conversations: int = WINNER_MIN_CONVERSATIONS,
) -> Run:
    rng = random.Random(seed)  # noqa: S311 (a simulation: reproducible on purpose)
    outcomes = random.Random(seed * 7919 + 1)  # noqa: S311 (the callees' answers, same per seed)
    k = len(rates)
    best = max(rates)
    assigned = [0] * k
    conversations = [0] * k
    successes = [0] * k
    seen = [ArmCounts(0, 0, 0)] * k  # what the last recount saw
    regret = 0.0
    on_best = 0
    promoted: int | None = None
    declared_at: int | None = None
    for call in range(horizon):
        if call % RECOUNT == 0:
            seen = [ArmCounts(assigned[i], conversations[i], successes[i]) for i in range(k)]
            if policy == "promote" and promoted is None and call:
                check = posteriors(seen, seed=seed, draws=WINNER_DRAWS)
                winner = winner_index(
                    seen,
                    [posterior.probability_best for posterior in check],
                    threshold=WINNER_THRESHOLD,
                    min_conversations=MIN_CONVERSATIONS,
                    leader_min_conversations=winner_min_conversations,
                )
                if winner is not None:
                    promoted, declared_at = winner, call
        if policy == "fixed":
            arm = call % k
        elif promoted is not None:
            arm = promoted
        else:
            current = [
                ArmCounts(assigned[i], seen[i].conversations, seen[i].successes) for i in range(k)
            ]
            arm = choose_arm(
                current,
                exploration_share=EXPLORATION_SHARE,
                min_conversations=MIN_CONVERSATIONS,
                rng=rng,
            )
        assigned[arm] += 1
        conversations[arm] += 1
        successes[arm] += outcomes.random() < rates[arm]
        regret += best - rates[arm]
        on_best += rates[arm] == best
    return Run(
        regret=regret,
        best_share=on_best / horizon,
        declared_at=declared_at,
        declared_best=None if promoted is None else rates[promoted] == best,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="20 seeds, 1 000 calls")
    args = parser.parse_args(argv)
    seeds, horizon = (20, 1_000) if args.quick else (args.seeds, args.horizon)
    started = time.perf_counter()
    print(f"{seeds} seeds x {horizon} conversations per scenario; recount every {RECOUNT} calls")
    print()
    print(
        "| scenario | policy | expected regret (successes lost) | ratio / fixed split "
        "| calls on the best arm | winner declared | worse arm promoted "
        "| calls to declare (median) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    policies: dict[str, dict[str, Any]] = {
        "fixed split": {"policy": "fixed"},
        "bandit": {"policy": "bandit"},
        "bandit + promote": {"policy": "promote"},
        "bandit + promote at 30": {"policy": "promote", "winner_min_conversations": 30},
    }
    for name, rates in SCENARIOS.items():
        runs = {
            label: [simulate(rates, horizon=horizon, seed=seed, **options) for seed in range(seeds)]
            for label, options in policies.items()
        }
        baseline = statistics.fmean(run.regret for run in runs["fixed split"])
        for label, options in policies.items():
            regret = statistics.fmean(run.regret for run in runs[label])
            ratio = f"{regret / baseline:.2f}x" if baseline else "-"
            share = statistics.fmean(run.best_share for run in runs[label])
            declared = [run for run in runs[label] if run.declared_at is not None]
            declared_text = wrong = median = "-"
            if options["policy"] == "promote":
                declared_text = f"{len(declared) / seeds:.0%}"
                wrong = f"{sum(run.declared_best is False for run in declared) / seeds:.1%}"
                if declared:
                    median = f"{statistics.median(run.declared_at or 0 for run in declared):.0f}"
            print(
                f"| {name} | {label} | {regret:.1f} | {ratio} | {share:.0%} "
                f"| {declared_text} | {wrong} | {median} |"
            )
    print()
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
