"""Best-time-to-call evaluation: ``python -m benchmarks.best_time [--seeds 5] [--contacts 600]``.

Does the learned order (`DialOrder.BEST_TIME`, `campaigns.best_time`) connect more calls than the
plain order (oldest due first, retries after their delay) within the same number of attempts?

On a simulated clock (15-minute ticks from Monday 08:00 in New York), a campaign calls a list
of contacts spread over four US zones. Each contact is one of the simulator's hourly personas
(`anvil_voice.telephony.simulator.hourly`: evening 50 %, commuter 20 %, daytime 20 %, anytime
10 %), answering with its profile's probability at its local hour; the draws are common to
both orders (a number's n-th call meets the same luck whenever it is placed). The campaign
dials at most `--per-tick` calls a tick, `--attempts` in all, `max_attempts` 4, retries 60 min
after a no-answer, inside the legal 08:00-21:00 window of every zone (the real gate:
`compliance.next_allowed_moment`). A call is a connect when the persona answers.

The learned order is the product's code: `best_time.zone_scores` orders the due contacts,
`best_time.best_moment` plans each retry, from an `AnswerRates` built from the calls so far
(online) plus, with history, a previous plain campaign over other contacts of the same
organization (how a list's rates are learned in production). Rows:

- plain: the baseline;
- best_time (cold): no history, learns from its own calls as it goes;
- best_time (history): the rates of a previous campaign (same population, other numbers);
- order only / retries only (history): which half of the policy brings what.

Needs no database (Django is set up for the models' imports only).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
MIX = (("evening", 0.5), ("commuter", 0.2), ("daytime", 0.2), ("anytime", 0.1))
# Monday 2 March 2026, 08:00 in New York (EST).
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
TICK = timedelta(minutes=15)
RETRY = timedelta(minutes=60)
MAX_ATTEMPTS = 4


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    import django

    django.setup()


@dataclass
class Target:
    pk: int
    number: str
    zone: str
    due: datetime
    attempts: int = 0
    done: bool = False


@dataclass
class Run:
    attempts: int = 0
    connects: int = 0
    cells: dict[tuple[int, int], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )

    @property
    def rate(self) -> float:
        return self.connects / self.attempts if self.attempts else 0.0


def population(seed: int, contacts: int, prefix: str) -> tuple[Any, list[Target]]:
    from anvil_voice.telephony.simulator.hourly import HourlyPersonas

    chooser = random.Random(seed)  # noqa: S311 (a seeded population, not a secret)
    personas = HourlyPersonas(seed=seed)
    targets = []
    profiles = [profile for profile, _ in MIX]
    weights = [weight for _, weight in MIX]
    for pk in range(contacts):
        number = f"+1{prefix}{pk:07d}"
        zone = chooser.choice(ZONES)
        personas.assign(number, profile=chooser.choices(profiles, weights)[0], time_zone=zone)
        targets.append(Target(pk, number, zone, START))
    return personas, targets


def simulate(
    *,
    seed: int,
    contacts: int,
    attempts: int,
    per_tick: int,
    order: bool,
    retries: bool,
    learn: bool,
    history: Run | None = None,
    prefix: str = "212",
) -> Run:
    from campaigns import best_time
    from campaigns.calling_rules import rules_for
    from campaigns.compliance import LEGAL_SCHEDULE, Callee, next_allowed_moment

    personas, targets = population(seed, contacts, prefix)
    callees = {
        zone: Callee((zone,), "US", "", rules_for(country="US", region="")) for zone in ZONES
    }
    run = Run()
    now = START
    while run.attempts < attempts and any(not target.done for target in targets):
        due = []
        for target in targets:
            if target.done or target.due > now:
                continue
            allowed = next_allowed_moment(
                callee=callees[target.zone], schedule=LEGAL_SCHEDULE, at=now
            )
            if allowed is None:
                target.done = True
            elif allowed > now:
                target.due = allowed  # the gate's reschedule, as in the claim
            else:
                due.append(target)
        if not due:
            # Nobody due: skip to the tick of the next due contact (nights, retry delays).
            waiting = [target.due for target in targets if not target.done]
            if not waiting:
                break
            ticks = max(1, -(-(min(waiting) - now) // TICK))
            now += ticks * TICK
            continue
        rates = None
        if learn and (order or retries):
            cells: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
            for source in (history, run):
                for key, (n, a) in (source.cells if source else {}).items():
                    cells[key][0] += n
                    cells[key][1] += a
            total_n = sum(n for n, _ in cells.values())
            total_a = sum(a for _, a in cells.values())
            rates = best_time.AnswerRates(
                cells={key: (n, a) for key, (n, a) in cells.items()},
                organization_attempts=total_n,
                organization_answered=total_a,
            )
        if order and rates is not None:
            scores = best_time.zone_scores(rates, ZONES, now=now)
            due.sort(key=lambda t: (-scores[t.zone], t.due, t.pk))
        else:
            due.sort(key=lambda t: (t.due, t.pk))
        for target in due[: min(per_tick, attempts - run.attempts)]:
            zone = ZoneInfo(target.zone)
            local = now.astimezone(zone)
            answered = personas.answers(target.number, now)
            cell = run.cells[(local.weekday(), local.hour)]
            cell[0] += 1
            cell[1] += int(answered)
            run.attempts += 1
            target.attempts += 1
            if answered:
                run.connects += 1
                target.done = True
                continue
            if target.attempts >= MAX_ATTEMPTS:
                target.done = True
                continue
            planned = next_allowed_moment(
                callee=callees[target.zone], schedule=LEGAL_SCHEDULE, at=now + RETRY
            )
            if planned is None:
                target.done = True
                continue
            if retries and rates is not None:
                planned = best_time.best_moment(
                    rates,
                    callee=callees[target.zone],
                    schedule=LEGAL_SCHEDULE,
                    zone=zone,
                    earliest=planned,
                )
            target.due = planned
        now += TICK
    return run


MODES = {
    "plain": {"order": False, "retries": False, "learn": False, "history": False},
    "best_time (cold)": {"order": True, "retries": True, "learn": True, "history": False},
    "best_time (history)": {"order": True, "retries": True, "learn": True, "history": True},
    "order only (history)": {"order": True, "retries": False, "learn": True, "history": True},
    "retries only (history)": {"order": False, "retries": True, "learn": True, "history": True},
}


def evaluate(
    *, seeds: list[int], contacts: int, attempts: int, per_tick: int
) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {mode: [] for mode in MODES}
    for seed in seeds:
        # The organization's previous campaign: plain, other numbers, the same population.
        history = simulate(
            seed=seed + 10_000,
            contacts=contacts,
            attempts=attempts,
            per_tick=per_tick,
            order=False,
            retries=False,
            learn=False,
            prefix="646",
        )
        for mode, flags in MODES.items():
            results[mode].append(
                simulate(
                    seed=seed,
                    contacts=contacts,
                    attempts=attempts,
                    per_tick=per_tick,
                    order=flags["order"],
                    retries=flags["retries"],
                    learn=flags["learn"],
                    history=history if flags["history"] else None,
                )
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--contacts", type=int, default=600)
    parser.add_argument("--attempts", type=int, default=1200)
    parser.add_argument("--per-tick", type=int, default=12)
    args = parser.parse_args(argv)
    _setup_django()
    seeds = list(range(1, args.seeds + 1))
    results = evaluate(
        seeds=seeds, contacts=args.contacts, attempts=args.attempts, per_tick=args.per_tick
    )
    plain = results["plain"]
    print(
        f"{args.contacts} contacts, {args.attempts} attempts, {args.per_tick} calls per "
        f"15-min tick, seeds {seeds}"
    )
    print("mode | connect rate per seed | mean | attempts | vs plain")
    for mode, runs in results.items():
        rates = [run.rate for run in runs]
        ratio = statistics.mean(rates) / statistics.mean(r.rate for r in plain)
        print(
            f"{mode} | {' '.join(f'{rate:.3f}' for rate in rates)} | "
            f"{statistics.mean(rates):.3f} | {sorted({run.attempts for run in runs})} | "
            f"x{ratio:.2f}"
        )


if __name__ == "__main__":
    main()
