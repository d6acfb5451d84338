"""Asking for a rehearsal and running it (the Celery task calls `rehearsal_run`)."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from anvil_voice.errors import ApplicationError
from anvil_voice.state_machine import transition
from campaigns.models import Campaign, CampaignStatus
from campaigns.rehearsal import population, report
from campaigns.rehearsal.models import REHEARSAL_STATES, MixSource, Rehearsal, RehearsalStatus
from campaigns.rehearsal.runner import CallRecord, RunResult, run
from campaigns.rehearsal.talk import LatencyModel
from campaigns.tasks import run_rehearsal
from scripts.engine import ScriptSpec
from scripts.models import ScriptVersion
from sessions.models import CallSession, SessionKind, Speaker, TranscriptTurn

logger = logging.getLogger("campaigns.rehearsal")

# Measured replies needed before they replace the model's latency constants.
LATENCY_HISTORY_MIN = 30
LATENCY_HISTORY_MAX = 2000


def rehearsal_create(
    *,
    campaign: Campaign,
    size: int,
    mix: object | None = None,
    user: Any = None,
    seed: int | None = None,
    now: datetime | None = None,
) -> Rehearsal:
    """Queue a rehearsal of `size` callees in `mix` (None: estimated from past sessions)."""
    moment = now or timezone.now()
    if not 1 <= size <= population.MAX_SIZE:
        raise ApplicationError(
            "size is out of range.",
            details={"size": [f"Between 1 and {population.MAX_SIZE}."]},
        )
    if campaign.status == CampaignStatus.STOPPED:
        raise ApplicationError(
            "A stopped campaign cannot be rehearsed.",
            details={"campaign": ["The campaign is stopped."]},
        )
    if mix is None:
        weights = population.estimate_mix(campaign=campaign, now=moment)
        if weights is None:
            raise ApplicationError(
                "No mix was given and there are too few past calls to estimate one.",
                details={
                    "mix": [
                        f"Give a mix: fewer than {population.HISTORY_MIN_SESSIONS} finished "
                        f"campaign calls in the last {population.HISTORY_DAYS} days."
                    ]
                },
            )
        source = MixSource.HISTORY
    else:
        weights = population.validate_mix(mix)
        source = MixSource.GIVEN
    start = max(moment, campaign.start_at) if campaign.start_at else moment
    rehearsal = Rehearsal.objects.create(
        organization_id=campaign.organization_id,
        campaign=campaign,
        created_by=user if getattr(user, "pk", None) else None,
        mix=weights,
        mix_source=source,
        size=size,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        simulated_start=start,
    )
    transaction.on_commit(lambda: _enqueue(rehearsal.pk))
    return rehearsal


def _enqueue(rehearsal_id: int) -> None:
    run_rehearsal.delay(rehearsal_id)


def _latency_model(organization_id: int) -> LatencyModel:
    """This organization's measured reply latencies (real calls only), when there are enough."""
    real = CallSession.objects.filter(organization_id=organization_id).order_by("-id")
    values = list(
        TranscriptTurn.objects.filter(
            session__in=real.values("id")[:LATENCY_HISTORY_MAX],
            speaker=Speaker.AGENT,
            latency__since="speech_end",
        )
        .filter(~Q(latency__first_frame_ms=None))
        .values_list("latency__first_frame_ms", flat=True)[:LATENCY_HISTORY_MAX]
    )
    samples = tuple(
        float(value)
        for value in values
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    )
    return LatencyModel(samples=samples if len(samples) >= LATENCY_HISTORY_MIN else ())


def rehearsal_run(*, rehearsal_id: int) -> bool:
    """Run a queued rehearsal to its report; False when it was not queued (run already)."""
    started = transition(
        Rehearsal.objects.filter(pk=rehearsal_id),
        machine=REHEARSAL_STATES,
        to=RehearsalStatus.RUNNING,
        updates={"started_at": timezone.now()},
    )
    if not started:
        return False
    rehearsal = Rehearsal.objects.select_related(
        "campaign__organization", "campaign__script", "campaign__caller_id"
    ).get(pk=rehearsal_id)
    try:
        report_data = _rehearse(rehearsal)
    except Exception as error:
        logger.exception("rehearsal.failed rehearsal=%s", rehearsal_id)
        transition(
            Rehearsal.objects.filter(pk=rehearsal_id),
            machine=REHEARSAL_STATES,
            to=RehearsalStatus.FAILED,
            updates={"finished_at": timezone.now(), "error_message": str(error)[:500]},
        )
        return True
    transition(
        Rehearsal.objects.filter(pk=rehearsal_id),
        machine=REHEARSAL_STATES,
        to=RehearsalStatus.COMPLETED,
        updates={"finished_at": timezone.now(), "report": report_data},
    )
    return True


def _rehearse(rehearsal: Rehearsal) -> dict[str, Any]:
    campaign = rehearsal.campaign
    version = ScriptVersion.objects.get(
        script_id=campaign.script_id, number=campaign.script.version
    )
    script = ScriptSpec.from_dict(version.snapshot)
    callees = population.draw(
        campaign=campaign, mix=rehearsal.mix, size=rehearsal.size, seed=rehearsal.seed
    )
    organization_name = campaign.organization.name

    def variables(callee: population.Callee) -> dict[str, object]:
        return {"business_name": organization_name, **callee.contact.template_variables()}

    latency = _latency_model(campaign.organization_id)
    result = run(
        campaign=campaign,
        script=script,
        callees=callees,
        start=rehearsal.simulated_start,
        latency=latency,
        seed=rehearsal.seed,
        variables=variables,
    )
    with transaction.atomic():
        session_ids = _save_sessions(rehearsal, result, version, variables)
    data = report.build(
        campaign=campaign, result=result, session_ids=session_ids, latency_source=latency.source
    )
    data["population"].update(mix=rehearsal.mix, mixSource=rehearsal.mix_source)
    return data


def _save_sessions(
    rehearsal: Rehearsal,
    result: RunResult,
    version: ScriptVersion,
    variables: Any,
) -> list[int]:
    campaign = rehearsal.campaign
    sessions = [
        _session(rehearsal, campaign, version, record, variables(record.callee))
        for record in result.calls
    ]
    created = CallSession.rehearsal_objects.bulk_create(sessions, batch_size=500)
    turns: list[TranscriptTurn] = []
    for session, record in zip(created, result.calls, strict=True):
        if record.talk is None:
            continue
        for index, utterance in enumerate(record.talk.utterances):
            latency: dict[str, Any] = {}
            if utterance.latency_ms is not None:
                latency = {"since": "speech_end", "first_frame_ms": round(utterance.latency_ms)}
            turns.append(
                TranscriptTurn(
                    session=session,
                    index=index,
                    speaker=Speaker.AGENT if utterance.speaker == "agent" else Speaker.CONTACT,
                    text=utterance.text,
                    start_ms=round(utterance.start_ms),
                    end_ms=round(utterance.end_ms),
                    interrupted=utterance.interrupted,
                    latency=latency,
                )
            )
    TranscriptTurn.objects.bulk_create(turns, batch_size=1000)
    return [session.pk for session in created]


def _session(
    rehearsal: Rehearsal,
    campaign: Campaign,
    version: ScriptVersion,
    record: CallRecord,
    variables: dict[str, object],
) -> CallSession:
    talk = record.talk
    answered_at = (
        record.placed_at + timedelta(milliseconds=record.ring_ms) if record.answered_by else None
    )
    extracted: dict[str, Any] = {
        "rehearsal": {
            "persona": record.callee.persona.key,
            "findings": [finding.as_dict() for finding in talk.findings] if talk else [],
            "voicemailMessage": record.voicemail_message,
        }
    }
    if record.callback_at is not None:
        extracted["callback_at"] = record.callback_at.isoformat()
    return CallSession(
        organization_id=campaign.organization_id,
        kind=SessionKind.CAMPAIGN,
        campaign=campaign,
        rehearsal=rehearsal,
        attempt_number=record.attempt,
        script_version=version,
        voice_id=campaign.voice_id,
        to_number=record.callee.contact.phone_number,
        from_number=campaign.caller_id.phone_number,
        variables={key: str(value) for key, value in variables.items()},
        carrier="rehearsal",
        status=record.status,
        answered_by=record.answered_by,
        queued_at=record.placed_at,
        placed_at=record.placed_at,
        ringing_at=record.placed_at,
        answered_at=answered_at,
        ended_at=record.ended_at,
        duration_seconds=round(
            (record.ended_at - (answered_at or record.ended_at)).total_seconds()
        ),
        end_reason=record.end_reason,
        outcome=record.outcome,
        summary=report.call_summary(record),
        extracted=extracted,
        # Nothing applies a rehearsal call to a contact or a counter.
        outcome_applied_at=timezone.now(),
    )
