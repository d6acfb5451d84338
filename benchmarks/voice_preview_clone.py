"""Voice benchmarks: preview latency and the memory a large clone upload needs.

    uv run python -m benchmarks.voice_preview_clone

1. Preview: median of 5 `voice_preview` calls (local Piper -> MP3 -> probe -> storage -> row)
   for a 20-word sentence, each with new text so nothing is served from the stored previews,
   next to the MP3 encode of a tone of the same length as a same-machine baseline.
2. Clone upload: 25 samples of about 2 MB each sent as one multipart request through Django's
   full request handler (upload handlers, the API view, probing, storage, rows), the body read
   from a file on disk like a socket. tracemalloc's peak shows that files stream (temporary
   files, 1 MB reads) instead of sitting in memory: holding the samples would take ~50 MB.

Runs in a throw-away database (SQLite in a temporary directory; `bench_voices_clone` on the
server DATABASE_URL names, dropped at the end) with media in a temporary directory.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
import wave
from pathlib import Path
from typing import Any

from benchmarks.support import (
    api_key_for,
    median_ms,
    setup_bench_environment,
    teardown_bench_environment,
    tone_like,
)

RUNS = 5
SENTENCE = (
    "Hello, this is Anvil Voice calling to confirm your appointment for tomorrow morning; does "
    "that time still work for you, {n}?"
)
SAMPLES = 25
DATABASE = "bench_voices_clone"  # on PostgreSQL, when DATABASE_URL names a server
SAMPLE_SECONDS = 10.9  # 48 kHz stereo 16-bit WAV: about 2.0 MiB per file


def _organization() -> Any:
    from anvil_voice.accounts import services as accounts

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    return accounts.organization_create(name=slug, slug=slug)


def bench_preview() -> None:
    from anvil_voice.speech.codec import encode_mp3
    from anvil_voice.speech.local import get_local_tts
    from voices import services

    voice = services.voice_seed_demo(_organization())
    tts = get_local_tts()
    services.voice_preview(voice=voice, text="Warm up the model.")

    words = len(SENTENCE.format(n="Sam").split())
    preview_ms = median_ms(
        lambda run: services.voice_preview(voice=voice, text=SENTENCE.format(n=f"caller {run}")),
        RUNS,
    )
    synth_ms = median_ms(lambda run: tts.synthesize_mp3(SENTENCE.format(n=f"caller {run}")), RUNS)
    pcm, rate = tts.synthesize_pcm(SENTENCE.format(n="Sam"))
    seconds = len(pcm) / 2 / rate
    tone = tone_like(pcm, rate)
    tone_ms = median_ms(lambda run: encode_mp3(tone, rate), RUNS)
    print(f"preview: {words} words, {seconds:.2f} s of audio")
    print(f"  voice_preview (Piper + MP3 + probe + store + row), median of {RUNS}: "
          f"{preview_ms:.0f} ms")  # fmt: skip
    print(f"  of which Piper + MP3 alone (the provider), median of {RUNS}: {synth_ms:.0f} ms")
    print(f"  our code on top (probe, storage, row): about {preview_ms - synth_ms:.0f} ms")
    print(f"  baseline: MP3 encode of a tone of the same length, median of {RUNS}: "
          f"{tone_ms:.1f} ms")  # fmt: skip


def _wav(seconds: float, seed: int) -> bytes:
    """A distinct stereo 48 kHz recording (tone plus noise) per seed."""
    import numpy as np

    rate = 48000
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * (180 + seed) * t) + 0.05 * rng.standard_normal(t.size)
    stereo = np.stack([left, np.roll(left, 100)], axis=1)
    pcm = (stereo * 32767 * 0.8).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def _multipart_body(path: Path, boundary: str) -> int:
    """Write the request body to disk one sample at a time; return its length."""
    with path.open("wb") as out:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nBench\r\n'.encode()
        )
        for index in range(SAMPLES):
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="samples"; '
                f'filename="take-{index}.wav"\r\nContent-Type: audio/wav\r\n\r\n'.encode()
            )
            out.write(_wav(SAMPLE_SECONDS, index))
            out.write(b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        return out.tell()


def bench_clone_upload(workdir: Path) -> None:
    from django.core.handlers.wsgi import WSGIHandler

    from voices.models import Voice

    organization = _organization()
    raw_key = api_key_for(organization)
    boundary = uuid.uuid4().hex
    body_path = workdir / "clone-body.bin"
    length = _multipart_body(body_path, boundary)

    handler = WSGIHandler()
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        status.append(line)
        return lambda data: None

    with body_path.open("rb") as body:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/voice/voices/clone",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": body,
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
            "CONTENT_LENGTH": str(length),
            "HTTP_AUTHORIZATION": f"Bearer {raw_key}",
            "HTTP_HOST": "127.0.0.1",
        }
        tracemalloc.start()
        started = time.perf_counter()
        chunks = handler(environ, start_response)
        response = b"".join(chunks)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    voice = Voice.objects.filter(organization=organization).first()
    print(f"clone upload: {SAMPLES} samples, {length / 2**20:.1f} MiB request body")
    print(f"  answer: {status[0]} in {elapsed:.2f} s; voice status: "
          f"{voice.status if voice else response[:200]!r}")  # fmt: skip
    print(f"  tracemalloc peak during the request: {peak / 2**20:.1f} MiB "
          f"({peak / length:.1%} of the body)")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="anvil-voices-bench-") as directory:
        workdir = Path(directory)
        os.environ["ANVIL_VAR_DIR"] = str(workdir)
        os.environ["MEDIA_ROOT"] = str(workdir / "media")
        admin_url, _ = setup_bench_environment(database=DATABASE, reuse=False)
        from anvil_voice.celery import app

        app.conf.task_always_eager = True  # the local "clone" runs in the request, like the tests
        try:
            bench_preview()
            bench_clone_upload(workdir)
        finally:
            teardown_bench_environment(admin_url=admin_url, database=DATABASE, keep=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
