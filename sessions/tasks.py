"""Celery entry points for call sessions: thin, idempotent wrappers around one service each.

Each task imports its service inside its body and services import these tasks at module level
(the Styleguide's way round): a service queues a task after commit, and no import cycle.

Every task may run twice (acks_late, redelivery after a lost worker); the services make the
second run a no-op: the database, not the queue, decides whether anything happens.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from celery import Task, shared_task
from django.conf import settings

# Deferred placements (20429, back-pressure) are retried this often before the session fails.
PLACEMENT_MAX_RETRIES = 8


@shared_task(bind=True, acks_late=True, max_retries=PLACEMENT_MAX_RETRIES)
def session_place_call_task(self: Task, session_id: int) -> str:
    """Place the session's call (enqueued by the dialler with `transaction.on_commit`)."""
    from sessions.carrier import placement

    try:
        outcome = placement.session_place_call(session_id=session_id)
    except placement.PlacementDeferred as deferred:
        retries = int(self.request.retries or 0)
        if retries >= PLACEMENT_MAX_RETRIES:
            placement.session_placement_give_up(session_id=session_id, error=deferred)
            return placement.PlacementOutcome.FAILED
        countdown = placement.retry_countdown(deferred.kind, retries)
        raise self.retry(exc=deferred, countdown=countdown) from deferred
    if outcome == placement.PlacementOutcome.UNCONFIRMED:
        session_reconcile_task.apply_async(
            (session_id,), countdown=placement.RECONCILE_AGAIN_AFTER_SECONDS
        )
    return str(outcome)


@shared_task(acks_late=True)
def session_reconcile_task(session_id: int) -> str:
    """The second (final) lookup of a call whose create answer was lost."""
    from sessions.carrier import placement

    return str(placement.session_reconcile(session_id=session_id, final=True))


@shared_task(acks_late=True)
def session_reconcile_stuck_task(
    older_than_seconds: float | None = None, calls_older_than_seconds: float | None = None
) -> int:
    """Periodic sweep (beat) for what a dead worker, a lost task or a lost callback left:
    sessions claimed long ago without a call id (looked up), queued sessions nobody claimed
    (a new placement task), calls that must have ended by now (their status looked up).

    The ages default to the settings; tests and operators may pass shorter ones.
    """
    from sessions.carrier import placement

    if older_than_seconds is None:
        older_than_seconds = float(settings.CALL_PLACEMENT_STUCK_SECONDS)
    older_than = timedelta(seconds=older_than_seconds)
    calls_older_than = (
        timedelta(seconds=calls_older_than_seconds)
        if calls_older_than_seconds is not None
        else placement.call_lifetime_bound() + older_than
    )
    handled = placement.session_reconcile_stuck(older_than=older_than)
    for session_id in placement.session_requeue_unplaced(older_than=older_than):
        session_place_call_task.delay(session_id)
        handled += 1
    return handled + placement.session_sync_stale_calls(older_than=calls_older_than)


@shared_task(acks_late=True)
def session_hang_up_task(session_id: int) -> bool:
    from sessions.carrier import status

    return status.session_hang_up(session_id=session_id)


class RecordingNotReadyError(Exception):
    """Raised by the task when the service says the conversation is still closing."""


@shared_task(
    acks_late=True,
    autoretry_for=(httpx.HTTPError, RecordingNotReadyError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
)
def session_store_recording_task(session_id: int, url: str) -> bool:
    """Retried while the conversation closes when the recording must be muted (a dead
    consumer's conversation is closed by the sweeper within minutes)."""
    from sessions.carrier import status

    try:
        return status.session_store_recording(session_id=session_id, url=url)
    except status.RecordingNotReady as error:
        raise RecordingNotReadyError(str(error)) from error


@shared_task(acks_late=True)
def session_close_abandoned_conversations_task() -> int:
    """Periodic sweep (beat): conversations whose consumer died never close themselves."""
    from sessions.live.conversation import session_close_abandoned_conversations

    return session_close_abandoned_conversations()


@shared_task(acks_late=True)
def session_transfer_timeout_task(transfer_id: int) -> bool:
    """A warm transfer's ring time is over (queued with a countdown when the leg was placed):
    if its leg never reported an end, end it and bring the caller back."""
    from sessions.transfers import session_transfer_timed_out

    return session_transfer_timed_out(transfer_id=transfer_id)
