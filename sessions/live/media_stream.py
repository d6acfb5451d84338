"""The Media Stream websocket Twilio opens for every answered call.

`MediaStreamConsumer` checks the handshake (signature over the `wss://` URL, then the session
token) before `accept()`, parses Twilio's messages and records the stream's start and stop.
What happens to the audio is not its business: subclasses override the `on_*` hooks (the live
speech pipeline does) and talk back with `send_media` / `send_mark` / `send_clear`.

Media frames arrive 50 times a second per call: the ORM is touched only on `start`, `stop` and
disconnect, always through `database_sync_to_async`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import logging
from collections import Counter
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from anvil_voice.json_depth import json_too_deep
from anvil_voice.telephony.carrier import get_carrier
from anvil_voice.telephony.twiml import SESSION_PARAMETER
from sessions.live import stream
from sessions.live.stream import StreamStart

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's). Before accept() the server answers 403.
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_OUR_CALL = 4409

# Twilio's messages nest three levels (`start.mediaFormat`) and stay under a few KB (a media
# frame is ~400 bytes; `start` carries our custom parameters). Anything much bigger or deeper
# is dropped before `json.loads`, which recurses per level: 400 000 `[` raised RecursionError,
# which killed the handler without `disconnect`, so the stream token stayed claimed.
MAX_FRAME_CHARS = 64 * 1024
MAX_FRAME_DEPTH = 16


class MalformedMessage(ValueError):
    pass


# Twilio's events and their handlers (looked up once per frame, not rebuilt).
_HANDLERS = {
    "connected": "_on_connected",
    "start": "_on_start",
    "media": "_on_media",
    "mark": "_on_mark",
    "dtmf": "_on_dtmf",
    "stop": "_on_stop",
}


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{key} must be a non-empty string")
    return value


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MalformedMessage(f"{key} must be an object")
    return value


class MediaStreamConsumer(AsyncWebsocketConsumer):
    session_id: int | None = None
    session_token: str = ""
    stream_sid: str = ""
    call_sid: str = ""
    started: bool = False
    stopped: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Frames by event, plus "malformed" and "ignored": logged with the stop event.
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' `AsyncConsumer.__call__` with a cheaper dispatch loop (issue 18). Channels
        races the socket's `receive()` against the channel layer's with `asyncio.wait` and a
        new task for every message: ~20 µs of a media frame. Here each source has one task for
        the socket's life, and a lock keeps Channels' promise that one message is handled at a
        time (in arrival order: the lock is FIFO), so a control message still waits for a
        `start` being recorded. Whichever source ends the consumer (`StopConsumer` on
        disconnect, or an error) stops the other."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            sources.append(self.channel_receive)
        lock = asyncio.Lock()

        async def pump(source: Any) -> None:
            while True:
                message = await source()
                async with lock:
                    await self.dispatch(message)

        tasks = [asyncio.ensure_future(pump(source)) for source in sources]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # StopConsumer, or what the handler raised
        except StopConsumer:
            pass
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, StopConsumer):
                    await task

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' `dispatch` without its `aclose_old_connections()` hop to a thread on every
        message (issue 18: ~120 µs of a frame's ~220). That call ages the database connection
        of Channels' sync thread; this consumer reaches the database only through
        `database_sync_to_async`, which does the same around each call, in that thread."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- handshake -----------------------------------------------------------------------
    async def connect(self) -> None:
        token = str(self.scope["url_route"]["kwargs"]["token"])
        # Signature first: an unsigned handshake learns nothing, not even whether the token
        # exists, and costs no database query.
        if not get_carrier().validate_stream_handshake(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        session = await database_sync_to_async(stream.session_stream_claim)(token=token)
        if session is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.session_id = session.pk
        self.session_token = token
        await self.accept()
        logger.info("event=stream_accepted session=%s", self.session_id)

    async def disconnect(self, code: int) -> None:
        if self.session_id is None:
            return
        if not self.started:
            await database_sync_to_async(stream.session_stream_release)(session_id=self.session_id)
        elif not self.stopped:
            await database_sync_to_async(stream.session_stream_disconnected)(
                session_id=self.session_id, stream_sid=self.stream_sid, code=code
            )
        await self.on_disconnect(code)

    # --- incoming ------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            self._malformed("binary frame")
            return
        if len(text_data) > MAX_FRAME_CHARS:
            self._malformed("frame too large")
            return
        if json_too_deep(text_data, max_depth=MAX_FRAME_DEPTH):
            self._malformed("nested too deeply")
            return
        try:
            message = orjson.loads(text_data)
        except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
            self._malformed("not JSON")
            return
        if not isinstance(message, dict):
            self._malformed("not a JSON object")
            return
        event = message.get("event")
        name = _HANDLERS.get(event) if isinstance(event, str) else None
        if name is None:
            # Twilio may add events; an unknown one is not an error.
            self.counts["ignored"] += 1
            return
        try:
            await getattr(self, name)(message)
        except MalformedMessage as error:
            self._malformed(f"{event}: {error}")
            return
        self.counts[str(event)] += 1

    def _malformed(self, reason: str) -> None:
        self.counts["malformed"] += 1
        logger.warning("event=stream_malformed_frame session=%s reason=%s", self.session_id, reason)

    async def _on_connected(self, message: dict[str, Any]) -> None:
        await self.on_connected(message)

    async def _on_start(self, message: dict[str, Any]) -> None:
        if self.started:
            raise MalformedMessage("second start")
        body = _object(message, "start")
        parameters = body.get("customParameters") or {}
        if not isinstance(parameters, dict):
            raise MalformedMessage("customParameters must be an object")
        tracks = body.get("tracks") or []
        media_format = body.get("mediaFormat") or {}
        if not isinstance(tracks, list) or not isinstance(media_format, dict):
            # `list(5)` or `dict("ab")` would raise out of the handler, not count a bad frame.
            raise MalformedMessage("tracks must be a list and mediaFormat an object")
        start = StreamStart(
            stream_sid=_text(message, "streamSid"),
            call_sid=_text(body, "callSid"),
            account_sid=str(body.get("accountSid", "")),
            tracks=[str(track) for track in tracks],
            media_format=dict(media_format),
            custom_parameters={str(k): str(v) for k, v in parameters.items()},
        )
        assert self.session_id is not None
        ours = start.custom_parameters.get(SESSION_PARAMETER) == self.session_token
        if ours:
            ours = await database_sync_to_async(stream.session_stream_started)(
                session_id=self.session_id, start=start
            )
        if not ours:
            logger.error("event=stream_not_our_call session=%s", self.session_id)
            await self.close(code=CLOSE_NOT_OUR_CALL)
            return
        self.started = True
        self.stream_sid = start.stream_sid
        self.call_sid = start.call_sid
        await self.on_start(start)

    async def _on_media(self, message: dict[str, Any]) -> None:
        media = _object(message, "media")
        try:
            # `b64decode(validate=True)` without its wrapper; a non-ASCII string is a
            # ValueError (binascii.Error is one too), which escaped the handler before.
            payload = binascii.a2b_base64(_text(media, "payload"), strict_mode=True)
        except ValueError:
            raise MalformedMessage("payload is not base64") from None
        await self.on_media(payload, media)

    async def _on_mark(self, message: dict[str, Any]) -> None:
        await self.on_mark(_text(_object(message, "mark"), "name"))

    async def _on_dtmf(self, message: dict[str, Any]) -> None:
        await self.on_dtmf(_text(_object(message, "dtmf"), "digit"))

    async def _on_stop(self, message: dict[str, Any]) -> None:
        if not self.started or self.stopped:
            raise MalformedMessage("stop without a start")
        self.stopped = True
        assert self.session_id is not None
        stats = {
            "media_frames": self.counts["media"],
            "malformed_frames": self.counts["malformed"],
            "ignored_frames": self.counts["ignored"],
        }
        await database_sync_to_async(stream.session_stream_stopped)(
            session_id=self.session_id, stream_sid=self.stream_sid, stats=stats
        )
        await self.on_stop()

    # --- hooks for the speech pipeline ---------------------------------------------------
    async def on_connected(self, message: dict[str, Any]) -> None:
        """Twilio's first message (protocol and version)."""

    async def on_start(self, start: StreamStart) -> None:
        """The stream is ours and recorded; media follows."""

    async def on_media(self, payload: bytes, media: dict[str, Any]) -> None:
        """20 ms of the callee's audio: raw mu-law 8 kHz (`media` has track/chunk/timestamp)."""

    async def on_mark(self, name: str) -> None:
        """Twilio played everything we sent before the mark `name` (or it was cleared)."""

    async def on_dtmf(self, digit: str) -> None:
        """The callee pressed a key."""

    async def on_stop(self) -> None:
        """The call left the stream (hang-up or redirect); Twilio closes the socket next."""

    async def on_disconnect(self, code: int) -> None:
        """The socket is gone (after `on_stop`, or without one if the network failed)."""

    # --- outgoing ------------------------------------------------------------------------
    async def send_media(self, payload: bytes) -> None:
        """Queue raw mu-law 8 kHz audio for the callee (no WAV header)."""
        media = {"payload": base64.b64encode(payload).decode("ascii")}
        await self._send_event("media", media=media)

    async def send_mark(self, name: str) -> None:
        await self._send_event("mark", mark={"name": name})

    async def send_clear(self) -> None:
        """Drop audio Twilio has buffered (barge-in); pending marks are echoed."""
        await self._send_event("clear")

    async def _send_event(self, event: str, **body: Any) -> None:
        await self.send(
            text_data=orjson.dumps({"event": event, "streamSid": self.stream_sid, **body}).decode()
        )
