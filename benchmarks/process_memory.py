"""Resident memory (RSS) of each kind of process, for docs/operations.md's sizing table.

Each stage runs in a fresh interpreter (so nothing one loads is counted in another) and reports
its VmRSS from /proc/self/status:

- `python`: a bare interpreter (the baseline);
- `web idle`: Django set up and the ASGI application imported, as a web process holds it
  before its first call;
- `web + speech`: the same with the local speech models loaded (Piper for TTS, Whisper tiny.en
  for STT) and used once each (one sentence synthesised, then transcribed), as a web process
  holds them once it has served a call on `SPEECH_PROVIDER=local`;
- `worker idle`: Django set up and the Celery app with every task imported, as a worker holds it.

Run: `.venv/bin/python -m benchmarks.process_memory` (add DATABASE_URL/REDIS_URL to measure
with the production backends' client libraries loaded; the figures barely move).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

STAGES = ("python", "web idle", "web + speech", "worker idle")


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _stage(name: str) -> float:
    if name == "python":
        return rss_mb()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    if name == "worker idle":
        import django

        django.setup()
        from anvil_voice.celery import app

        app.loader.import_default_modules()
        return rss_mb()
    from anvil_voice.asgi import application  # noqa: F401 - what a web process imports

    if name == "web idle":
        return rss_mb()
    from anvil_voice.speech.local import get_local_stt, get_local_tts

    pcm, rate = get_local_tts().synthesize_pcm("Hello, this is a call about your appointment.")
    get_local_stt().transcribe(audio=pcm, encoding="pcm16", sample_rate=rate)
    return rss_mb()


def measure(name: str) -> float:
    completed = subprocess.run(  # noqa: S603 - our own module, fixed argv
        [sys.executable, "-m", "benchmarks.process_memory", "--stage", name],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="RSS of each kind of process.")
    parser.add_argument("--stage", choices=STAGES)
    args = parser.parse_args(argv)
    if args.stage:
        print(f"{_stage(args.stage):.1f}")
        return 0
    figures = {name: measure(name) for name in STAGES}
    base = figures["python"]
    print(f"{'process':<14} {'RSS MB':>8} {'x bare python':>14}")
    for name, value in figures.items():
        print(f"{name:<14} {value:>8.1f} {value / base:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
