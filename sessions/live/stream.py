"""Session tokens admit one Media Stream: who may open it, and what it tells us.

The token (unguessable, expiring) is in the stream URL of the session's TwiML. A handshake
claims it with a conditional update (`stream_sid` "" → `connecting`), so two concurrent
handshakes for one token cannot both be accepted. `start` replaces the placeholder with
Twilio's stream id; after that the token admits no other stream. A socket that closes before
`start` gives the claim back.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from sessions.models import (
    TERMINAL_CALL_STATUSES,
    CallEvent,
    CallEventKind,
    CallSession,
    CallStatus,
)

logger = logging.getLogger(__name__)

# `stream_sid` while a handshake holds the token and Twilio's `start` has not arrived yet.
STREAM_CONNECTING = "connecting"


@dataclass(frozen=True)
class StreamStart:
    stream_sid: str
    call_sid: str
    account_sid: str = ""
    tracks: list[str] = field(default_factory=list)
    media_format: dict[str, Any] = field(default_factory=dict)
    custom_parameters: dict[str, str] = field(default_factory=dict)


def session_stream_claim(*, token: str) -> CallSession | None:
    """The session whose stream this handshake may open, or None (refuse the handshake)."""
    claimed = (
        CallSession.objects.filter(token=token, token_expires_at__gt=timezone.now(), stream_sid="")
        # A queued session has not been dialled, a finished one has nothing left to stream.
        .exclude(status__in=[*TERMINAL_CALL_STATUSES, CallStatus.QUEUED])
        .update(stream_sid=STREAM_CONNECTING)
    )
    if not claimed:
        logger.warning("event=stream_token_refused reason=%s", _refusal_reason(token))
        return None
    return CallSession.objects.get(token=token)


def _refusal_reason(token: str) -> str:
    session = CallSession.objects.filter(token=token).first()
    if session is None:
        return "unknown_token"
    if session.token_expires_at <= timezone.now():
        return "expired"
    if session.is_finished:
        return "finished"
    if session.status == CallStatus.QUEUED:
        return "not_placed"
    return "stream_in_use"


def session_stream_release(*, session_id: int) -> None:
    """The socket closed before `start`: the token may be used by a new handshake."""
    CallSession.objects.filter(pk=session_id, stream_sid=STREAM_CONNECTING).update(stream_sid="")


def serving_process() -> str:
    """`host:pid` of the process this code runs in: which web process holds a call's stream.

    Recorded on the stream's `stream_started` event (`served_by`): with several web processes
    behind a load balancer, an operator looking at a call that went wrong (or at the calls a
    crashed process held) finds the process, and its logs, from the session's events."""
    return f"{socket.gethostname()}:{os.getpid()}"


def session_stream_started(*, session_id: int, start: StreamStart) -> bool:
    """Record Twilio's `start`. False when the stream belongs to another call than ours."""
    with transaction.atomic():
        session = CallSession.objects.select_for_update().get(pk=session_id)
        if session.carrier_call_sid and session.carrier_call_sid != start.call_sid:
            logger.error(
                "event=stream_call_mismatch session=%s call_sid=%s stream_call_sid=%s",
                session_id,
                session.carrier_call_sid,
                start.call_sid,
            )
            return False
        updates: dict[str, Any] = {"stream_sid": start.stream_sid[:64]}
        bound_call = False
        if not session.carrier_call_sid and start.call_sid:
            # The create answer was lost (or is not stored yet): a signed stream carrying our
            # token names the call for sure, better than any lookup.
            updates["carrier_call_sid"] = start.call_sid
            bound_call = True
        try:
            with transaction.atomic():
                CallSession.objects.filter(pk=session_id).update(**updates)
        except IntegrityError:
            logger.error("event=stream_call_held_elsewhere session=%s", session_id)
            return False
        CallEvent.objects.create(
            session_id=session_id,
            kind=CallEventKind.STREAM_STARTED,
            data={
                "stream_sid": start.stream_sid,
                "call_sid": start.call_sid,
                "tracks": start.tracks,
                "media_format": start.media_format,
                "bound_call": bound_call,
                "served_by": serving_process(),
            },
        )
    return True


def session_stream_stopped(*, session_id: int, stream_sid: str, stats: dict[str, int]) -> bool:
    """Record Twilio's `stop` (once per stream)."""
    with transaction.atomic():
        CallSession.objects.select_for_update().filter(pk=session_id).first()
        stopped = CallEvent.objects.filter(
            session_id=session_id, kind=CallEventKind.STREAM_STOPPED, data__stream_sid=stream_sid
        )
        if stopped.exists():
            return False
        CallEvent.objects.create(
            session_id=session_id,
            kind=CallEventKind.STREAM_STOPPED,
            data={"stream_sid": stream_sid, **stats},
        )
    return True


def session_stream_disconnected(*, session_id: int, stream_sid: str, code: int | None) -> None:
    """The socket closed after `start` without a `stop` (network, or our side closed it)."""
    CallEvent.objects.create(
        session_id=session_id,
        kind=CallEventKind.STREAM_DISCONNECTED,
        data={"stream_sid": stream_sid, "code": code},
    )
