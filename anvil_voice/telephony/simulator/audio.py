"""8 kHz mu-law helpers for the simulator: G.711 tables, speech detection, tones, WAV output.

Kept standalone (numpy only) so the simulator runs without Django and without the project's
speech stack; the simulator only needs to tell speech from silence and to mix two channels.
"""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
FRAME_SECONDS = 0.02
# 8000 samples/s * 20 ms * 1 byte per mu-law sample.
FRAME_BYTES = 160
# Mu-law code for a zero sample: what Twilio sends on a silent line.
SILENCE_BYTE = 0xFF
SILENCE_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES
# RMS (16-bit scale) above which a frame counts as speech: about -44 dBFS, well above the
# quantisation noise of mu-law silence and well below any voice or tone.
SPEECH_RMS_THRESHOLD = 200.0

_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((codes & 0x0F) << 3) + _BIAS) << ((codes & 0x70) >> 4)
    linear = np.where(codes & 0x80, _BIAS - magnitude, magnitude - _BIAS)
    return linear.astype(np.int16)


_DECODE = _decode_table()


def ulaw_to_pcm(data: bytes) -> npt.NDArray[np.int16]:
    """Decode mu-law bytes to 16-bit linear samples."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm_to_ulaw(samples: npt.NDArray[Any]) -> bytes:
    """Encode 16-bit linear samples to mu-law (G.711, with the usual clip and bias)."""
    values = samples.astype(np.int32)
    sign = np.where(values < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(values), _CLIP) + _BIAS
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def is_speech(frame: bytes) -> bool:
    """Whether a mu-law frame carries sound rather than (near) silence."""
    if not frame:
        return False
    samples = ulaw_to_pcm(frame).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) > SPEECH_RMS_THRESHOLD


def trailing_silence_frames(ulaw: bytes) -> int:
    """How many of the 20 ms frames `ulaw` is played as, counted from its end, are silence."""
    starts = range(0, len(ulaw), FRAME_BYTES)
    silent = 0
    for start in reversed(starts):
        if is_speech(ulaw[start : start + FRAME_BYTES]):
            break
        silent += 1
    return silent


def tone(seconds: float, frequency: float = 440.0, amplitude: float = 8000.0) -> bytes:
    """A sine tone as mu-law: the voicemail beep, and a cheap stand-in voice for tests."""
    count = round(seconds * SAMPLE_RATE)
    time = np.arange(count) / SAMPLE_RATE
    return pcm_to_ulaw(amplitude * np.sin(2 * np.pi * frequency * time))


def babble(text: str, seconds_per_char: float = 0.055) -> bytes:
    """Voice-like synthetic audio whose length follows the text.

    Used when no TTS is available: a few harmonics with a syllable-rate envelope, so speech
    detectors and energy-based turn-taking see something that behaves like talk.
    """
    count = max(round(len(text) * seconds_per_char * SAMPLE_RATE), SAMPLE_RATE // 5)
    time = np.arange(count) / SAMPLE_RATE
    pitch = 140.0 + 20.0 * np.sin(2 * np.pi * 0.7 * time)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * time) ** 2
    return pcm_to_ulaw(6000.0 * envelope * voice)


def mix(first: bytes, second: bytes) -> bytes:
    """Sum two equally long mu-law frames (the two directions of a call) with clipping."""
    total = ulaw_to_pcm(first).astype(np.int32) + ulaw_to_pcm(second).astype(np.int32)
    return pcm_to_ulaw(np.clip(total, -32768, 32767))


def pad_frame(data: bytes) -> bytes:
    """Pad a short tail with silence so every frame is exactly 20 ms."""
    return data + bytes([SILENCE_BYTE]) * (FRAME_BYTES - len(data))


def ulaw_to_wav(data: bytes) -> bytes:
    """A 16-bit PCM WAV of mu-law audio: what Twilio serves for `RecordingUrl` + `.wav`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(ulaw_to_pcm(data).astype("<i2").tobytes())
    return buffer.getvalue()


def wav_to_ulaw(data: bytes) -> bytes | None:
    """Mu-law from an 8 kHz mono WAV (16-bit PCM or mu-law), or None when it is anything else."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    position = 12
    audio_format = channels = rate = bits = 0
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        body = data[position + 8 : position + 8 + size]
        if chunk_id == b"fmt ":
            audio_format = int.from_bytes(body[0:2], "little")
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")
            bits = int.from_bytes(body[14:16], "little")
        elif chunk_id == b"data":
            if channels != 1 or rate != SAMPLE_RATE:
                return None
            if audio_format == 7 and bits == 8:
                return body
            if audio_format == 1 and bits == 16:
                return pcm_to_ulaw(np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2"))
            return None
        position += 8 + size + (size & 1)
    return None
