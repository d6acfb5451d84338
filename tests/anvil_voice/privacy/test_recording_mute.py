"""`anvil_voice.privacy.recording.mute_wav`: the spans are silent, everything else intact."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from anvil_voice.privacy.recording import UnsupportedRecording, mute_wav

RATE = 8000


def tone_wav(seconds: float, *, sample_width: int = 2) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(sample_width)
        writer.setframerate(RATE)
        writer.writeframes(samples.tobytes())
    return buffer.getvalue()


def samples_of(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")


def test_the_spans_are_silent_and_the_rest_is_untouched():
    original = tone_wav(3.0)

    muted = mute_wav(original, [(500, 1250), (2900, 4000)])

    before, after = samples_of(original), samples_of(muted)
    assert len(muted) == len(original)
    assert not after[4000:10000].any()  # 500 ms → 1250 ms
    assert not after[23200:].any()  # 2900 ms → the end (the span runs past it)
    assert np.array_equal(after[:4000], before[:4000])
    assert np.array_equal(after[10000:23200], before[10000:23200])
    assert muted[:44] == original[:44]  # the header as it was


def test_mu_law_silence_is_its_own_byte():
    body = bytes(range(256)) * 32  # 8192 mu-law samples, 1.024 s
    header = (
        b"RIFF" + (36 + len(body)).to_bytes(4, "little") + b"WAVEfmt "
        + (16).to_bytes(4, "little") + (7).to_bytes(2, "little") + (1).to_bytes(2, "little")
        + RATE.to_bytes(4, "little") + RATE.to_bytes(4, "little") + (1).to_bytes(2, "little")
        + (8).to_bytes(2, "little") + b"data" + len(body).to_bytes(4, "little")
    )  # fmt: skip

    muted = mute_wav(header + body, [(0, 100)])

    assert muted[len(header) : len(header) + 800] == b"\xff" * 800
    assert muted[len(header) + 800 :] == body[800:]


def test_a_file_it_cannot_read_is_refused():
    with pytest.raises(UnsupportedRecording):
        mute_wav(b"ID3\x04 an mp3", [(0, 100)])
