"""The Deepgram streaming adapter against a local websocket server speaking Deepgram's format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from anvil_voice.speech.deepgram import (
    DeepgramRecognizer,
    DeepgramResult,
    DeepgramStream,
    DeepgramUtteranceEnd,
    parse_message,
)
from anvil_voice.speech.protocols import (
    Final,
    Interim,
    ProviderError,
    ProviderTimeout,
    RecognizerFailure,
)

KEY = "dg-test-key"


def results(text: str, *, is_final: bool, speech_final: bool = False, start: float = 0.0) -> str:
    return json.dumps(
        {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": 1.25,
            "start": start,
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.97, "words": []}]},
            "metadata": {"request_id": "r-1"},
        }
    )


class FakeDeepgram:
    """`/v1/listen`: checks the key, records audio and control messages, runs a script."""

    def __init__(
        self,
        script: Callable[[ServerConnection, FakeDeepgram], Awaitable[None]] | None = None,
        *,
        status: int | None = None,
    ) -> None:
        self.script = script
        self.status = status
        self.requests: list[tuple[str, Headers]] = []
        self.audio = bytearray()
        self.binary_frames = 0
        self.controls: list[dict[str, Any]] = []
        self.got_audio = asyncio.Event()
        self._server: Any = None

    async def __aenter__(self) -> FakeDeepgram:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check, compression=None
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/listen"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append((request.path, request.headers))
        if self.status is not None:
            return connection.respond(self.status, "nope\n")
        if request.headers.get("Authorization") != f"Token {KEY}":
            return connection.respond(401, "bad key\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        reader = asyncio.create_task(self._read(ws))
        try:
            if self.script is not None:
                await self.script(ws, self)
            await reader
        finally:
            reader.cancel()

    async def _read(self, ws: ServerConnection) -> None:
        async for message in ws:
            if isinstance(message, bytes):
                self.audio += message
                self.binary_frames += 1
                self.got_audio.set()
                continue
            control = json.loads(message)
            self.controls.append(control)
            if control["type"] == "CloseStream":
                # Deepgram flushes its last result, then closes normally.
                await ws.send(results("bye now", is_final=True, speech_final=True, start=9.0))
                await ws.close()
                return


async def collect(stream: DeepgramStream) -> list[Any]:
    return [event async for event in stream.results()]


async def test_it_opens_the_documented_url_with_the_token_and_streams_binary_audio():
    async def script(ws: ServerConnection, fake: FakeDeepgram) -> None:
        await fake.got_audio.wait()
        await ws.send(results("yes that", is_final=False))
        await ws.send(json.dumps({"type": "SpeechStarted", "timestamp": 0.1}))
        await ws.send(results("yes that sounds great", is_final=True, speech_final=True))
        await ws.send(json.dumps({"type": "UtteranceEnd", "last_word_end": 1.25}))

    async with FakeDeepgram(script) as fake:
        stream = DeepgramStream(api_key=KEY, url=fake.url)
        await stream.connect()
        for _ in range(10):
            stream.send_audio(b"\x7f" * 160)
        reader = asyncio.create_task(collect(stream))
        await asyncio.sleep(0.2)
        await stream.finish()
        events = await asyncio.wait_for(reader, 5)
        await stream.aclose()

    [(path, headers)] = fake.requests
    url = urlsplit(path)
    assert url.path == "/v1/listen"
    assert parse_qs(url.query) == {
        "encoding": ["mulaw"],
        "sample_rate": ["8000"],
        "channels": ["1"],
        "model": ["nova-3"],
        "interim_results": ["true"],
        "endpointing": ["300"],
        "utterance_end_ms": ["1000"],
    }
    assert headers["Authorization"] == f"Token {KEY}"
    assert bytes(fake.audio) == b"\x7f" * 1600
    assert 1 <= fake.binary_frames <= 10  # frames that queued up are coalesced
    assert fake.controls == [{"type": "CloseStream"}]
    assert events == [
        DeepgramResult("yes that", False, False, 0.0, 1.25, 0.97),
        DeepgramResult("yes that sounds great", True, True, 0.0, 1.25, 0.97),
        DeepgramUtteranceEnd(last_word_end=1.25),
        DeepgramResult("bye now", True, True, 9.0, 1.25, 0.97),
    ]


async def test_it_sends_keepalive_while_no_audio_flows():
    async with FakeDeepgram() as fake:
        stream = DeepgramStream(api_key=KEY, url=fake.url, keepalive_seconds=0.05)
        await stream.connect()
        reader = asyncio.create_task(collect(stream))
        await asyncio.sleep(0.3)
        await stream.finish()
        await asyncio.wait_for(reader, 5)
        await stream.aclose()
    keepalives = [c for c in fake.controls if c["type"] == "KeepAlive"]
    assert len(keepalives) >= 3
    assert fake.controls[-1] == {"type": "CloseStream"}


async def test_a_refused_key_is_a_provider_error():
    async with FakeDeepgram() as fake:
        stream = DeepgramStream(api_key="wrong", url=fake.url)
        with pytest.raises(ProviderError) as caught:
            await stream.connect()
    assert caught.value.code == "deepgram_auth"
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(429, "deepgram_rate_limited", True), (503, "deepgram_refused", True)],
)
async def test_refusals_say_whether_a_retry_can_help(status, code, retryable):
    async with FakeDeepgram(status=status) as fake:
        stream = DeepgramStream(api_key=KEY, url=fake.url)
        with pytest.raises(ProviderError) as caught:
            await stream.connect()
    assert (caught.value.code, caught.value.retryable) == (code, retryable)


async def test_an_unreachable_server_is_a_retryable_error():
    stream = DeepgramStream(api_key=KEY, url="ws://127.0.0.1:9/v1/listen", connect_timeout=2)
    with pytest.raises(ProviderError) as caught:
        await stream.connect()
    assert caught.value.retryable


async def test_a_server_that_never_answers_the_handshake_times_out():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        stream = DeepgramStream(api_key=KEY, url=f"ws://127.0.0.1:{port}/", connect_timeout=0.2)
        with pytest.raises(ProviderTimeout):
            await stream.connect()
    finally:
        server.close()


async def test_a_connection_dropped_mid_stream_raises_from_results():
    async def script(ws: ServerConnection, fake: FakeDeepgram) -> None:
        await ws.send(results("hel", is_final=False))
        await ws.close(code=1011, reason="NET-0001")

    async with FakeDeepgram(script) as fake:
        stream = DeepgramStream(api_key=KEY, url=fake.url)
        await stream.connect()
        seen: list[Any] = []

        async def read() -> None:
            async for event in stream.results():
                seen.append(event)

        with pytest.raises(ProviderError) as caught:
            await read()
        await stream.aclose()
    assert [e.transcript for e in seen] == ["hel"]
    assert caught.value.code == "deepgram_closed"
    assert "1011" in caught.value.message


def test_unknown_and_malformed_messages_are_ignored():
    assert parse_message("not json") is None
    assert parse_message("[1, 2]") is None
    assert parse_message(json.dumps({"type": "Metadata", "request_id": "x"})) is None
    empty = parse_message(json.dumps({"type": "Results", "is_final": True, "channel": {}}))
    assert empty == DeepgramResult("", True, False, 0.0, 0.0, None)


# --- DeepgramRecognizer: the stream as a call's StreamingRecognizer ----------------------------
async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_the_recognizer_joins_final_parts_into_one_turn_and_passes_interims():
    async def script(ws: ServerConnection, fake: FakeDeepgram) -> None:
        await fake.got_audio.wait()
        await ws.send(results("how", is_final=False, start=1.0))
        await ws.send(results("how much", is_final=True, start=1.0))
        await ws.send(results("does it cost", is_final=True, speech_final=True, start=1.5))

    async with FakeDeepgram(script) as fake:
        recognizer = DeepgramRecognizer(DeepgramStream(api_key=KEY, url=fake.url))
        events: list[Any] = []
        await recognizer.start(events.append)
        recognizer.feed(b"\xff" * 160)
        await wait_until(lambda: any(isinstance(event, Final) for event in events))
        await recognizer.aclose()

    assert events == [
        Interim("how"),
        Final("how much does it cost", start_ms=1000, end_ms=2750, confidence=0.97),
    ]
    assert {"type": "CloseStream"} in fake.controls


async def test_an_unreachable_deepgram_is_a_fatal_recognizer_failure():
    stream = DeepgramStream(api_key=KEY, url="ws://127.0.0.1:9/v1/listen", connect_timeout=1)
    recognizer = DeepgramRecognizer(stream)
    events: list[Any] = []
    await recognizer.start(events.append)
    await wait_until(lambda: bool(events))
    await recognizer.aclose()

    [failure] = events
    assert isinstance(failure, RecognizerFailure)
    assert (failure.code, failure.fatal) == ("deepgram_unreachable", True)


async def test_finish_delivers_the_last_words_deepgram_flushes_on_close_stream():
    async def script(ws: ServerConnection, fake: FakeDeepgram) -> None:
        await fake.got_audio.wait()
        await ws.send(results("take me off", is_final=True, start=2.0))

    async with FakeDeepgram(script) as fake:
        recognizer = DeepgramRecognizer(DeepgramStream(api_key=KEY, url=fake.url))
        events: list[Any] = []
        await recognizer.start(events.append)
        recognizer.feed(b"\xff" * 160)
        await asyncio.sleep(0.1)  # the partial result reaches the reader
        await asyncio.wait_for(recognizer.finish(), 5)
        await recognizer.aclose()

    # The words before CloseStream and Deepgram's flushed last result arrive as one turn (no
    # speech_final came before the close); a requested close is no failure.
    assert events == [Final("take me off bye now", start_ms=2000, end_ms=10250, confidence=0.97)]
    assert {"type": "CloseStream"} in fake.controls
