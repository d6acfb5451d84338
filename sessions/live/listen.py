"""Listen in: a staff member hears a live call, both ways, in the browser.

Two ends meet on the channel layer:

- the call's media-stream consumer holds a `ListenTap`. It knows which listener channels are
  attached (they announce themselves on the call's control group with `listen.join` /
  `listen.leave`), and only while there is at least one does it copy audio: the caller's
  inbound μ-law frames and the agent's outbound ones, batched per direction into ~100 ms
  messages on the session's listen group. With nobody listening a frame costs one set-length
  check: no decoding, no channel-layer traffic.
- `ListenConsumer` (`/ws/monitor/listen/<session id>/`) is the staff member's socket: admin
  session auth, the page's own origin, the session's organization must be one where the user
  may act on calls (owner or manager: listening to a live person is not a read-only view).
  Another organization's session and a finished one are refused alike. It joins the listen
  group, announces itself, and forwards each batch as one binary websocket message: a byte for
  the direction (0 caller, 1 agent) then raw μ-law 8 kHz.

A listener joining before the stream started is found by the tap's `listen.probe` when the
call's consumer starts (the listeners answer with `listen.join`). A listener whose process died
without `leave` keeps the tap publishing to an empty group until the call ends: bounded, and
never visible to anyone.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from anvil_voice.accounts.models import WRITE_ROLES, Membership
from sessions.live.groups import control_group
from sessions.live.monitor import FORBIDDEN, _origin_allowed
from sessions.models import CallSession

logger = logging.getLogger(__name__)

INBOUND, OUTBOUND = 0, 1  # the first byte of each binary message to the browser
# 20 ms of μ-law at 8 kHz is 160 bytes; five frames per message keeps the channel layer at
# ~20 messages a second per call with listeners, at 100 ms of added delay.
FLUSH_BYTES = 800


def listen_group(session_id: int) -> str:
    return f"call-listen.{session_id}"


class ListenTap:
    """The call side: copies audio to the listen group while someone listens."""

    def __init__(self, *, layer: Any, session_id: int) -> None:
        self.layer = layer
        self.session_id = session_id
        self.listeners: set[str] = set()
        self.buffers: dict[int, bytearray] = {INBOUND: bytearray(), OUTBOUND: bytearray()}
        self.sent = 0

    @property
    def listening(self) -> bool:
        return bool(self.listeners)

    def join(self, channel: str) -> None:
        self.listeners.add(channel)

    def leave(self, channel: str) -> None:
        self.listeners.discard(channel)
        if not self.listeners:
            for buffer in self.buffers.values():
                buffer.clear()

    async def probe(self) -> None:
        """Ask listeners that attached before the call's stream started to say so."""
        await self.layer.group_send(listen_group(self.session_id), {"type": "listen.probe"})

    async def feed(self, direction: int, payload: bytes) -> None:
        if not self.listeners:
            return
        buffer = self.buffers[direction]
        buffer.extend(payload)
        if len(buffer) >= FLUSH_BYTES:
            await self._flush(direction)

    async def _flush(self, direction: int) -> None:
        buffer = self.buffers[direction]
        if not buffer:
            return
        audio = bytes(buffer)
        buffer.clear()
        try:
            await self.layer.group_send(
                listen_group(self.session_id),
                {"type": "listen.audio", "direction": direction, "audio": audio},
            )
            self.sent += 1
        except Exception:
            # Listening is a nicety: a full channel layer must not disturb the call.
            logger.exception("event=listen_send_failed session=%s", self.session_id)

    async def close(self) -> None:
        """The call is over: send what is buffered and tell the listeners."""
        if not self.listeners:
            return
        for direction in (INBOUND, OUTBOUND):
            await self._flush(direction)
        try:
            await self.layer.group_send(listen_group(self.session_id), {"type": "listen.ended"})
        except Exception:
            logger.exception("event=listen_send_failed session=%s", self.session_id)


def may_listen(*, user: Any, session: CallSession) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    role = (
        Membership.objects.filter(user=user, organization_id=session.organization_id)
        .values_list("role", flat=True)
        .first()
    )
    return role in WRITE_ROLES


@database_sync_to_async
def _listenable_session(user: Any, session_id: int) -> int | None:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_staff", False):
        return None
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None or session.is_finished or not may_listen(user=user, session=session):
        return None
    return session.pk


class ListenConsumer(AsyncWebsocketConsumer):
    session_id: int | None = None

    async def connect(self) -> None:
        if not _origin_allowed(self.scope):
            await self.close(code=FORBIDDEN)
            return
        session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.session_id = await _listenable_session(self.scope.get("user"), session_id)
        if self.session_id is None:
            await self.close(code=FORBIDDEN)
            return
        await self.channel_layer.group_add(listen_group(self.session_id), self.channel_name)
        await self.accept()
        await self._announce("listen.join")
        logger.info("event=listen_started session=%s", self.session_id)

    async def disconnect(self, code: int) -> None:
        if self.session_id is None:
            return
        await self.channel_layer.group_discard(listen_group(self.session_id), self.channel_name)
        await self._announce("listen.leave")

    async def _announce(self, kind: str) -> None:
        assert self.session_id is not None
        await self.channel_layer.group_send(
            control_group(self.session_id), {"type": kind, "channel": self.channel_name}
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Listen only: what the page sends is ignored."""

    async def listen_audio(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=bytes([int(message["direction"])]) + message["audio"])

    async def listen_probe(self, message: dict[str, Any]) -> None:
        await self._announce("listen.join")

    async def listen_ended(self, message: dict[str, Any]) -> None:
        await self.close(code=1000)
