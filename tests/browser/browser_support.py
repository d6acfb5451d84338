"""Support for the browser tests: Chromium through Playwright, a real server, screenshots.

- `chromium_or_skip()`: Debian's Chromium (`apt-get install chromium`), never Playwright's own
  download (there is no internet in CI). Missing locally → the test is skipped with the reason;
  missing in CI (`CI` set in the environment) → it fails, so CI can never pass without it.
- `BrowserServer`: the harness's `AsgiServer` (our ASGI app, HTTP + websockets, uvicorn in a
  thread) with static files served from the finders, as Django's and Channels' live-server test
  cases do: tests never run collectstatic, and the admin's JavaScript and the live monitor's
  script must load.
- `SCREENSHOTS`: where the test run saves its screenshots (`var/screenshots`, git-ignored with
  the rest of `var/`); `BROWSER_SCREENSHOTS` in the environment moves it.
- `speech_wav()`: a short recording spoken by the local Piper voice, as a WAV file.
"""

from __future__ import annotations

import functools
import io
import os
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from tests.anvil_voice.telephony.test_carrier_harness import AsgiServer

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or settings.BASE_DIR / "var/screenshots")


def chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
        pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
    pytest.skip(reason)


class BrowserServer(AsgiServer):
    """`AsgiServer` that also answers `/static/` from the app directories (admin JS, CSS)."""

    def __init__(self) -> None:
        super().__init__()
        # uvicorn loads `config.app` when the server starts, so swapping it here is enough.
        app: Any = self.server.config.app
        self.server.config.app = ASGIStaticFilesHandler(app)

    def __enter__(self) -> BrowserServer:
        super().__enter__()
        return self


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@functools.cache
def _spoken(text: str) -> tuple[bytes, int]:
    from anvil_voice.speech.local import get_local_tts

    return get_local_tts().synthesize_pcm(text, exact=True)


def speech_wav(text: str, *, level: float = 1.0) -> bytes:
    """`text` spoken by the local Piper voice, as 16-bit mono WAV (`level` scales it, so one
    synthesis gives several different recordings)."""
    pcm, rate = _spoken(text)
    samples = (np.frombuffer(pcm, dtype=np.int16) * level).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
