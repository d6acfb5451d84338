"""Voice activity detection and endpointing on 8 kHz mu-law, 20 ms at a time.

Energy-based with an adaptive noise floor: a frame is speech when its level is `margin_db`
above the line's noise floor (and above an absolute minimum, so digital silence does not make
every click "speech"). The floor is the quietest frame of the last few seconds ("minimum
statistics"): talk always has gaps between words that dip to the line's noise, while steady
noise never dips below itself, so the floor follows hiss and hum but not a voice.

No dependency beyond numpy: webrtcvad (wheels exist on PyPI as `webrtcvad-wheels`) classifies
better in babble noise, but phone audio from Twilio is band-limited and gated, and an energy
detector with a floor is what the endpointing needs here — the STT decides what was said.

Endpointing: speech starts after `start_ms` of speech inside a short window (a click or a
breath is not a turn); an utterance ends after `end_silence_ms` of non-speech, or is cut at
`max_utterance_ms`. All positions are stream milliseconds (frames seen x 20).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from anvil_voice.speech.codec import ULAW_FRAME_BYTES

FRAME_MS = 20
_SILENCE_DB = -100.0


def _ulaw_squares() -> np.ndarray:
    # G.711 mu-law decode of all 256 codes, squared: mean(square) of a frame is its power.
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((codes & 0x0F) << 3) + 0x84) << ((codes & 0x70) >> 4)
    linear = np.where(codes & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.float64)
    return linear * linear


_SQUARES = _ulaw_squares()
_FULL_SCALE_POWER = 32768.0 * 32768.0
_ADD = np.add.reduce


def frame_level_db(frame: bytes) -> float:
    """The frame's RMS level in dBFS (-100 for digital silence)."""
    if not frame:
        return _SILENCE_DB
    # add.reduce, not .mean(): the same exact sum (integers far below 2**53) without numpy's
    # Python-level `_mean` wrapper, which was half of this function's cost on every frame.
    power = float(_ADD(_SQUARES[np.frombuffer(frame, dtype=np.uint8)])) / len(frame)
    if power <= 0.0:
        return _SILENCE_DB
    return max(_SILENCE_DB, 10.0 * math.log10(power / _FULL_SCALE_POWER))


@dataclass(frozen=True, slots=True, kw_only=True)
class VadConfig:
    start_ms: int = 100  # speech needed inside the start window to open an utterance
    end_silence_ms: int = 600  # trailing non-speech that closes it (Piper's word gaps < 350 ms)
    max_utterance_ms: int = 15_000
    margin_db: float = 12.0  # above the noise floor
    min_threshold_db: float = -45.0  # never lower: mu-law hiss and clicks stay out
    pre_roll_ms: int = 200  # audio kept before the detected start (the onset is soft)
    tail_ms: int = 200  # trailing silence kept for the recogniser
    floor_window_ms: int = 3000  # the floor is the quietest frame within this window
    # Until this much audio was seen the floor is assumed at `floor_prior_db`: a call may
    # start mid-word, and the first frame must not be mistaken for the line's noise.
    floor_prior_ms: int = 500
    floor_prior_db: float = -60.0


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    start_ms: int
    end_ms: int  # just after the last speech frame
    audio: bytes  # mu-law: pre-roll + the utterance + a short tail
    # "stream_end": the call ended mid-utterance and `flush()` closed it.
    reason: Literal["silence", "max_length", "stream_end"]


VadEvent = SpeechStarted | SpeechEnded


UtteranceEndReason = Literal["silence", "max_length", "stream_end"]


def utterance_ended(
    utterance: bytearray,
    *,
    start_frame: int,
    last_speech_frame: int,
    frames: int,
    tail_frames: int,
    reason: UtteranceEndReason,
) -> SpeechEnded:
    """The `SpeechEnded` for an utterance held since `start_frame` (every endpointer's end).

    Keeps only a short tail (`tail_frames`) of the trailing silence: it costs the recogniser
    time."""
    trailing = frames - last_speech_frame
    cut = max(0, trailing - tail_frames) * ULAW_FRAME_BYTES
    return SpeechEnded(
        start_ms=(start_frame - 1) * FRAME_MS,
        end_ms=last_speech_frame * FRAME_MS,
        audio=bytes(utterance[: len(utterance) - cut]),
        reason=reason,
    )


class Endpointer:
    """Feed every inbound frame to `process`; it reports utterance starts and ends."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        c = self.config
        self._start_frames = max(1, c.start_ms // FRAME_MS)
        self._end_frames = max(1, c.end_silence_ms // FRAME_MS)
        self._max_frames = max(self._start_frames, c.max_utterance_ms // FRAME_MS)
        self._tail_frames = c.tail_ms // FRAME_MS
        # A couple of frames of slack: "100 ms of speech within 140 ms" tolerates a dip.
        self._window: deque[bool] = deque(maxlen=self._start_frames + 2)
        self._pre_roll: deque[bytes] = deque(maxlen=max(1, c.pre_roll_ms // FRAME_MS))
        self._utterance = bytearray()
        self._floor_window = max(1, c.floor_window_ms // FRAME_MS)
        self._floor_prior_frames = c.floor_prior_ms // FRAME_MS
        # Sliding-window minimum: (frame number, level), levels increasing front to back.
        self._minima: deque[tuple[int, float]] = deque()
        self.noise_floor_db = c.floor_prior_db
        self.frames = 0
        self.in_speech = False
        self.last_frame_speech = False
        self._start_frame = 0
        self._last_speech_frame = 0
        self._silence_run = 0

    @property
    def threshold_db(self) -> float:
        return max(self.config.min_threshold_db, self.noise_floor_db + self.config.margin_db)

    def process(self, frame: bytes) -> VadEvent | None:
        if len(frame) != ULAW_FRAME_BYTES:
            raise ValueError("the endpointer takes 160-byte (20 ms) mu-law frames")
        self.frames += 1
        level = frame_level_db(frame)
        self._adapt_floor(level)
        speech = level > self.threshold_db
        self.last_frame_speech = speech
        if self.in_speech:
            return self._continue(frame, speech)
        self._window.append(speech)
        self._pre_roll.append(frame)
        if speech and sum(self._window) >= self._start_frames:
            self.in_speech = True
            # The utterance began at the first speech frame still in the window.
            lead = list(self._window).index(True)
            self._start_frame = self.frames - len(self._window) + lead + 1
            self._last_speech_frame = self.frames
            self._silence_run = 0
            self._utterance = bytearray(b"".join(self._pre_roll))
            self._pre_roll.clear()
            self._window.clear()
            return SpeechStarted(start_ms=(self._start_frame - 1) * FRAME_MS)
        return None

    def _continue(self, frame: bytes, speech: bool) -> SpeechEnded | None:
        self._utterance += frame
        if speech:
            self._last_speech_frame = self.frames
            self._silence_run = 0
        else:
            self._silence_run += 1
        if self._silence_run >= self._end_frames:
            return self._end("silence")
        if self.frames - self._start_frame + 1 >= self._max_frames:
            return self._end("max_length")
        return None

    def flush(self) -> SpeechEnded | None:
        """The stream ended: close the utterance in progress, if any (what it holds was said)."""
        return self._end("stream_end") if self.in_speech else None

    # What a detector built on this endpointer asks about the utterance in progress.

    @property
    def silence_ms(self) -> int:
        """Non-speech since the utterance's last speech frame."""
        return self._silence_run * FRAME_MS

    @property
    def utterance_start_ms(self) -> int:
        return (self._start_frame - 1) * FRAME_MS

    @property
    def last_speech_ms(self) -> int:
        """Just after the utterance's last speech frame (its `SpeechEnded.end_ms` if it ended
        now)."""
        return self._last_speech_frame * FRAME_MS

    @property
    def utterance_ms(self) -> int:
        return (self.frames - self._start_frame + 1) * FRAME_MS

    def audio_so_far(self) -> bytes:
        return bytes(self._utterance)

    def end_now(self) -> SpeechEnded | None:
        """End the utterance in progress here (another judge decided the turn is over)."""
        return self._end("silence") if self.in_speech else None

    def _end(self, reason: UtteranceEndReason) -> SpeechEnded:
        event = utterance_ended(
            self._utterance,
            start_frame=self._start_frame,
            last_speech_frame=self._last_speech_frame,
            frames=self.frames,
            tail_frames=self._tail_frames,
            reason=reason,
        )
        self.in_speech = False
        self._utterance = bytearray()
        self._silence_run = 0
        return event

    def _adapt_floor(self, level: float) -> None:
        minima = self._minima
        while minima and minima[-1][1] >= level:
            minima.pop()
        minima.append((self.frames, level))
        while minima[0][0] <= self.frames - self._floor_window:
            minima.popleft()
        floor = minima[0][1]
        if self.frames <= self._floor_prior_frames:
            floor = min(floor, self.config.floor_prior_db)
        self.noise_floor_db = min(max(floor, -90.0), -20.0)
