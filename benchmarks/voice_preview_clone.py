"""Voice benchmarks: preview latency and the memory a large clone upload needs.

    uv run python -m benchmarks.voice_preview_clone

1. Preview: median of 5 `voice_preview` calls (local Piper -> MP3 -> probe -> storage -> row)
   for a 20-word sentence, each with new text so nothing is served from the stored previews,
   next to the MP3 encode of a tone of the same length as a same-machine baseline.
2. Clone upload: 25 samples of about 2 MB each sent as one multipart request through Django's
   full request handler (upload handlers, the API view, probing, storage, rows), the body read
   from a file on disk like a socket. tracemalloc's peak shows that files stream (temporary
   files, 1 MB reads) instead of sitting in memory: holding the samples would take ~50 MB.

Runs against a throwaway SQLite database and media folder in a temporary directory.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNS = 5
SENTENCE = (
    "Hello, this is Anvil Voice calling to confirm your appointment for tomorrow morning; does "
    "that time still work for you, {n}?"
)
SAMPLES = 25
SAMPLE_SECONDS = 10.9  # 48 kHz stereo 16-bit WAV: about 2.0 MiB per file


def _setup_django(workdir: Path) -> None:
    os.environ["ANVIL_VAR_DIR"] = str(workdir)
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    os.environ["RATELIMIT_ENABLE"] = "0"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from anvil_voice.celery import app

    app.conf.task_always_eager = True  # the local "clone" runs in the request, like the tests


def _organization() -> Any:
    from anvil_voice.accounts import services as accounts

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    return accounts.organization_create(name=slug, slug=slug)


def _median_ms(action: Callable[[int], object]) -> float:
    timings = []
    for run in range(RUNS):
        started = time.perf_counter()
        action(run)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def bench_preview() -> None:
    import numpy as np

    from anvil_voice.speech.codec import encode_mp3
    from anvil_voice.speech.local import get_local_tts
    from voices import services

    voice = services.voice_seed_demo(_organization())
    tts = get_local_tts()
    services.voice_preview(voice=voice, text="Warm up the model.")

    words = len(SENTENCE.format(n="Sam").split())
    preview_ms = _median_ms(
        lambda run: services.voice_preview(voice=voice, text=SENTENCE.format(n=f"caller {run}"))
    )
    synth_ms = _median_ms(lambda run: tts.synthesize_mp3(SENTENCE.format(n=f"caller {run}")))
    pcm, rate = tts.synthesize_pcm(SENTENCE.format(n="Sam"))
    seconds = len(pcm) / 2 / rate
    t = np.arange(len(pcm) // 2) / rate
    tone = (np.sin(2 * np.pi * 440.0 * t) * 0.3 * 32767).astype(np.int16).tobytes()
    tone_ms = _median_ms(lambda run: encode_mp3(tone, rate))
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

    from anvil_voice.accounts import services as accounts
    from voices.models import Voice

    organization = _organization()
    raw_key = accounts.api_key_issue(organization=organization, name="bench").raw_key
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
        _setup_django(workdir)
        bench_preview()
        bench_clone_upload(workdir)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
