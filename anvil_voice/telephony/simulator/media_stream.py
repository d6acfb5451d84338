"""`<Connect><Stream>`: the bidirectional Media Stream, as Twilio's websocket client.

Twilio connects to our server, signs the handshake, then talks JSON text frames: `connected`,
`start`, `media` every 20 ms, `dtmf`, `mark` echoes and `stop`. Our server sends back `media`
(queued for playback at real-time rate), `mark` and `clear`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator

from .call_audio import CallAudio, Marker
from .callbacks import UrlRewriter
from .calls import SimulatedCall, new_sid
from .twiml import Stream

# Fields Twilio accepts in a message from our server; anything else is error 31951.
_ALLOWED_FIELDS = frozenset({"event", "streamSid", "media", "mark"})
HANDSHAKE_ERROR = 31920
BINARY_FRAME_ERROR = 31950
INVALID_MESSAGE_ERROR = 31951


class MediaStreamSession:
    def __init__(
        self,
        *,
        call: SimulatedCall,
        stream: Stream,
        call_audio: CallAudio,
        session: aiohttp.ClientSession,
        auth_token: str,
        rewrite: UrlRewriter,
    ) -> None:
        self._call = call
        self._stream = stream
        self._audio = call_audio
        self._session = session
        self._auth_token = auth_token
        self._rewrite = rewrite
        self.stream_sid = new_sid("MZ")
        self._sequence = 0
        self._chunk = 0
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._open = False
        self._counts = {
            "media_sent_frames": 0,
            "media_sent_bytes": 0,
            "media_received_messages": 0,
            "media_received_bytes": 0,
        }

    async def run(self) -> None:
        """Stream until our server closes the socket (or until cancelled: call over)."""
        log = self._call.log
        signature = RequestValidator(self._auth_token).compute_signature(self._stream.url, {})
        try:
            ws = await self._session.ws_connect(
                self._rewrite(self._stream.url),
                headers={"X-Twilio-Signature": signature},
                autoping=True,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            log.add(
                "error",
                code=HANDSHAKE_ERROR,
                message=f"Stream - WebSocket - Handshake Error: {error}",
            )
            return
        self._open = True
        writer = asyncio.create_task(self._write(ws), name=f"stream-writer-{self._call.sid}")
        try:
            self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            self._send(self._start_message())
            self._audio.inbound_listener = self._on_inbound_frame
            await self._read(ws)
        finally:
            self._audio.inbound_listener = None
            if not ws.closed:
                # The call ended (or moved to other TwiML) while the socket was open.
                self._send(self._sequenced("stop", stop=self._identity()))
                self._outbox.put_nowait(None)
                await asyncio.wait([writer], timeout=2.0)
                await ws.close()
            self._open = False
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            # Audio our server queued does not outlive its stream.
            self._audio.clear_playback()
            log.add("stream_media", stream_sid=self.stream_sid, **self._counts)

    def send_dtmf(self, digit: str) -> bool:
        """Send a key press; False while the socket is not (or no longer) open."""
        if not self._open:
            return False
        self._send(self._sequenced("dtmf", dtmf={"track": "inbound_track", "digit": digit}))
        return True

    # --- outgoing --------------------------------------------------------------------------
    def _identity(self) -> dict[str, str]:
        return {"accountSid": self._call.account_sid, "callSid": self._call.sid}

    def _start_message(self) -> dict[str, Any]:
        return self._sequenced(
            "start",
            start={
                **self._identity(),
                "streamSid": self.stream_sid,
                "tracks": ["inbound"],
                "customParameters": dict(self._stream.parameters),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        )

    def _sequenced(self, event: str, **body: Any) -> dict[str, Any]:
        self._sequence += 1
        return {
            "event": event,
            "sequenceNumber": str(self._sequence),
            "streamSid": self.stream_sid,
            **body,
        }

    def _send(self, message: dict[str, Any]) -> None:
        if self._open:
            self._outbox.put_nowait(message)

    async def _on_inbound_frame(self, frame: bytes) -> None:
        self._chunk += 1
        self._send(
            self._sequenced(
                "media",
                media={
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str((self._chunk - 1) * 20),
                    "payload": base64.b64encode(frame).decode("ascii"),
                },
            )
        )

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        log = self._call.log
        while (message := await self._outbox.get()) is not None:
            try:
                await ws.send_str(json.dumps(message))
            except (aiohttp.ClientError, ConnectionError):
                return
            if message["event"] == "media":
                self._counts["media_sent_frames"] += 1
                self._counts["media_sent_bytes"] += 160
            elif message["event"] == "mark":
                log.add("ws_sent", event="mark", name=message["mark"]["name"])
            else:
                log.add("ws_sent", event=message["event"])

    # --- incoming --------------------------------------------------------------------------
    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self._handle(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                self._error(BINARY_FRAME_ERROR, "Media Stream messages must be JSON text frames")
            else:
                break

    def _handle(self, raw: str) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            self._error(INVALID_MESSAGE_ERROR, "message is not valid JSON")
            return
        if not isinstance(data, dict):
            self._error(INVALID_MESSAGE_ERROR, "message is not a JSON object")
            return
        unknown = sorted(set(data) - _ALLOWED_FIELDS)
        if unknown:
            self._error(INVALID_MESSAGE_ERROR, f"unknown fields: {', '.join(unknown)}")
        if data.get("streamSid") != self.stream_sid:
            self._error(INVALID_MESSAGE_ERROR, "streamSid does not match this stream")
            return
        match data.get("event"):
            case "media":
                self._on_media(data)
            case "mark":
                self._on_mark(data)
            case "clear":
                self._on_clear()
            case other:
                self._error(INVALID_MESSAGE_ERROR, f"unknown event {other!r}")

    def _on_media(self, data: dict[str, Any]) -> None:
        try:
            payload = base64.b64decode(data["media"]["payload"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            self._error(INVALID_MESSAGE_ERROR, "media.payload must be base64")
            return
        self._counts["media_received_messages"] += 1
        self._counts["media_received_bytes"] += len(payload)
        self._audio.enqueue_playback(payload)

    def _on_mark(self, data: dict[str, Any]) -> None:
        mark = data.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            self._error(INVALID_MESSAGE_ERROR, "mark.name is required")
            return
        self._call.log.add("ws_received", event="mark", name=name)
        self._audio.enqueue_marker(Marker(lambda cleared: self._echo_mark(name, cleared)))

    def _on_clear(self) -> None:
        self._call.log.add("ws_received", event="clear")
        dropped, echoed = self._audio.clear_playback()
        self._call.log.add("clear", dropped_bytes=dropped, marks_echoed=echoed)

    def _echo_mark(self, name: str, cleared: bool) -> None:
        if not self._open:
            return
        self._call.log.add("mark_echoed", name=name, cleared=cleared)
        self._send(self._sequenced("mark", mark={"name": name}))

    def _error(self, code: int, message: str) -> None:
        self._call.log.add("error", code=code, message=message)
