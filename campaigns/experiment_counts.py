"""What a script experiment counts in its sessions, and what its rules say of the counts.

Shared by the writes (`campaigns.experiments`: the dialler's recounts, promotion) and the reads
(`campaigns.experiment_results`), so both apply one definition of each term (module docstring
of `campaigns.experiments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from campaigns.experiment_bandit import (
    ArmCounts,
    GuardrailCheck,
    guardrail_checks,
    posteriors,
    winner_index,
)
from campaigns.models import Experiment, ExperimentArm, ExperimentArmStatus
from sessions.models import TERMINAL_CALL_STATUSES, AnsweredBy, CallSession, Outcome

EARLY_HANG_UP_SECONDS = 10

# --- The counting rules, as query filters (one definition for both reads) -------------------

FINISHED = Q(status__in=list(TERMINAL_CALL_STATUSES))
CONVERSATION = (
    FINISHED
    & Q(answered_at__isnull=False)
    & ~Q(answered_by__in=[AnsweredBy.MACHINE, AnsweredBy.FAX])
)
OPT_OUT = CONVERSATION & Q(outcome=Outcome.DO_NOT_CALL)
EARLY_HANG_UP = (
    CONVERSATION
    & Q(duration_seconds__lt=EARLY_HANG_UP_SECONDS)
    & ~Q(end_reason="agent_ended")
    & ~Q(outcome=Outcome.DO_NOT_CALL)  # an opt-out is counted by its own guardrail
)


def _success(outcome: str) -> Q:
    return CONVERSATION & Q(outcome=outcome)


def experiment_sessions(*, experiment: Experiment) -> QuerySet[CallSession]:
    """The sessions the experiment counts: its campaign's calls that recorded an arm of it."""
    return CallSession.objects.filter(
        organization_id=experiment.organization_id,
        campaign_id=experiment.campaign_id,
        experiment_arm__experiment_id=experiment.pk,
    )


@dataclass(frozen=True)
class Tally:
    assigned: int = 0
    finished: int = 0
    conversations: int = 0
    successes: int = 0
    opt_outs: int = 0
    early_hang_ups: int = 0


def arm_tallies(experiment: Experiment) -> dict[int, Tally]:
    rows = (
        experiment_sessions(experiment=experiment)
        .values("experiment_arm_id")
        .annotate(
            assigned=Count("id"),
            finished=Count("id", filter=FINISHED),
            conversations=Count("id", filter=CONVERSATION),
            successes=Count("id", filter=_success(experiment.success_outcome)),
            opt_outs=Count("id", filter=OPT_OUT),
            early_hang_ups=Count("id", filter=EARLY_HANG_UP),
        )
        .order_by()
    )
    tallies = {}
    for row in rows:
        arm_id = row["experiment_arm_id"]
        tallies[arm_id] = Tally(
            assigned=row["assigned"],
            finished=row["finished"],
            conversations=row["conversations"],
            successes=row["successes"],
            opt_outs=row["opt_outs"],
            early_hang_ups=row["early_hang_ups"],
        )
    return tallies


# --- The rules applied to tallies -------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the rules say of the arms' current tallies: guardrail checks per active arm, the
    posterior of each active arm, and the winner (an arm id) if there is one."""

    opt_out: dict[int, GuardrailCheck]
    early_hang_up: dict[int, GuardrailCheck]
    tripped: dict[int, str]  # active arm id → the reason it should stop
    posterior: dict[int, Any]
    winner_id: int | None


def arm_verdict(
    experiment: Experiment, arms: Sequence[ExperimentArm], tallies: Mapping[int, Tally]
) -> Verdict:
    active = [arm for arm in arms if arm.status == ExperimentArmStatus.ACTIVE]
    counted = [tallies.get(arm.pk, Tally()) for arm in active]
    conversations = [tally.conversations for tally in counted]
    opt_out = guardrail_checks(
        [tally.opt_outs for tally in counted],
        conversations,
        margin=experiment.opt_out_margin,
        min_conversations=experiment.min_conversations,
    )
    early = guardrail_checks(
        [tally.early_hang_ups for tally in counted],
        conversations,
        margin=experiment.early_hang_up_margin,
        min_conversations=experiment.min_conversations,
    )
    tripped: dict[int, str] = {}
    for arm, opt_check, early_check in zip(active, opt_out, early, strict=True):
        reasons = []
        if opt_check.tripped:
            reasons.append(
                f"opt-out rate {opt_check.rate:.1%} against {opt_check.others_rate:.1%} on the "
                f"other arms (margin {experiment.opt_out_margin:.0%})"
            )
        if early_check.tripped:
            reasons.append(
                f"early hang-up rate {early_check.rate:.1%} against "
                f"{early_check.others_rate:.1%} on the other arms "
                f"(margin {experiment.early_hang_up_margin:.0%})"
            )
        if reasons:
            tripped[arm.pk] = "; ".join(reasons)
    # At least one arm keeps running: when every active arm trips, the least bad one stays.
    if tripped and len(tripped) == len(active):
        keep = min(
            active,
            key=lambda arm: (
                opt_out[active.index(arm)].rate + early[active.index(arm)].rate,
                arm.position,
            ),
        )
        tripped.pop(keep.pk)
    survivors = [arm for arm in active if arm.pk not in tripped]
    survivor_counts = [
        ArmCounts(
            assigned=tallies.get(arm.pk, Tally()).assigned,
            conversations=tallies.get(arm.pk, Tally()).conversations,
            successes=tallies.get(arm.pk, Tally()).successes,
        )
        for arm in survivors
    ]
    posterior = dict(
        zip(
            [arm.pk for arm in survivors],
            posteriors(survivor_counts, seed=experiment.seed),
            strict=True,
        )
    )
    index = winner_index(
        survivor_counts,
        [posterior[arm.pk].probability_best for arm in survivors],
        threshold=experiment.winner_threshold,
        min_conversations=experiment.min_conversations,
        leader_min_conversations=experiment.winner_min_conversations,
    )
    return Verdict(
        opt_out={arm.pk: check for arm, check in zip(active, opt_out, strict=True)},
        early_hang_up={arm.pk: check for arm, check in zip(active, early, strict=True)},
        tripped=tripped,
        posterior=posterior,
        winner_id=survivors[index].pk if index is not None else None,
    )
