"""Fixtures for the speech tests: models loaded once per session, audio generated on the spot.

Every audio file these tests use is made here (tones, noise, Piper speech encoded with PyAV);
nothing is downloaded or checked in.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import av
import numpy as np
import pytest

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
