"""Hearing key presses: a Goertzel DTMF detector over the 20 ms mu-law frames a callee hears.

Twilio's network hears the agent's in-band tones the way any phone exchange does; the simulator
does the same so a test can assert which keys the agent pressed (the call log's
``heard_digit``) and a phone-menu persona can route by them.

Per frame (160 samples), the Goertzel (single-bin DFT) power at the eight DTMF frequencies,
each as a share of the frame's energy (a pure sine scores ~1.0). A frame holds a key when its
strongest row and column tones together carry most of the energy, each clearly beats the
others of its group, and neither is much weaker than the other (twist). A key counts once it
holds for two frames in a row (40 ms, the shortest tone exchanges must accept) and again only
after a frame without it. Speech rarely puts most of its energy into exactly two of these
frequencies for 40 ms (docs/benchmarks.md, "DTMF detection", measures talk-off on our voice).
"""

from __future__ import annotations

import math

import numpy as np

from . import audio

ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
LAYOUT = ("123A", "456B", "789C", "*0#D")

# Quieter than this (RMS of 16-bit samples, about -42 dBFS) is not a key, whatever its shape.
MIN_RMS = 250.0
# The row and column tones together: at least this share of the frame's energy.
MIN_TWO_TONE_SHARE = 0.6
# Each of the two at least this share (a twist of about 8 dB at worst).
MIN_TONE_SHARE = 0.1
# The strongest tone of a group at least this many times the next one of that group.
MIN_GROUP_MARGIN = 4.0
FRAMES_TO_CONFIRM = 2


def _basis(frequencies: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    n = np.arange(audio.FRAME_BYTES)
    phases = 2 * math.pi * np.outer(frequencies, n) / audio.SAMPLE_RATE
    return np.cos(phases), np.sin(phases)


_ROW_BASIS = _basis(ROWS)
_COLUMN_BASIS = _basis(COLUMNS)


def _shares(samples: np.ndarray, energy: float, basis: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Power at each frequency as a share of the frame's energy (1.0 for a pure sine).

    The same single-frequency DFT term Goertzel's recursion computes, as one matrix product:
    eight frequencies over 160 samples cost microseconds in numpy, where the per-sample
    recursion in Python costs a fifth of a millisecond per frame, on every frame of every call.
    """
    cosines, sines = basis
    power = (cosines @ samples) ** 2 + (sines @ samples) ** 2
    return np.asarray(2 * power / (len(samples) * energy))


def frame_key(frame: bytes) -> str | None:
    """The key one 20 ms mu-law frame sounds like, or None."""
    if len(frame) != audio.FRAME_BYTES or frame == audio.SILENCE_FRAME:
        return None
    samples = audio.ulaw_to_pcm(frame).astype(np.float64)
    energy = float(np.dot(samples, samples))
    if math.sqrt(energy / len(samples)) < MIN_RMS:
        return None
    rows = _shares(samples, energy, _ROW_BASIS)
    columns = _shares(samples, energy, _COLUMN_BASIS)
    row, column = int(np.argmax(rows)), int(np.argmax(columns))
    best_row, best_column = rows[row], columns[column]
    if best_row + best_column < MIN_TWO_TONE_SHARE:
        return None
    if min(best_row, best_column) < MIN_TONE_SHARE:
        return None
    if best_row < MIN_GROUP_MARGIN * np.partition(rows, -2)[-2]:
        return None
    if best_column < MIN_GROUP_MARGIN * np.partition(columns, -2)[-2]:
        return None
    return LAYOUT[row][column]


class DtmfDetector:
    """Feed frames in order; `feed` returns the key pressed when one is confirmed."""

    def __init__(self) -> None:
        self._candidate: str | None = None
        self._run = 0
        self._reported = False

    def feed(self, frame: bytes) -> str | None:
        key = frame_key(frame)
        if key is None or key != self._candidate:
            self._candidate, self._run, self._reported = key, 1 if key else 0, False
            return None
        self._run += 1
        if self._run >= FRAMES_TO_CONFIRM and not self._reported:
            self._reported = True
            return key
        return None


TONE_SECONDS = 0.1
WAIT_SECONDS = 0.5
_AMPLITUDE = 8000.0


def keys_ulaw(digits: str) -> bytes:
    """`<Play digits>` as Twilio's network plays it: 100 ms of each key's two tones, 100 ms of
    silence after it, ``w`` half a second of silence. The length Twilio uses is not documented;
    any receiver (our detector included) needs 40 ms."""
    t = np.arange(round(TONE_SECONDS * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    gap = np.zeros(len(t))
    parts: list[np.ndarray] = []
    for key in digits:
        if key == "w":
            parts.append(np.zeros(round(WAIT_SECONDS * audio.SAMPLE_RATE)))
            continue
        row = next(i for i, keys in enumerate(LAYOUT) if key in keys)
        low, high = ROWS[row], COLUMNS[LAYOUT[row].index(key)]
        parts += [_AMPLITUDE * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)), gap]
    return audio.pcm_to_ulaw(np.concatenate(parts)) if parts else b""


def detect(ulaw: bytes) -> str:
    """Every key in a stretch of mu-law audio, in order (tests, benchmarks)."""
    detector = DtmfDetector()
    keys = []
    for start in range(0, len(ulaw) - audio.FRAME_BYTES + 1, audio.FRAME_BYTES):
        key = detector.feed(ulaw[start : start + audio.FRAME_BYTES])
        if key is not None:
            keys.append(key)
    return "".join(keys)
