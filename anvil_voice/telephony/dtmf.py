"""Key presses as sound: validated digit strings and in-band DTMF tones in 20 ms mu-law frames.

The agent presses keys on a live call by playing the tones into the call's own Media Stream,
like a phone does. Twilio's other way, `<Play digits>` through a call update, replaces the
call's TwiML and so ends the `<Connect><Stream>` the conversation runs on (docs/decisions.md,
"The keypad"). A Media Stream accepts only `media`, `mark` and `clear` from us: there is no
message that sends a digit, so in-band it is.

Timing follows what exchanges and IVRs expect of a keypad (ITU-T Q.24 asks for at least 40 ms
of tone and 40 ms of pause; we play 100 ms of each, five frames, so a receiver that samples in
20 ms blocks sees three or more whole frames of every tone). ``w`` waits half a second, as in
Twilio's `<Play digits>`.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Callable, Sequence
from typing import Protocol

from anvil_voice.speech.codec import (
    PHONE_SAMPLE_RATE,
    frames_20ms,
    pcm16_to_ulaw,
    ulaw_silence,
)

# What a caller of `send_digits` may ask for: keys and half-second waits. Bounded, because a
# digit string rides in a tool call or a script and a megabyte of "w" is 70 hours of silence.
DIGITS_PATTERN = re.compile(r"^[0-9*#w]{1,64}$")
KEYS = "0123456789*#"
WAIT = "w"

# Low (row) and high (column) frequency of each key, Hz.
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0)
LAYOUT = ("123", "456", "789", "*0#")
FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (ROWS[row], COLUMNS[column])
    for row, keys in enumerate(LAYOUT)
    for column, key in enumerate(keys)
}

TONE_MS = 100
GAP_MS = 100
WAIT_MS = 500
# Each of the two tones at about -9 dBFS: loud enough to survive mu-law and a phone line's
# loss, with headroom so the sum never clips.
TONE_AMPLITUDE = 11_000


class InvalidDigitsError(ValueError):
    """A digit string outside `^[0-9*#w]{1,64}$`."""


def validate_digits(digits: str) -> str:
    """`digits` unchanged when it is a valid key sequence; raises InvalidDigitsError."""
    if not isinstance(digits, str) or not DIGITS_PATTERN.fullmatch(digits):
        raise InvalidDigitsError(
            f"Digits must be 1 to 64 of 0-9, *, # and w (a half-second wait); got {digits!r}."
        )
    return digits


def _tone(key: str) -> bytes:
    low, high = FREQUENCIES[key]
    count = PHONE_SAMPLE_RATE * TONE_MS // 1000
    step_low = 2 * math.pi * low / PHONE_SAMPLE_RATE
    step_high = 2 * math.pi * high / PHONE_SAMPLE_RATE
    samples = array(
        "h",
        (
            round(TONE_AMPLITUDE * (math.sin(step_low * n) + math.sin(step_high * n)))
            for n in range(count)
        ),
    )
    return pcm16_to_ulaw(samples.tobytes())


_TONES = {key: _tone(key) for key in KEYS}


def digits_ulaw(digits: str) -> bytes:
    """The key presses of `digits` as 8 kHz mu-law: each key's tone then a pause; ``w`` adds
    half a second. Validated first (InvalidDigitsError)."""
    validate_digits(digits)
    parts: list[bytes] = []
    for key in digits:
        if key == WAIT:
            parts.append(ulaw_silence(WAIT_MS))
        else:
            parts += [_TONES[key], ulaw_silence(GAP_MS)]
    return b"".join(parts)


def digits_frames(digits: str) -> list[bytes]:
    """`digits_ulaw` cut into whole 20 ms frames (the Media Stream's unit)."""
    # Every part is a whole number of frames, so no frame is padded.
    return frames_20ms(digits_ulaw(digits))


def digits_duration_ms(digits: str) -> int:
    """How long playing `digits` takes."""
    validate_digits(digits)
    return sum(WAIT_MS if key == WAIT else TONE_MS + GAP_MS for key in digits)


class LiveStream(Protocol):
    """A call's open media stream, as the live conversation holds it: what a carrier needs to
    press keys on the call in-band (`Carrier.send_digits`)."""

    def queue_audio(self, frames: Sequence[bytes]) -> None:
        """Play these 20 ms mu-law frames to the caller after what is already queued."""


# `Carrier.send_digits`: press keys on a live call; returns how long they take to play (ms).
DigitSender = Callable[[LiveStream, str], int]


def send_digits_in_band(call: LiveStream, digits: str) -> int:
    """Press `digits` on `call` as DTMF tones in its outbound audio (InvalidDigitsError first,
    nothing queued). Returns the milliseconds the presses take to play."""
    frames = digits_frames(digits)
    call.queue_audio(frames)
    return len(frames) * 20
