"""Deepgram streaming speech-to-text over its websocket (`/v1/listen`), one session per call.

Usage::

    stream = DeepgramStream(api_key=settings.DEEPGRAM_API_KEY, url=settings.DEEPGRAM_URL)
    await stream.connect()
    stream.send_audio(ulaw_frame)          # never blocks: queued, coalesced, sent by a task
    async for item in stream.results():    # DeepgramResult | DeepgramUtteranceEnd
        ...
    await stream.finish()                  # CloseStream: Deepgram flushes, then closes
    await stream.aclose()

Wire format (see shared/reference/speech-providers.md): query parameters pick the audio
(`encoding=mulaw&sample_rate=8000&channels=1`) and behaviour (`interim_results`,
`endpointing`, `utterance_end_ms`); the key goes in `Authorization: Token <key>`; audio is
sent as binary frames; `{"type":"KeepAlive"}` keeps an idle stream open (10 s without
anything closes it); `{"type":"CloseStream"}` ends it. Deepgram answers with JSON text:
`Results` (is_final / speech_final) and `UtteranceEnd`; `Metadata` and `SpeechStarted` are
ignored here.

Failures surface as `ProviderError` (refused handshake, dropped connection) or
`ProviderTimeout` (connect timeout), raised from `connect()` or `results()`.

`DeepgramRecognizer` is the stream as a call's `StreamingRecognizer`: every inbound frame goes to
Deepgram, which endpoints by itself (speech_final / UtteranceEnd); its non-empty interim results
let the pipeline detect barge-in before the endpointer does. It reports failures as
`RecognizerFailure`s, never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from anvil_voice import usage
from anvil_voice.speech.protocols import (
    Emit,
    Final,
    Interim,
    ProviderError,
    ProviderTimeout,
    RecognizerFailure,
    Utterance,
)

logger = logging.getLogger(__name__)

DEFAULT_URL = "wss://api.deepgram.com/v1/listen"
# Frames queued while the socket is slow; beyond 30 s of audio the oldest are dropped (the
# call has bigger problems by then and memory must stay bounded).
MAX_QUEUED_FRAMES = 1500


@dataclass(frozen=True, slots=True, kw_only=True)
class DeepgramOptions:
    model: str = "nova-3"
    encoding: str = "mulaw"
    sample_rate: int = 8000
    channels: int = 1
    interim_results: bool = True
    endpointing_ms: int = 300
    utterance_end_ms: int = 1000
    language: str | None = None

    def query(self) -> str:
        params: dict[str, str | int] = {
            "encoding": self.encoding,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "model": self.model,
            "interim_results": "true" if self.interim_results else "false",
            "endpointing": self.endpointing_ms,
            "utterance_end_ms": self.utterance_end_ms,
        }
        if self.language:
            params["language"] = self.language
        return urlencode(params)


@dataclass(frozen=True, slots=True)
class DeepgramResult:
    transcript: str
    is_final: bool  # this stretch of audio will not be transcribed again
    speech_final: bool  # Deepgram's endpointing says the speaker paused: a turn may end
    start: float  # seconds of audio since the stream began
    duration: float
    confidence: float | None


@dataclass(frozen=True, slots=True)
class DeepgramUtteranceEnd:
    last_word_end: float | None  # seconds; a turn ends here if speech_final never came


DeepgramEvent = DeepgramResult | DeepgramUtteranceEnd


def parse_message(raw: str | bytes) -> DeepgramEvent | None:
    """One Deepgram message → an event, or None for messages the pipeline does not need."""
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("deepgram.bad_message reason=not_json")
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == "Results":
        alternatives = (data.get("channel") or {}).get("alternatives") or [{}]
        best = alternatives[0] if isinstance(alternatives[0], dict) else {}
        confidence = best.get("confidence")
        return DeepgramResult(
            transcript=str(best.get("transcript") or "").strip(),
            is_final=bool(data.get("is_final")),
            speech_final=bool(data.get("speech_final")),
            start=float(data.get("start") or 0.0),
            duration=float(data.get("duration") or 0.0),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
        )
    if kind == "UtteranceEnd":
        end = data.get("last_word_end")
        return DeepgramUtteranceEnd(last_word_end=float(end) if end is not None else None)
    return None


class DeepgramStream:
    def __init__(
        self,
        *,
        api_key: str,
        url: str = DEFAULT_URL,
        options: DeepgramOptions | None = None,
        keepalive_seconds: float = 4.0,
        connect_timeout: float = 5.0,
        close_timeout: float = 2.0,
    ) -> None:
        self._api_key = api_key
        self.options = options or DeepgramOptions()
        separator = "&" if "?" in url else "?"
        self.url = f"{url}{separator}{self.options.query()}"
        self._keepalive = keepalive_seconds
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._ws: ClientConnection | None = None
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.dropped_frames = 0
        self.sent_bytes = 0

    async def connect(self) -> None:
        try:
            self._ws = await connect(
                self.url,
                additional_headers={"Authorization": f"Token {self._api_key}"},
                open_timeout=self._connect_timeout,
                close_timeout=self._close_timeout,
                # Deepgram's own KeepAlive keeps the stream open; protocol pings add nothing.
                ping_interval=None,
                compression=None,
                proxy=None,
            )
        except InvalidStatus as error:
            raise _refused(error.response.status_code, _body(error)) from error
        except TimeoutError as error:
            raise ProviderTimeout("Deepgram did not accept the stream in time.") from error
        except (OSError, InvalidHandshake) as error:
            raise ProviderError(
                "deepgram_unreachable", f"Cannot reach Deepgram: {error}", retryable=True
            ) from error
        self._writer = asyncio.create_task(self._write(self._ws), name="deepgram-writer")

    def send_audio(self, audio: bytes) -> None:
        """Queue raw mu-law for Deepgram. Never blocks; safe before `connect` finishes."""
        if self._audio.qsize() >= MAX_QUEUED_FRAMES:
            self._audio.get_nowait()
            self.dropped_frames += 1
        self._audio.put_nowait(audio)

    async def results(self) -> AsyncIterator[DeepgramEvent]:
        """Events until Deepgram closes the stream; a dropped connection raises ProviderError."""
        ws = self._require()
        try:
            async for message in ws:
                event = parse_message(message)
                if event is not None:
                    yield event
        except ConnectionClosed as error:
            raise _closed(error) from error
        # A clean close we did not ask for (no CloseStream) is still the end of recognition.
        if ws.close_code not in (1000, None):
            raise ProviderError("deepgram_closed", f"Deepgram closed the stream ({ws.close_code}).")

    async def finish(self) -> None:
        """Send what is queued, then CloseStream: Deepgram flushes its last results and closes
        (results() then ends). Waits for the send, not for Deepgram's answer."""
        self._audio.put_nowait(None)
        if self._writer is not None and not self._writer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), self._close_timeout)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), self._close_timeout)

    def _require(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("DeepgramStream.connect() first")
        return self._ws

    async def _write(self, ws: ClientConnection) -> None:
        try:
            while True:
                try:
                    first = await asyncio.wait_for(self._audio.get(), self._keepalive)
                except TimeoutError:
                    await ws.send(json.dumps({"type": "KeepAlive"}))
                    continue
                if first is None:
                    await ws.send(json.dumps({"type": "CloseStream"}))
                    return
                # Coalesce what queued up while we were sending: fewer, larger frames.
                chunk = bytearray(first)
                closing = False
                while not self._audio.empty() and len(chunk) < 3200:
                    more = self._audio.get_nowait()
                    if more is None:
                        closing = True
                        break
                    chunk += more
                await ws.send(bytes(chunk))
                self.sent_bytes += len(chunk)
                if closing:
                    await ws.send(json.dumps({"type": "CloseStream"}))
                    return
        except ConnectionClosed:
            return  # the reader reports why


def _body(error: InvalidStatus) -> str:
    body = error.response.body or b""
    return body[:200].decode("utf-8", "replace")


def _refused(status: int, body: str) -> ProviderError:
    if status in (401, 403):
        return ProviderError("deepgram_auth", f"Deepgram refused the key ({status}).")
    if status == 429:
        return ProviderError("deepgram_rate_limited", "Deepgram rate limit.", retryable=True)
    retryable = status >= 500
    return ProviderError(
        "deepgram_refused", f"Deepgram refused the stream ({status}): {body}", retryable=retryable
    )


def _closed(error: ConnectionClosed) -> ProviderError:
    received: Any = error.rcvd
    code = received.code if received is not None else None
    reason = received.reason if received is not None else ""
    return ProviderError(
        "deepgram_closed", f"Deepgram closed the stream ({code}): {reason}", retryable=True
    )


class DeepgramRecognizer:
    """A `DeepgramStream` as a `StreamingRecognizer`.

    Deepgram splits a turn into several ``is_final`` results; they are joined until
    ``speech_final`` or ``UtteranceEnd`` closes the turn (the documented rule).
    """

    name = "deepgram"

    def __init__(self, stream: DeepgramStream) -> None:
        self._stream = stream
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._parts: list[DeepgramResult] = []

    async def start(self, emit: Emit) -> None:
        self._reader = asyncio.create_task(self._read(emit), name="stt-deepgram")

    def feed(self, frame: bytes) -> None:
        # Deepgram bills the audio streamed to it (8 kHz mu-law: one byte a sample).
        usage.record_stt("deepgram", len(frame) / 8000)
        self._stream.send_audio(frame)

    def end_of_utterance(self, utterance: Utterance) -> None:
        return None  # Deepgram endpoints on its own

    async def finish(self) -> None:
        """CloseStream: Deepgram finalises the audio it has, sends its last results and
        closes; the reader reports them, then a final made of what is left unclosed."""
        self._closing = True
        if self._reader is None or self._reader.done():
            return
        with contextlib.suppress(Exception):
            await self._stream.finish()
        await asyncio.shield(self._reader)

    async def aclose(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._stream.finish()
        await self._stream.aclose()

    async def _read(self, emit: Emit) -> None:
        try:
            await self._stream.connect()
            async for event in self._stream.results():
                if isinstance(event, DeepgramUtteranceEnd):
                    self._flush(emit)
                elif not event.is_final:
                    if event.transcript:
                        emit(Interim(event.transcript))
                else:
                    if event.transcript:
                        self._parts.append(event)
                    if event.speech_final:
                        self._flush(emit)
        except ProviderError as error:
            emit(RecognizerFailure(error.code, error.message, fatal=True))
            return
        except Exception as error:
            logger.exception("pipeline.deepgram_failed")
            emit(RecognizerFailure("stt_error", repr(error), fatal=True))
            return
        if self._closing:
            self._flush(emit)  # the last words, when CloseStream came before speech_final
        else:
            emit(RecognizerFailure("deepgram_closed", "Deepgram ended the stream.", fatal=True))

    def _flush(self, emit: Emit) -> None:
        if not self._parts:
            return
        parts, self._parts = self._parts, []
        confidences = [part.confidence for part in parts if part.confidence is not None]
        emit(
            Final(
                text=" ".join(part.transcript for part in parts),
                start_ms=round(parts[0].start * 1000),
                end_ms=round((parts[-1].start + parts[-1].duration) * 1000),
                confidence=min(confidences) if confidences else None,
            )
        )
