"""Script experiments (issue 19 part 1): services and selectors around `experiment_bandit`.

A campaign's experiment has two to four arms (a script version and a voice each). The dialler
asks `experiment_arm_chooser` which arm each claimed call gets (`dialling.dispatch`); the
session records it (`CallSession.experiment_arm`, beside its script version and voice).

Two reads of the same sessions:
- `experiment_refresh` (the dialler, at most every `REFRESH_SECONDS` per campaign, under the
  campaign's row lock; and before a promotion): recounts each arm's conversations, successes,
  opt-outs and early hang-ups with one aggregate query, stops arms that trip a guardrail and
  declares a winner, each with an `ExperimentEvent`;
- `experiment_results` (the API and the admin page): everything per arm, computed from the
  sessions alone (plus the arms' labels), with P(best) from a seeded Monte Carlo: the same
  sessions always give the same figures.

Definitions (per arm, over its finished sessions):
- conversation: the call was answered and not by a machine or a fax;
- success: a conversation whose outcome is the experiment's `success_outcome`;
- opt-out: a conversation whose outcome is `do_not_call`;
- early hang-up: a conversation the carrier timed under `EARLY_HANG_UP_SECONDS` of talk that
  the agent did not end (`end_reason` is not `agent_ended`): the caller was gone.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from anvil_voice.errors import ApplicationError, Conflict, InvalidState, NotFound
from anvil_voice.state_machine import transition
from campaigns.analytics import _objection_keys, percentile
from campaigns.experiment_bandit import (
    ArmCounts,
    GuardrailCheck,
    choose_arm,
    guardrail_checks,
    posteriors,
    winner_index,
)
from campaigns.models import (
    EXPERIMENT_STATES,
    Campaign,
    CampaignStatus,
    Experiment,
    ExperimentArm,
    ExperimentArmStatus,
    ExperimentEvent,
    ExperimentStatus,
)
from campaigns.services.lifecycle import Actor
from scripts.models import Script, ScriptVersion
from sessions.models import (
    TERMINAL_CALL_STATUSES,
    AnsweredBy,
    CallSession,
    Outcome,
    Speaker,
    TranscriptTurn,
)
from voices.models import Voice, VoiceStatus

logger = logging.getLogger("campaigns.experiments")

MIN_ARMS = 2
MAX_ARMS = 4
EARLY_HANG_UP_SECONDS = 10
# The dialler recounts an experiment's arms from its sessions at most this often: one
# aggregate query per campaign and interval, not per claim. Between recounts Thompson sampling
# draws from a posterior a few seconds old, which costs it nothing measurable (feedback of a
# call arrives minutes after its claim anyway).
REFRESH_SECONDS = 15
# Outcomes a campaign may optimise for (the ones a script can change).
SUCCESS_OUTCOMES = (
    Outcome.INTERESTED,
    Outcome.TRANSFERRED,
    Outcome.CALLBACK_REQUESTED,
    Outcome.COMPLETED,
)
# The campaign statuses in which an experiment may still be set up.
_SETUP_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)


# --- The counting rules, as query filters (one definition for both reads) -------------------

_FINISHED = Q(status__in=list(TERMINAL_CALL_STATUSES))
CONVERSATION = (
    _FINISHED
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
class _Tally:
    assigned: int = 0
    finished: int = 0
    conversations: int = 0
    successes: int = 0
    opt_outs: int = 0
    early_hang_ups: int = 0


def _tallies(experiment: Experiment) -> dict[int, _Tally]:
    rows = (
        experiment_sessions(experiment=experiment)
        .values("experiment_arm_id")
        .annotate(
            assigned=Count("id"),
            finished=Count("id", filter=_FINISHED),
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
        tallies[arm_id] = _Tally(
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


def _verdict(
    experiment: Experiment, arms: Sequence[ExperimentArm], tallies: Mapping[int, _Tally]
) -> Verdict:
    active = [arm for arm in arms if arm.status == ExperimentArmStatus.ACTIVE]
    counted = [tallies.get(arm.pk, _Tally()) for arm in active]
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
            assigned=tallies.get(arm.pk, _Tally()).assigned,
            conversations=tallies.get(arm.pk, _Tally()).conversations,
            successes=tallies.get(arm.pk, _Tally()).successes,
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


# --- Services ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmSpec:
    label: str
    script_id: int
    script_version: int | None  # None: the script's current version
    voice_id: int | None  # None: the campaign's voice


def _invalid(field_name: str, message: str) -> ApplicationError:
    return ApplicationError(
        "The experiment is not valid; see error.details.", details={field_name: [message]}
    )


def _resolve_arm(campaign: Campaign, spec: ArmSpec, index: int) -> tuple[ScriptVersion, Voice]:
    organization_id = campaign.organization_id
    script = Script.objects.filter(organization_id=organization_id, pk=spec.script_id).first()
    if script is None:
        raise _invalid(f"arms.{index}.scriptId", "No such script.")
    number = spec.script_version if spec.script_version is not None else script.version
    version = ScriptVersion.objects.filter(script=script, number=number).first()
    if version is None:
        raise _invalid(f"arms.{index}.scriptVersion", "The script has no such version.")
    voice_id = spec.voice_id if spec.voice_id is not None else campaign.voice_id
    voice = Voice.objects.filter(organization_id=organization_id, pk=voice_id).first()
    if voice is None:
        raise _invalid(f"arms.{index}.voiceId", "No such voice.")
    if voice.status != VoiceStatus.READY:
        raise _invalid(f"arms.{index}.voiceId", "The voice is not ready.")
    return version, voice


def experiment_create(
    *, campaign: Campaign, arms: Sequence[ArmSpec], settings: Mapping[str, Any], actor: Actor
) -> Experiment:
    """Set up the campaign's experiment (one per campaign, before or between its calls)."""
    if not MIN_ARMS <= len(arms) <= MAX_ARMS:
        raise _invalid("arms", f"An experiment has {MIN_ARMS} to {MAX_ARMS} arms.")
    labels = [spec.label for spec in arms]
    if len(set(labels)) != len(labels):
        raise _invalid("arms", "Each arm needs its own label.")
    resolved = [_resolve_arm(campaign, spec, index) for index, spec in enumerate(arms)]
    if len({(version.pk, voice.pk) for version, voice in resolved}) != len(resolved):
        raise _invalid("arms", "Two arms use the same script version and voice.")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        if locked.status not in _SETUP_STATUSES:
            raise InvalidState(
                f"A {locked.status} campaign cannot start an experiment.",
                details={"status": locked.status},
            )
        if Experiment.objects.filter(campaign=locked).exists():
            raise Conflict("The campaign already has an experiment.")
        experiment = Experiment(organization_id=locked.organization_id, campaign=locked, **settings)
        experiment.full_clean(exclude=["campaign", "organization", "winner"])
        experiment.save()
        ExperimentArm.objects.bulk_create(
            ExperimentArm(
                organization_id=locked.organization_id,
                experiment=experiment,
                position=position,
                label=spec.label,
                script_version=version,
                voice=voice,
            )
            for position, (spec, (version, voice)) in enumerate(zip(arms, resolved, strict=True))
        )
        _event(experiment, ExperimentEvent.Kind.CREATED, actor=actor, details={"arms": labels})
    return experiment


def _event(
    experiment: Experiment,
    kind: str,
    *,
    actor: Actor,
    arm: ExperimentArm | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    ExperimentEvent.objects.create(
        experiment=experiment,
        kind=kind,
        arm=arm,
        details=details or {},
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_system=actor.system,
        at=now or timezone.now(),
    )


_SYSTEM = Actor.named("experiment")


def experiment_refresh(*, experiment: Experiment, now: datetime) -> Experiment:
    """Recount the arms from the sessions, stop arms that trip a guardrail and declare a winner.
    The caller holds the campaign's row lock (the dialler's claim, `experiment_promote`), so
    two refreshes of one experiment never interleave."""
    arms = list(experiment.arms.all())
    tallies = _tallies(experiment)
    for arm in arms:
        tally = tallies.get(arm.pk, _Tally())
        arm.assigned, arm.conversations, arm.successes = (
            tally.assigned,
            tally.conversations,
            tally.successes,
        )
    ExperimentArm.objects.bulk_update(arms, ["assigned", "conversations", "successes"])
    if experiment.status == ExperimentStatus.PROMOTED:
        Experiment.objects.filter(pk=experiment.pk).update(refreshed_at=now)
        experiment.refreshed_at = now
        return experiment
    verdict = _verdict(experiment, arms, tallies)
    for arm in arms:
        reason = verdict.tripped.get(arm.pk)
        if reason is None:
            continue
        moved = ExperimentArm.objects.filter(pk=arm.pk, status=ExperimentArmStatus.ACTIVE).update(
            status=ExperimentArmStatus.STOPPED, stopped_reason=reason[:300], stopped_at=now
        )
        if moved:
            arm.status = ExperimentArmStatus.STOPPED
            _event(
                experiment,
                ExperimentEvent.Kind.ARM_STOPPED,
                actor=_SYSTEM,
                arm=arm,
                details={"reason": reason},
                now=now,
            )
            logger.info("experiment.arm_stopped experiment=%s arm=%s", experiment.pk, arm.pk)
    updates: dict[str, Any] = {"refreshed_at": now}
    if verdict.winner_id is not None and experiment.status == ExperimentStatus.RUNNING:
        declared = transition(
            Experiment.objects.filter(pk=experiment.pk),
            machine=EXPERIMENT_STATES,
            to=ExperimentStatus.WINNER_DECLARED,
            updates={"winner_id": verdict.winner_id, "declared_at": now},
        )
        if declared:
            winner = next(arm for arm in arms if arm.pk == verdict.winner_id)
            _event(
                experiment,
                ExperimentEvent.Kind.WINNER_DECLARED,
                actor=_SYSTEM,
                arm=winner,
                details={
                    "probabilityBest": round(verdict.posterior[winner.pk].probability_best, 4)
                },
                now=now,
            )
            logger.info("experiment.winner experiment=%s arm=%s", experiment.pk, winner.pk)
    Experiment.objects.filter(pk=experiment.pk).update(**updates)
    experiment.refresh_from_db()
    return experiment


def experiment_promote(
    *, campaign: Campaign, actor: Actor, now: datetime | None = None
) -> Experiment:
    """Send all of the campaign's traffic to its declared winner (recounting first, so a winner
    the sessions already show is declared now rather than at the dialler's next recount)."""
    moment = now or timezone.now()
    with transaction.atomic():
        Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        experiment = Experiment.objects.filter(campaign_id=campaign.pk).first()
        if experiment is None:
            raise NotFound("The campaign has no experiment.")
        if experiment.status == ExperimentStatus.PROMOTED:
            raise InvalidState("The winner is already promoted.", details={"status": "promoted"})
        experiment = experiment_refresh(experiment=experiment, now=moment)
        if experiment.status != ExperimentStatus.WINNER_DECLARED:
            raise InvalidState(
                "No arm has won yet: the experiment needs more conversations.",
                details={"status": experiment.status},
            )
        transition(
            Experiment.objects.filter(pk=experiment.pk),
            machine=EXPERIMENT_STATES,
            to=ExperimentStatus.PROMOTED,
            updates={"promoted_at": moment},
        )
        experiment.refresh_from_db()
        _event(
            experiment,
            ExperimentEvent.Kind.PROMOTED,
            actor=actor,
            arm=experiment.winner,
            now=moment,
        )
    return experiment


# --- The dialler's hook -----------------------------------------------------------------------


def experiment_arm_chooser(
    *, campaign: Campaign, now: datetime
) -> Callable[[], ExperimentArm] | None:
    """For a claim of `campaign` (whose row the caller has locked): None when it runs no
    experiment, else a function giving each claimed call's arm in turn. It bumps the arm's
    `assigned` counter with each call (in the claim's transaction), so the next claim's
    burn-in and seed see them before the next recount.

    The draws are seeded with the experiment's seed and the calls assigned so far: the same
    history gives the same choices (tests, and replays of a campaign)."""
    experiment = Experiment.objects.filter(campaign_id=campaign.pk).first()
    if experiment is None:
        return None
    if experiment.refreshed_at is None or now - experiment.refreshed_at >= timedelta(
        seconds=REFRESH_SECONDS
    ):
        experiment = experiment_refresh(experiment=experiment, now=now)
    arms = list(experiment.arms.all())
    if experiment.status == ExperimentStatus.PROMOTED and experiment.winner_id is not None:
        active = [arm for arm in arms if arm.pk == experiment.winner_id]
    else:
        active = [arm for arm in arms if arm.status == ExperimentArmStatus.ACTIVE]
    assigned_total = sum(arm.assigned for arm in arms)
    rng = random.Random(f"{experiment.seed}:{assigned_total}")  # noqa: S311 (reproducible on purpose)
    exploration = experiment.exploration_share
    minimum = experiment.min_conversations

    def choose() -> ExperimentArm:
        counts = [
            ArmCounts(
                assigned=arm.assigned, conversations=arm.conversations, successes=arm.successes
            )
            for arm in active
        ]
        arm = active[
            choose_arm(counts, exploration_share=exploration, min_conversations=minimum, rng=rng)
        ]
        arm.assigned += 1
        ExperimentArm.objects.filter(pk=arm.pk).update(assigned=F("assigned") + 1)
        return arm

    return choose


# --- Results (selectors) ----------------------------------------------------------------------

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
    tallies = _tallies(experiment)
    verdict = _verdict(experiment, arms, tallies)
    objections = _objection_hits(experiment)
    latencies = _reply_latencies(experiment)
    results = []
    for arm in arms:
        tally = tallies.get(arm.pk, _Tally())
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
