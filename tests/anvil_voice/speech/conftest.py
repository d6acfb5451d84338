"""Fixtures for the speech tests: models loaded once per session, audio generated on the spot.

Every audio file these tests use is made here (tones, noise, Piper speech encoded with PyAV);
nothing is downloaded or checked in.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import web

from anvil_voice.speech.audio import encode_mp3
from anvil_voice.speech.local import LocalTTS, LocalWhisperSTT, get_local_stt, get_local_tts

# Container + codec PyAV uses to write each format we accept.
ENCODERS = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "libmp3lame"),
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "libopus"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "webm": ("webm", "libopus"),
}

EncodeAudio = Callable[[np.ndarray, int, str], bytes]


def tone(seconds: float, rate: int = 22050, freq: float = 440.0, amplitude: float = 0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def encode_audio(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """Mono int16 samples -> a complete file in `fmt`, written by FFmpeg through PyAV."""
    container_format, codec = ENCODERS[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=48000 if codec == "libopus" else rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
        step = stream.codec_context.frame_size or 1024
        pieces = []
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + step].reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = rate
            pieces.extend(resampler.resample(frame))
        pieces.extend(resampler.resample(None))
        for piece in [*pieces, None]:
            for packet in stream.encode(piece):
                out.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tts() -> LocalTTS:
    return get_local_tts()


@pytest.fixture(scope="session")
def stt() -> LocalWhisperSTT:
    return get_local_stt()


@pytest.fixture(scope="session")
def speech(tts: LocalTTS) -> tuple[np.ndarray, int]:
    """About three seconds of Piper speech as int16 samples and their rate."""
    pcm, rate = tts.synthesize_pcm("Hello, this is a short recording of my voice for the test.")
    return np.frombuffer(pcm, dtype=np.int16), rate


@pytest.fixture(scope="session")
def encode() -> EncodeAudio:
    return encode_audio


@pytest.fixture(scope="session")
def make_tone() -> Callable[..., np.ndarray]:
    return tone


# --- A local ElevenLabs ---------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    chunks: list[bytes] | None = None
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # field, name, type


class FakeElevenLabs:
    """Answers like ElevenLabs: canned success by default, scripted replies per route."""

    def __init__(self, tone_mp3: bytes) -> None:
        self.tone_mp3 = tone_mp3
        self.port = 0
        self.reset()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.requests: list[Seen] = []
        self.replies: dict[tuple[str, str], Reply] = {}

    def reply(self, method: str, path: str, **reply: Any) -> None:
        self.replies[(method, path)] = Reply(**reply)

    def default(self, request: web.Request) -> Reply:
        if request.path == "/v1/voices/add":
            return Reply(json={"voice_id": "v0ice123", "requires_verification": False})
        if request.method == "DELETE":
            return Reply(json={"status": "ok"})
        if request.path.endswith("/stream"):
            return Reply(chunks=[b"\x7f" * 100, b"\x7e" * 60])
        if request.query.get("output_format") == "ulaw_8000":
            return Reply(body=b"\x7f" * 800)
        return Reply(body=self.tone_mp3)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            method=request.method,
            raw_path=request.raw_path.split("?")[0],
            query=dict(request.query),
            headers=dict(request.headers),
        )
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if part.filename:
                    content_type = part.headers.get("Content-Type", "")
                    seen.files.append((part.name, part.filename, content_type, await part.read()))
                else:
                    seen.fields[part.name] = await part.text()
        elif request.can_read_body:
            seen.json = await request.json()
        self.requests.append(seen)

        reply = self.replies.get((request.method, request.path)) or self.default(request)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.chunks is not None and reply.status < 400:
            response = web.StreamResponse(status=reply.status)
            response.enable_chunked_encoding()
            await response.prepare(request)
            for chunk in reply.chunks:
                await response.write(chunk)
            await response.write_eof()
            return response
        if reply.json is not None:
            return web.json_response(reply.json, status=reply.status)
        return web.Response(status=reply.status, body=reply.body)


@pytest.fixture(scope="session")
def fake_server(make_tone) -> Iterator[FakeElevenLabs]:
    fake = FakeElevenLabs(tone_mp3=encode_mp3(make_tone(0.5).tobytes(), 22050))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        fake.port = runner.addresses[0][1]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield fake
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def fake(fake_server: FakeElevenLabs) -> FakeElevenLabs:
    fake_server.reset()
    return fake_server
