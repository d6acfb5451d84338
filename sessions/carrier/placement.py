"""Placing a session's call exactly once: the never-twice rule.

Creating a call at Twilio is not idempotent, and tasks are redelivered (acks_late, a worker
killed mid-way, two dispatchers). The database, not the queue, decides:

1. Claim: one conditional update moves a `queued` session with no `placed_at` and no call id
   to `initiated` with `placed_at=now`. It commits before the carrier is contacted, so every
   other worker sees it; whoever changes 0 rows does nothing.
2. Ask the dial gate (`sessions.carrier.dial_gate`, the campaigns app's rules) right before
   dialling: never dial a number added to the do-not-call list since the dialler's check, nor
   outside the calling window; then wait for the gate's calls-per-second slot.
3. Dial. On success store the call id (conditional: only if none is stored yet).
4. On errors, by kind:
   - RETRY (Twilio 20429, never processed) and BACK_PRESSURE (10004/22005): give the claim
     back (same conditional shape: only our claim, only without a call id) and raise
     `PlacementDeferred`; the task retries with exponential backoff, longer for back-pressure.
   - INVALID_NUMBER / PERMANENT: the session fails with the carrier's code.
   - UNKNOWN (timeout, 5xx, dropped connection: the call may exist): look the call up
     (`find_call`) before anything else. Found → store its id. Not found → the session stays
     claimed (`initiated`, no call id) and is looked up once more later
     (`session_reconcile(final=True)`); still not found then → failed. We never redial in the
     same session: a retry is a new attempt, decided by the campaign.
5. A worker killed between the create and storing the id leaves `placed_at` set and no call
   id: `session_reconcile_stuck` finds such sessions and reconciles them instead of redialling.
   Right before dialling, the claim is marked (the `placement_claimed` event, under the row
   lock): a claim the lookup cannot match and that was never marked never reached the
   carrier, so it is given back (`queued`) and placed again, without using up an attempt.
6. A session whose placement task never ran (a dispatcher killed between its commit and the
   enqueue, a broker restarted without persistence) stays `queued`: `session_requeue_unplaced`
   lists such sessions for a new task (step 1 makes a second task for one session a no-op).
7. A call whose final status callback was lost (our webhook down, the database restarting)
   never ends our session: `session_sync_stale_calls` looks calls that must have ended by now
   up at the carrier and applies their status.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from anvil_voice.state_machine import transition
from anvil_voice.telephony.carrier import (
    Carrier,
    CarrierCall,
    PlaceCallError,
    PlaceCallErrorKind,
    get_carrier,
)
from sessions.carrier.calls import held_by_other_sessions, outbound_call, recording_plan
from sessions.carrier.dial_gate import DO_NOT_CALL, DialGate, get_dial_gate
from sessions.carrier.recording import session_note_recording_plan
from sessions.carrier.status import session_apply_carrier_status, session_finish
from sessions.models import (
    CALL_STATUSES,
    TERMINAL_CALL_STATUSES,
    CallEvent,
    CallEventKind,
    CallSession,
    CallStatus,
    Outcome,
)

logger = logging.getLogger(__name__)

# Backoff for a deferred placement: seconds = base * 2**retries, capped, with jitter.
RETRY_BACKOFF = {
    PlaceCallErrorKind.RETRY: (1.0, 60.0),
    PlaceCallErrorKind.BACK_PRESSURE: (15.0, 600.0),
}
# After a lost create answer and a lookup that found nothing, look once more this much later
# (Twilio's list can lag behind a create that is still in flight).
RECONCILE_AGAIN_AFTER_SECONDS = 30
# Why a claim given back without dialling is released (not a carrier answer to back off from).
NOT_DIALLED = "not_dialled"


class PlacementOutcome(StrEnum):
    PLACED = "placed"
    RECONCILED = "reconciled"  # the create answer was lost; the lookup found the call
    UNCONFIRMED = "unconfirmed"  # the create answer was lost; look again later
    RELEASED = "released"  # claimed, never dialled (the worker died first): queued again
    NOT_CLAIMED = "not_claimed"  # already placed or being placed elsewhere: nothing done
    DO_NOT_CALL = "do_not_call"
    REFUSED = "refused"  # a pre-dial check (calling window, campaign paused/stopped) said no
    FAILED = "failed"


class PlacementDeferred(Exception):
    """Nothing was dialled and the claim was given back: try again after a backoff."""

    def __init__(self, kind: PlaceCallErrorKind, message: str, *, carrier_code: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.carrier_code = carrier_code


def retry_countdown(kind: PlaceCallErrorKind, retries: int) -> float:
    base, cap = RETRY_BACKOFF.get(kind, RETRY_BACKOFF[PlaceCallErrorKind.RETRY])
    # Jitter spreads the retries of many sessions deferred by the same burst; not security.
    return min(cap, base * 2**retries) * random.uniform(0.5, 1.0)  # noqa: S311


def _event(session_id: int, kind: str, **data: object) -> None:
    CallEvent.objects.create(session_id=session_id, kind=kind, data=data)


def session_place_call(
    *, session_id: int, carrier: Carrier | None = None, gate: DialGate | None = None
) -> PlacementOutcome:
    placed_at = timezone.now()
    # Step 1. Autocommit on purpose: the claim must be visible before we talk to the carrier.
    claimed = transition(
        CallSession.objects.filter(
            pk=session_id,
            status=CallStatus.QUEUED,
            placed_at__isnull=True,
            carrier_call_sid__isnull=True,
        ),
        machine=CALL_STATUSES,
        to=CallStatus.INITIATED,
        updates={"placed_at": placed_at},
    )
    if not claimed:
        logger.info("event=placement_not_claimed session=%s", session_id)
        return PlacementOutcome.NOT_CLAIMED
    session = CallSession.objects.select_related("campaign", "organization", "script_version").get(
        pk=session_id
    )

    gate = gate or get_dial_gate()
    decision = gate.check(session)
    if not decision.allowed and decision.reason == DO_NOT_CALL:
        session_finish(
            session_id=session_id,
            status=CallStatus.FAILED,
            outcome=Outcome.DO_NOT_CALL,
            end_reason="do_not_call",
            error_code="do_not_call",
            error_message="The number is on the organization's do-not-call list.",
            require_no_call=True,
        )
        logger.info("event=placement_do_not_call session=%s", session_id)
        return PlacementOutcome.DO_NOT_CALL
    if not decision.allowed:
        session_finish(
            session_id=session_id,
            status=CallStatus.CANCELED,
            end_reason=f"compliance:{decision.reason}",
            error_code="compliance",
            error_message=f"Not dialled: {decision.reason}.",
            require_no_call=True,
        )
        logger.info("event=placement_refused session=%s reason=%s", session_id, decision.reason)
        return PlacementOutcome.REFUSED
    gate.wait_for_slot(session)

    if not _mark_dialling(session_id, placed_at):
        logger.info("event=placement_claim_lost session=%s", session_id)
        return PlacementOutcome.NOT_CLAIMED
    # Recording consent: the evidence says how this call will record before it can ring.
    session_note_recording_plan(session_id=session_id, plan=recording_plan(session))
    carrier = carrier or get_carrier()
    try:
        call_sid = carrier.place_call(outbound_call(session))
    except PlaceCallError as error:
        return _after_error(session, carrier, error, placed_at)
    _bind_call(session_id, call_sid, how="created")
    return PlacementOutcome.PLACED


def _own_claim(session_id: int, placed_at: datetime | None) -> QuerySet[CallSession]:
    """The session while it is still this claim (initiated at `placed_at`, no call id yet)."""
    return CallSession.objects.filter(
        pk=session_id,
        status=CallStatus.INITIATED,
        placed_at=placed_at,
        carrier_call_sid__isnull=True,
    )


def _mark_dialling(session_id: int, placed_at: datetime) -> bool:
    """Record that this claim is about to dial (the `placement_claimed` event), if it still
    holds: a claim without the mark never reached the carrier, so the sweep may give it back
    (`_release_undialled_claim`). Both take the row lock, so they cannot cross."""
    with transaction.atomic():
        held = list(
            _own_claim(session_id, placed_at).select_for_update().values_list("pk", flat=True)
        )
        if held:
            _event(session_id, CallEventKind.PLACEMENT_CLAIMED, placed_at=placed_at.isoformat())
    return bool(held)


def _release_undialled_claim(session: CallSession) -> bool:
    """A claim whose worker died before dialling (no mark): queued again, not an attempt."""
    if session.placed_at is None:
        return False
    with transaction.atomic():
        held = list(
            _own_claim(session.pk, session.placed_at)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        marked = CallEvent.objects.filter(
            session_id=session.pk, kind=CallEventKind.PLACEMENT_CLAIMED, at__gte=session.placed_at
        ).exists()
        if not held or marked:
            return False
        transition(
            CallSession.objects.filter(pk=session.pk),
            machine=CALL_STATUSES,
            to=CallStatus.QUEUED,
            updates={"placed_at": None},
            audit=lambda _: _event(
                session.pk, CallEventKind.PLACEMENT_RELEASED, reason=NOT_DIALLED, code=""
            ),
        )
    logger.warning("event=placement_released_not_dialled session=%s", session.pk)
    return True


def _after_error(
    session: CallSession, carrier: Carrier, error: PlaceCallError, placed_at: datetime
) -> PlacementOutcome:
    kind = error.kind
    logger.warning(
        "event=placement_error session=%s kind=%s code=%s", session.pk, kind, error.carrier_code
    )
    if kind in (PlaceCallErrorKind.RETRY, PlaceCallErrorKind.BACK_PRESSURE):
        _release_claim(session.pk, placed_at, reason=str(kind), code=error.carrier_code)
        raise PlacementDeferred(kind, error.message, carrier_code=error.carrier_code) from error
    if kind == PlaceCallErrorKind.UNKNOWN:
        _event(
            session.pk,
            CallEventKind.PLACEMENT_UNKNOWN,
            code=error.carrier_code,
            message=error.message,
        )
        return session_reconcile(session_id=session.pk, final=False, carrier=carrier)
    session_finish(
        session_id=session.pk,
        status=CallStatus.FAILED,
        outcome=Outcome.FAILED,
        # The campaign marks the contact invalid on "invalid_number"; "permanent" is ours.
        end_reason=str(kind),
        error_code=error.carrier_code or str(kind),
        error_message=error.message,
        require_no_call=True,
    )
    return PlacementOutcome.FAILED


def _release_claim(session_id: int, placed_at: datetime, *, reason: str, code: str) -> None:
    # Only our own claim, and only while no call id exists: a released session can be claimed
    # again by the retry, and nothing that might have dialled is ever released.
    transition(
        _own_claim(session_id, placed_at),
        machine=CALL_STATUSES,
        to=CallStatus.QUEUED,
        updates={"placed_at": None},
        audit=lambda _: _event(
            session_id, CallEventKind.PLACEMENT_RELEASED, reason=reason, code=code
        ),
    )


def _bind_call(session_id: int, call_sid: str, *, how: str) -> bool:
    """Store the call id unless one is stored already (the stream's `start` may be first)."""
    try:
        with transaction.atomic():
            bound = CallSession.objects.filter(pk=session_id, carrier_call_sid__isnull=True).update(
                carrier_call_sid=call_sid
            )
    except IntegrityError:
        # Another session holds this call id: a reconciliation matched the wrong call.
        logger.error(
            "event=placement_call_held_elsewhere session=%s call_sid=%s", session_id, call_sid
        )
        _event(session_id, CallEventKind.CALL_CONFLICT, call_sid=call_sid, reason="held_elsewhere")
        return False
    if bound:
        _event(session_id, CallEventKind.CALL_CREATED, call_sid=call_sid, how=how)
        logger.info(
            "event=placement_bound session=%s call_sid=%s how=%s", session_id, call_sid, how
        )
        return True
    current = CallSession.objects.values_list("carrier_call_sid", flat=True).get(pk=session_id)
    if current != call_sid:
        # Two calls for one session would break the rule we exist for: shout.
        logger.error(
            "event=placement_second_call session=%s call_sid=%s held=%s",
            session_id,
            call_sid,
            current,
        )
        _event(session_id, CallEventKind.CALL_CONFLICT, call_sid=call_sid, held=current)
    return False


def session_reconcile(
    *, session_id: int, final: bool, carrier: Carrier | None = None
) -> PlacementOutcome:
    """Find the call a claimed session created when we never learnt its id."""
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None:
        return PlacementOutcome.NOT_CLAIMED
    if session.carrier_call_sid:
        return PlacementOutcome.RECONCILED
    if session.is_finished or session.placed_at is None:
        return PlacementOutcome.NOT_CLAIMED
    carrier = carrier or get_carrier()
    try:
        found: CarrierCall | None = carrier.find_call(
            outbound_call(session), held_elsewhere=held_by_other_sessions(session)
        )
    except PlaceCallError as error:
        # Cannot look now: leave the claim as it is; the sweep comes back to it.
        logger.warning(
            "event=reconcile_lookup_failed session=%s code=%s", session_id, error.carrier_code
        )
        return PlacementOutcome.UNCONFIRMED
    if found is not None:
        _bind_call(session_id, found.call_sid, how="reconciled")
        # Callbacks that arrived before we knew the id were dropped: catch up on the status.
        session_apply_carrier_status(
            session_id=session_id, status=found.status, raw_status=found.carrier_status
        )
        return PlacementOutcome.RECONCILED
    if _release_undialled_claim(session):
        return PlacementOutcome.RELEASED
    if not final:
        _event(session_id, CallEventKind.PLACEMENT_UNCONFIRMED)
        return PlacementOutcome.UNCONFIRMED
    finished = session_finish(
        session_id=session_id,
        status=CallStatus.FAILED,
        outcome=Outcome.FAILED,
        end_reason="placement_unconfirmed",
        error_code="placement_unconfirmed",
        error_message="The carrier never confirmed the call and has no record of it.",
        require_no_call=True,
    )
    return PlacementOutcome.FAILED if finished else PlacementOutcome.RECONCILED


def session_placement_give_up(*, session_id: int, error: PlacementDeferred) -> bool:
    """Retries exhausted: a session that was never dialled fails (the campaign decides next)."""
    return session_finish(
        session_id=session_id,
        status=CallStatus.FAILED,
        outcome=Outcome.FAILED,
        end_reason=str(error.kind),
        error_code=error.carrier_code or str(error.kind),
        error_message=str(error),
        require_no_call=True,
        # Only while nobody has claimed it again: a claimed session may be dialling right now.
        expected_status=CallStatus.QUEUED,
    )


def session_reconcile_stuck(
    *, older_than: timedelta, carrier: Carrier | None = None, limit: int = 100
) -> int:
    """Reconcile sessions claimed long ago that never got a call id (a worker died mid-way)."""
    cutoff = timezone.now() - older_than
    stuck = list(
        CallSession.objects.filter(placed_at__lt=cutoff, carrier_call_sid__isnull=True)
        .exclude(status__in=[*TERMINAL_CALL_STATUSES, CallStatus.QUEUED])
        .order_by("placed_at")
        .values_list("pk", flat=True)[:limit]
    )
    carrier = carrier or (get_carrier() if stuck else None)
    for session_id in stuck:
        session_reconcile(session_id=session_id, final=True, carrier=carrier)
    return len(stuck)


def session_requeue_unplaced(
    *, older_than: timedelta, limit: int = 500, now: datetime | None = None
) -> list[int]:
    """Queued sessions that nobody claimed for `older_than`: their placement task was lost.

    The caller enqueues a placement task for each. A session whose claim was given back
    (20429, back-pressure) waits for its own delayed retry, so it is left alone while such a
    retry may still be pending (the longest backoff).
    """
    moment = now or timezone.now()
    longest_backoff = max(cap for _, cap in RETRY_BACKOFF.values())
    released_recently = CallEvent.objects.filter(
        session=OuterRef("pk"),
        kind=CallEventKind.PLACEMENT_RELEASED,
        at__gte=moment - timedelta(seconds=longest_backoff),
    ).exclude(data__reason=NOT_DIALLED)
    lost = list(
        CallSession.objects.filter(
            status=CallStatus.QUEUED,
            placed_at__isnull=True,
            carrier_call_sid__isnull=True,
            queued_at__lt=moment - older_than,
        )
        .filter(~Exists(released_recently))
        .order_by("queued_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for session_id in lost:
        logger.warning("event=placement_requeued session=%s", session_id)
    return lost


def call_lifetime_bound() -> timedelta:
    """No call outlives this at the carrier: ringing gives up, then Twilio's time limit."""
    return timedelta(
        seconds=int(settings.TWILIO_CALL_TIMEOUT_SECONDS) + int(settings.TWILIO_TIME_LIMIT_SECONDS)
    )


def session_sync_stale_calls(
    *, older_than: timedelta, carrier: Carrier | None = None, limit: int = 100
) -> int:
    """Sessions with a call placed longer ago than `older_than` and still not finished.

    Their final callback was lost; the carrier's record of the call decides (forward only,
    like any lookup). Returns how many sessions changed.
    """
    cutoff = timezone.now() - older_than
    stale = list(
        CallSession.objects.filter(placed_at__lt=cutoff, carrier_call_sid__isnull=False)
        .exclude(status__in=TERMINAL_CALL_STATUSES)
        .order_by("placed_at")[:limit]
    )
    carrier = carrier or (get_carrier() if stale else None)
    changed = 0
    for session in stale:
        assert carrier is not None
        try:
            found = carrier.find_call(
                outbound_call(session), held_elsewhere=held_by_other_sessions(session)
            )
        except PlaceCallError as error:
            logger.warning(
                "event=sync_lookup_failed session=%s code=%s", session.pk, error.carrier_code
            )
            continue
        if found is None or found.call_sid != session.carrier_call_sid:
            continue
        if session_apply_carrier_status(
            session_id=session.pk, status=found.status, raw_status=found.carrier_status
        ):
            logger.info(
                "event=call_status_synced session=%s call_sid=%s status=%s",
                session.pk,
                found.call_sid,
                found.status,
            )
            changed += 1
    return changed
