"""The results of a campaign's script experiment (selectors), computed from its sessions alone:
per arm, calls, success rate with its credible interval, P(best), opt-outs and early hang-ups,
objection hit rates and reply latency. Read by the API and the admin page."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Q

from anvil_voice.errors import NotFound
from campaigns.analytics import _objection_keys, percentile
from campaigns.experiment_counts import (
    CONVERSATION,
    Tally,
    arm_tallies,
    arm_verdict,
    experiment_sessions,
)
from campaigns.models import Campaign, Experiment, ExperimentArm
from sessions.models import Speaker, TranscriptTurn

# Replies read for the latency figures, per experiment (newest first).
MAX_REPLIES = 100_000
# Sessions read for the objection figures (newest first).
MAX_OBJECTION_SESSIONS = 50_000


@dataclass(frozen=True)
class RateFigure:
    count: int
    total: int

    @property
    def rate(self) -> float:
        return self.count / self.total if self.total else 0.0


@dataclass
class ArmResult:
    arm: ExperimentArm
    calls: int  # sessions assigned to the arm
    finished: int
    conversations: int
    successes: int
    success_rate: float  # successes / conversations (0 without any)
    credible_low: float | None  # 95% credible interval of the rate (None: a stopped arm)
    credible_high: float | None
    probability_best: float | None  # among the active arms
    opt_out: RateFigure
    early_hang_up: RateFigure
    objections: dict[str, RateFigure] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_count: int = 0


@dataclass
class ExperimentResults:
    experiment: Experiment
    arms: list[ArmResult]
    # Guardrail breaches the current sessions show that the dialler has not acted on yet.
    pending_stops: dict[int, str]
    leader_id: int | None  # the arm with the largest P(best) among the active arms
    winner_ready: bool  # the winner rule holds on the current sessions


def experiment_results(*, experiment: Experiment) -> ExperimentResults:
    """Per arm: calls, success rate with its credible interval, P(best), opt-outs and early
    hang-ups, objection hit rates (per conversation) and reply latency p50 / p95, all from the
    experiment's sessions."""
    arms = list(experiment.arms.select_related("script_version__script", "voice"))
    tallies = arm_tallies(experiment)
    verdict = arm_verdict(experiment, arms, tallies)
    objections = _objection_hits(experiment)
    latencies = _reply_latencies(experiment)
    results = []
    for arm in arms:
        tally = tallies.get(arm.pk, Tally())
        # None for a stopped arm, or one the guardrails are about to stop: P(best) is among
        # the arms that go on.
        posterior = verdict.posterior.get(arm.pk)
        values = sorted(latencies.get(arm.pk, []))
        results.append(
            ArmResult(
                arm=arm,
                calls=tally.assigned,
                finished=tally.finished,
                conversations=tally.conversations,
                successes=tally.successes,
                success_rate=tally.successes / tally.conversations if tally.conversations else 0.0,
                credible_low=posterior.low if posterior else None,
                credible_high=posterior.high if posterior else None,
                probability_best=posterior.probability_best if posterior else None,
                opt_out=RateFigure(tally.opt_outs, tally.conversations),
                early_hang_up=RateFigure(tally.early_hang_ups, tally.conversations),
                objections={
                    trigger: RateFigure(count, tally.conversations)
                    for trigger, count in objections.get(arm.pk, Counter()).most_common()
                },
                latency_p50_ms=percentile(values, 50),
                latency_p95_ms=percentile(values, 95),
                latency_count=len(values),
            )
        )
    leader_id = None
    if verdict.posterior:
        leader_id = max(verdict.posterior, key=lambda pk: verdict.posterior[pk].probability_best)
    return ExperimentResults(
        experiment=experiment,
        arms=results,
        pending_stops=verdict.tripped,
        leader_id=leader_id,
        winner_ready=verdict.winner_id is not None,
    )


def _objection_hits(experiment: Experiment) -> dict[int, Counter[str]]:
    rows = (
        experiment_sessions(experiment=experiment)
        .filter(CONVERSATION, extracted__has_key="objections")
        .order_by("-id")
        .values_list("experiment_arm_id", "extracted__objections")[:MAX_OBJECTION_SESSIONS]
    )
    hits: dict[int, Counter[str]] = defaultdict(Counter)
    for arm_id, entries in rows.iterator(chunk_size=2_000):
        for key in _objection_keys(entries):
            hits[arm_id][key] += 1
    return hits


def _reply_latencies(experiment: Experiment) -> dict[int, list[float]]:
    rows = (
        TranscriptTurn.objects.filter(
            session__in=experiment_sessions(experiment=experiment).values("id"),
            speaker=Speaker.AGENT,
            latency__since="speech_end",
        )
        .filter(~Q(latency__first_frame_ms=None))
        .order_by("-id")
        .values_list("session__experiment_arm_id", "latency__first_frame_ms")[:MAX_REPLIES]
    )
    values: dict[int, list[float]] = defaultdict(list)
    for arm_id, value in rows.iterator(chunk_size=2_000):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        values[arm_id].append(float(value))
    return values


def campaign_experiment(*, campaign: Campaign) -> Experiment:
    experiment = (
        Experiment.objects.filter(campaign_id=campaign.pk, organization_id=campaign.organization_id)
        .select_related("winner")
        .first()
    )
    if experiment is None:
        raise NotFound("The campaign has no experiment.")
    return experiment
