"""Fixtures for the voices tests: generated speech, a local ElevenLabs, a real S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
import pytest
from voices_support import FakeElevenLabs, SeaweedS3, encode_audio, tone, upload

from anvil_voice.speech.codec import encode_mp3
from anvil_voice.speech.local import LocalTTS, get_local_tts

# About six seconds of speech: two samples clear the 10-second minimum for a clone.
SPEECH_TEXT = (
    "Hello, this is a short recording of my voice. I am reading a few sentences so that the "
    "clone can learn how I sound."
)


class AudioKit:
    """Speech samples in every accepted format, encoded once per session."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        self.samples = samples
        self.rate = rate
        self.encoded = cache(self._encode)

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def _encode(self, fmt: str, variant: int) -> bytes:
        # Variants differ slightly in level, so two of them are two different recordings.
        samples = (self.samples * (1.0 - 0.05 * variant)).astype(np.int16)
        return encode_audio(samples, self.rate, fmt)

    def data(self, fmt: str = "wav", variant: int = 0) -> bytes:
        return self.encoded(fmt, variant)

    def sample(self, name: str, fmt: str = "wav", variant: int = 0):
        return upload(name, self.data(fmt, variant))

    def pair(self, fmt: str = "wav") -> list:
        return [self.sample(f"take-1.{fmt}", fmt, 0), self.sample(f"take-2.{fmt}", fmt, 1)]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    # Every persona's user gets a PBKDF2 password (about 0.1 s each, four per test); these
    # tests sign people in with force_login, never with a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def tts() -> LocalTTS:
    return get_local_tts()


@pytest.fixture(scope="session")
def audio(tts: LocalTTS) -> AudioKit:
    pcm, rate = tts.synthesize_pcm(SPEECH_TEXT)
    return AudioKit(np.frombuffer(pcm, dtype=np.int16), rate)


@pytest.fixture
def media_root(settings):  # type: ignore[no-untyped-def]
    return settings.MEDIA_ROOT


# --- ElevenLabs -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def elevenlabs_server() -> Iterator[FakeElevenLabs]:
    fake = FakeElevenLabs(mp3=encode_mp3(tone(1.5).tobytes(), 22050))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def elevenlabs(settings, elevenlabs_server: FakeElevenLabs) -> FakeElevenLabs:  # type: ignore[no-untyped-def]
    """This deployment speaks through ElevenLabs (the local fake)."""
    elevenlabs_server.reset()
    settings.SPEECH_PROVIDER = "cloud"
    settings.ELEVENLABS_API_KEY = "test-elevenlabs-key"
    settings.ELEVENLABS_BASE_URL = elevenlabs_server.base_url
    return elevenlabs_server


# --- S3 -------------------------------------------------------------------------------------


# `seaweed`, the SeaweedFS server, is in tests/conftest.py: the upload resilience tests share it.


@pytest.fixture
def s3(settings, seaweed: SeaweedS3) -> SeaweedS3:  # type: ignore[no-untyped-def]
    """Django's default storage is the private test bucket on SeaweedFS, emptied first."""
    seaweed.empty()
    # Changing STORAGES through the settings fixture sends setting_changed, which makes Django
    # drop its cached default storage (and restore the local one afterwards).
    settings.STORAGES = {**settings.STORAGES, "default": seaweed.storage(querystring_expire=1)}
    return seaweed
