"""Script experiments (issue 19 part 1): the services and the dialler's hook.

The arithmetic is `campaigns.experiment_bandit` (plain Python), the counting rules
`campaigns.experiment_counts`, the results (selectors) `campaigns.experiment_results`.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from anvil_voice.errors import ApplicationError, Conflict, InvalidState, NotFound
from anvil_voice.state_machine import transition
from campaigns.experiment_bandit import ArmCounts, choose_arm
from campaigns.experiment_counts import Tally, arm_tallies, arm_verdict
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
from sessions.models import Outcome
from voices.models import Voice, VoiceStatus

logger = logging.getLogger("campaigns.experiments")

MIN_ARMS = 2
MAX_ARMS = 4
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
    tallies = arm_tallies(experiment)
    for arm in arms:
        tally = tallies.get(arm.pk, Tally())
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
    verdict = arm_verdict(experiment, arms, tallies)
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
