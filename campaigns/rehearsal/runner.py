"""The rehearsal's dialler loop: the campaign's rules on a simulated clock, in one process.

The same decisions as the real dialler, from the same functions, on synthetic callees:

* the gate (`compliance.evaluate`: the campaign's days and hours narrowed by the legal window
  in every zone of the number, the attempt cap, the campaign's end);
* pacing: at most `max_concurrent_calls` calls at once (and no more than the deployment's
  live-call capacity) and `calls_per_second` (the organization's cap too) a second;
* what a finished call means for its contact (`outcomes.decide`: completed, do-not-call, a
  retry after the campaign's delay moved into the window, exhausted, a callback);
* voicemail: the campaign's behaviour (hang up at the machine, or wait for the beep and leave
  the script's message).

The carrier is `RehearsalCarrier`, built here and nowhere configurable: it answers from the
simulator's persona table and cannot reach a network. The clock is a variable: it jumps from
one event (a call ending, a retry or a window opening) to the next, so a campaign that would
take two weeks of calling windows is rehearsed in well under a second of its own.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import cast

from django.conf import settings

from anvil_voice.telephony.carrier import OutboundCall
from anvil_voice.telephony.simulator.personas import (
    ANSWER,
    BUSY,
    FAILED,
    MACHINE,
    NO_ANSWER,
    SILENT,
    VOICEMAIL_GREETING,
    Persona,
    persona_for,
)
from campaigns import compliance
from campaigns.dialling import capacity
from campaigns.dialling.outcomes import decide
from campaigns.models import (
    Campaign,
    CampaignContact,
    CampaignContactState,
    VoicemailBehaviour,
)
from campaigns.rehearsal.population import Callee
from campaigns.rehearsal.talk import LatencyModel, Talk, final_outcome, talk
from scripts.engine import ScriptSpec
from sessions.models import AnsweredBy, CallSession, CallStatus, Outcome

# The simulated campaign gives up after this long (a campaign that cannot finish: no window).
MAX_SIMULATED_DAYS = 120
AMD_MACHINE_MS = 1500.0  # AMD's machine_start verdict after the answer (PERSONAS.md)


class RehearsalCarrier:
    """The rehearsal's only carrier: the simulator's personas, decided in process.

    It has the `Carrier` protocol's placing side and no network code at all; the runner makes
    it itself, so no setting (CARRIER, TWILIO_API_BASE_URL, credentials) can swap it for a
    real one. Its call ids start with "RH" (a Twilio id starts with "CA")."""

    name = "rehearsal"

    def __init__(self) -> None:
        self.placed = 0

    def place_call(self, call: OutboundCall) -> str:
        self.placed += 1
        return f"RH{call.reference:032d}"

    def answer(self, number: str) -> Persona:
        return persona_for(number)


@dataclass
class _Contact:
    callee: Callee
    target: CampaignContact  # unsaved: what `decide` reads
    state: str = CampaignContactState.PENDING
    next_at: datetime | None = None
    last_outcome: str = ""
    callback_requested: bool = False
    reached: bool = False  # a human answered at least once


@dataclass
class CallRecord:
    """One simulated call: what becomes a rehearsal `CallSession` and its transcript."""

    callee: Callee
    attempt: int
    placed_at: datetime
    ended_at: datetime
    status: str
    answered_by: str
    outcome: str
    end_reason: str
    ring_ms: float
    talk: Talk | None = None
    voicemail_message: str = ""
    callback_at: datetime | None = None


@dataclass
class RunResult:
    calls: list[CallRecord] = field(default_factory=list)
    contacts: list[_Contact] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    timed_out: bool = False
    carrier_calls: int = 0


def _session_for(record: CallRecord, campaign: Campaign) -> CallSession:
    """What `outcomes.decide` reads of a session, without a model instance (building one costs
    more than the rest of a rehearsed call)."""
    return cast(
        CallSession,
        SimpleNamespace(
            status=record.status,
            answered_by=record.answered_by,
            outcome=record.outcome,
            end_reason=record.end_reason,
            carrier_call_sid="RH",
            placed_at=record.placed_at,
            extracted=(
                {"callback_at": record.callback_at.isoformat()} if record.callback_at else {}
            ),
        ),
    )


def run(
    *,
    campaign: Campaign,
    script: ScriptSpec,
    callees: list[Callee],
    start: datetime,
    latency: LatencyModel,
    seed: int,
    variables: Callable[[Callee], dict[str, object]],
) -> RunResult:
    rng = random.Random(seed)  # noqa: S311 - a reproducible run, not a secret
    carrier = RehearsalCarrier()
    schedule = compliance.Schedule.of(campaign)
    concurrency = max(1, min(campaign.max_concurrent_calls, capacity.deployment_capacity()))
    cps = float(campaign.calls_per_second)
    cap = campaign.organization.max_calls_per_second
    if cap is not None:
        cps = min(cps, float(cap))
    cps = max(cps, 0.01)
    contacts = [
        _Contact(callee, CampaignContact(contact=callee.contact, attempts=0), next_at=start)
        for callee in callees
    ]
    result = RunResult(contacts=contacts, start=start)
    clock = start
    limit = start + timedelta(days=MAX_SIMULATED_DAYS)
    active: list[tuple[datetime, int, CallRecord, _Contact]] = []  # ending time heap
    serial = 0
    tokens = 1.0
    token_at = start
    # Pending contacts by due time; an entry whose contact moved on since is skipped.
    queue: list[tuple[datetime, int, _Contact]] = [
        (start, item.callee.index, item) for item in contacts
    ]
    heapq.heapify(queue)

    def enqueue(item: _Contact) -> None:
        if item.state == CampaignContactState.PENDING and item.next_at is not None:
            heapq.heappush(queue, (item.next_at, item.callee.index, item))

    def current(entry: tuple[datetime, int, _Contact]) -> bool:
        at, _index, item = entry
        return item.state == CampaignContactState.PENDING and item.next_at == at

    while True:
        # Finish calls that have ended by now.
        while active and active[0][0] <= clock:
            ended_at, _n, record, item = heapq.heappop(active)
            _apply(item, record, campaign, ended_at)
            enqueue(item)
        # Refill the pacing bucket.
        tokens = min(max(1.0, cps), tokens + (clock - token_at).total_seconds() * cps)
        token_at = clock
        while queue and len(active) < concurrency and tokens >= 1.0:
            if not current(queue[0]):
                heapq.heappop(queue)
                continue
            if queue[0][0] > clock:
                break
            _at, _index, item = heapq.heappop(queue)
            decision = compliance.evaluate(
                contact=item.callee.contact,
                schedule=schedule,
                now=clock,
                on_do_not_call_list=False,
                counted_attempts=item.target.counted_attempts,
                max_attempts=campaign.max_attempts,
                callback_requested=item.callback_requested,
            )
            if decision.allowed:
                tokens -= 1.0
                item.state = CampaignContactState.IN_PROGRESS
                item.target.attempts += 1
                serial += 1
                carrier.place_call(
                    OutboundCall(
                        reference=serial,
                        token="",
                        to_number=item.callee.contact.phone_number,
                        from_number="",
                    )
                )
                record = _call(
                    item,
                    campaign=campaign,
                    script=script,
                    carrier=carrier,
                    at=clock,
                    latency=latency,
                    rng=rng,
                    variables=variables(item.callee),
                )
                result.calls.append(record)
                heapq.heappush(active, (record.ended_at, serial, record, item))
            elif decision.reason == compliance.GateReason.ATTEMPTS_EXHAUSTED:
                item.state = CampaignContactState.EXHAUSTED
            elif decision.reason == compliance.GateReason.OUTSIDE_CALLING_WINDOW:
                item.next_at = decision.next_allowed_at
                enqueue(item)
            elif decision.reason == compliance.GateReason.NO_CALLING_WINDOW:
                item.state = CampaignContactState.FAILED
                item.last_outcome = "no_calling_window"
            else:  # the campaign's end: nothing more is called
                item.next_at = None
        while queue and not current(queue[0]):
            heapq.heappop(queue)
        # The next moment anything can happen: a call ends, a contact falls due, a token.
        moments: list[datetime] = []
        if active:
            moments.append(active[0][0])
        if queue:
            soonest = queue[0][0]
            if soonest > clock:
                moments.append(soonest)
            elif len(active) < concurrency:
                # Due now but out of tokens: the bucket's next token.
                moments.append(clock + timedelta(seconds=max(0.001, (1.0 - tokens) / cps)))
        if not moments:
            break
        clock = max(clock, min(moments))
        if clock > limit:
            result.timed_out = True
            break
    result.end = max([start, *(record.ended_at for record in result.calls)])
    result.carrier_calls = carrier.placed
    return result


def _apply(item: _Contact, record: CallRecord, campaign: Campaign, now: datetime) -> None:
    session = _session_for(record, campaign)
    item.target.last_outcome = item.last_outcome
    verdict = decide(session=session, target=item.target, campaign=campaign, now=now)
    if not verdict.counted:
        item.target.skipped_attempts += 1
    item.state = verdict.state
    item.last_outcome = verdict.outcome
    item.next_at = verdict.next_attempt_at
    if record.answered_by == AnsweredBy.HUMAN:
        item.reached = True
    if verdict.outcome == Outcome.CALLBACK_REQUESTED:
        item.callback_requested = True
    if item.state == CampaignContactState.PENDING and item.next_at is None:
        item.next_at = now


def _call(
    item: _Contact,
    *,
    campaign: Campaign,
    script: ScriptSpec,
    carrier: RehearsalCarrier,
    at: datetime,
    latency: LatencyModel,
    rng: random.Random,
    variables: dict[str, object],
) -> CallRecord:
    persona = carrier.answer(item.callee.contact.phone_number)
    ring_timeout_ms = float(settings.TWILIO_CALL_TIMEOUT_SECONDS) * 1000
    ring_ms = persona.ring_seconds * 1000

    def record(status: str, answered_by: str, outcome: str, reason: str, ms: float) -> CallRecord:
        return CallRecord(
            callee=item.callee,
            attempt=item.target.attempts,
            placed_at=at,
            ended_at=at + timedelta(milliseconds=ms),
            status=status,
            answered_by=answered_by,
            outcome=outcome,
            end_reason=reason,
            ring_ms=min(ring_ms, ms),
        )

    if persona.outcome == NO_ANSWER or (persona.outcome == ANSWER and ring_ms > ring_timeout_ms):
        return record(CallStatus.NO_ANSWER, "", Outcome.NO_ANSWER, "no-answer", ring_timeout_ms)
    if persona.outcome == BUSY:
        return record(CallStatus.BUSY, "", Outcome.BUSY, "busy", ring_ms)
    if persona.outcome == FAILED:
        return record(CallStatus.FAILED, "", Outcome.FAILED, "failed", ring_ms)
    if persona.answerer == MACHINE:
        message = ""
        if campaign.voicemail_behaviour == VoicemailBehaviour.LEAVE_MESSAGE:
            message = script.voicemail_text(variables) or ""
        if message:
            # Wait for the beep (DetectMessageEnd), then play the message.
            greeting = len(VOICEMAIL_GREETING) * 65.0 + 800
            talk_ms = greeting + max(300.0, len(message) * 65.0)
            reason = "voicemail_message_left"
        else:
            talk_ms = AMD_MACHINE_MS
            reason = "machine_hang_up"
        done = record(
            CallStatus.COMPLETED, AnsweredBy.MACHINE, Outcome.VOICEMAIL, reason, ring_ms + talk_ms
        )
        done.voicemail_message = message
        return done
    conversation = talk(
        persona=persona,
        script=script,
        variables=variables,
        time_zone=item.callee.contact.time_zone,
        now=lambda: at + timedelta(milliseconds=ring_ms),
        latency=latency,
        rng=rng,
    )
    answered_by = AnsweredBy.UNKNOWN if persona.answerer == SILENT else AnsweredBy.HUMAN
    reason = {"agent": "agent_hung_up", "contact": "contact_hung_up"}.get(
        conversation.hung_up_by, "max_duration"
    )
    done = record(
        CallStatus.COMPLETED,
        answered_by,
        final_outcome(conversation),
        reason,
        ring_ms + conversation.duration_ms,
    )
    done.ring_ms = ring_ms
    done.talk = conversation
    done.callback_at = conversation.callback_at
    return done


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
