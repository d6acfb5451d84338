"""Mu-law, resampling, MP3, 20 ms frames and WAV-header stripping."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from anvil_voice.speech.audio import (
    encode_mp3,
    frames_20ms,
    pcm16_to_ulaw,
    pcm16_to_wav,
    probe_audio,
    resample_pcm16,
    strip_wav_header,
    ulaw_silence,
    ulaw_to_pcm16,
)


def test_it_round_trips_pcm_through_ulaw_within_companding_error(make_tone):
    pcm = make_tone(0.5, rate=8000).tobytes()

    ulaw = pcm16_to_ulaw(pcm)
    back = np.frombuffer(ulaw_to_pcm16(ulaw), dtype=np.int16).astype(np.int32)

    original = np.frombuffer(pcm, dtype=np.int16).astype(np.int32)
    assert len(ulaw) == len(original)
    # Mu-law keeps about 2-3 % relative error on loud samples; never more than a few percent.
    assert np.max(np.abs(back - original)) < 0.04 * 32768


def test_it_resamples_to_the_expected_length_and_keeps_the_pitch(make_tone):
    pcm = make_tone(1.0, rate=22050, freq=440.0).tobytes()

    out = np.frombuffer(resample_pcm16(pcm, 22050, 8000), dtype=np.int16)

    assert len(out) == pytest.approx(8000, abs=40)
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / len(out)
    assert peak_hz == pytest.approx(440.0, abs=5.0)


def test_it_leaves_pcm_alone_when_the_rate_does_not_change():
    assert resample_pcm16(b"\x01\x02\x03\x04\x05", 8000, 8000) == b"\x01\x02\x03\x04"


def test_it_splits_ulaw_into_160_byte_frames_padding_the_last_with_silence():
    frames = frames_20ms(b"\x10" * 400)

    assert [len(frame) for frame in frames] == [160, 160, 160]
    assert frames[2] == b"\x10" * 80 + b"\xff" * 80
    assert frames_20ms(b"") == []


def test_it_makes_ulaw_silence_of_the_requested_length():
    silence = ulaw_silence(60)

    assert silence == b"\xff" * 480
    assert set(ulaw_to_pcm16(silence)) == {0}


def test_it_encodes_mp3_that_decodes_to_the_same_duration(make_tone):
    mp3 = encode_mp3(make_tone(2.0, rate=22050).tobytes(), 22050)

    info = probe_audio(io.BytesIO(mp3), claimed_name="tone.mp3")

    assert info.format == "mp3"
    assert info.duration_seconds == pytest.approx(2.0, rel=0.05)


def test_it_returns_raw_ulaw_unchanged():
    raw = bytes(range(256))

    assert strip_wav_header(raw) == raw


def test_it_strips_a_mulaw_wav_header_without_touching_the_payload():
    payload = bytes(range(200))
    wav = mulaw_wav(payload)

    assert strip_wav_header(wav) == payload


def test_it_strips_a_header_with_a_streaming_size_of_zero():
    payload = bytes(range(100))
    wav = mulaw_wav(payload, data_size=0)

    assert strip_wav_header(wav) == payload


def test_it_converts_a_pcm_wav_to_8khz_ulaw(make_tone):
    pcm = make_tone(1.0, rate=16000).tobytes()

    ulaw = strip_wav_header(pcm16_to_wav(pcm, 16000))

    assert not ulaw.startswith(b"RIFF")
    assert len(ulaw) == pytest.approx(8000, abs=40)
    level = np.abs(np.frombuffer(ulaw_to_pcm16(ulaw), dtype=np.int16)).max()
    assert level > 0.25 * 32768


def mulaw_wav(payload: bytes, *, data_size: int | None = None) -> bytes:
    """A WAVE_FORMAT_MULAW file as a provider would send it (the stdlib cannot write one)."""
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    size = len(payload) if data_size is None else data_size
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"LIST"
        + struct.pack("<I", 4)
        + b"INFO"
        + b"data"
        + struct.pack("<I", size)
        + payload
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body
