"""The deployment's live-call capacity: no claim creates a session past it, whoever claims.

Capacity = `LIVE_CALL_CAPACITY_PER_PROCESS` x `LIVE_CALL_PROCESSES` (`anvil_voice.capacity`),
shared by every campaign, callback and test call of every organization. A claim takes
`free_live_calls` inside the transaction that creates its sessions: the function locks one row
(the `PacingBucket` keyed `CAPACITY_LOCK`, a plain mutex here: its tokens are unused) and
counts the live sessions under that lock, so a second dispatcher counting at the same time
waits for the first one's commit and then sees its sessions. On SQLite every write transaction
is IMMEDIATE (settings), so claims are serialised there anyway.

Lock order, everywhere: a campaign row, then this row, then contact rows, then pacing buckets
(`pacing.take_tokens` sorts its own); nothing that holds this lock waits for a campaign row.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from campaigns.dialling import pacing
from sessions.selectors import live_call_count

CAPACITY_LOCK = "capacity:live-calls"


def deployment_capacity() -> int:
    return int(settings.LIVE_CALL_CAPACITY_PER_PROCESS) * int(settings.LIVE_CALL_PROCESSES)


def free_live_calls(*, now: datetime) -> int:
    """Sessions that may still be created now; the lock it takes lasts until the caller's
    transaction ends, so create them (or not) before committing."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("free_live_calls must run inside the transaction that creates calls")
    pacing.locked_row(CAPACITY_LOCK, tokens=0.0, now=now)
    return max(0, deployment_capacity() - live_call_count())
