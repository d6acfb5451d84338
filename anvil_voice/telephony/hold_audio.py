"""The hold audio a caller hears while a warm transfer rings the person: made here, not fetched.

A soft four-note arpeggio (C5 E5 G5 E5, half a second each, with short fades so the notes do
not click), as an 8 kHz mono 16-bit WAV: what Twilio's `<Play>` accepts, small (64 KB for four
seconds), and looped by the `<Play loop="0">` of the conference's `waitUrl` TwiML.
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from functools import cache

SAMPLE_RATE = 8000
NOTES_HZ = (523.25, 659.25, 783.99, 659.25)
NOTE_SECONDS = 0.5
FADE_SECONDS = 0.05
# Quiet: hold audio sits well under a voice (full scale is 32767).
AMPLITUDE = 5000


@cache
def hold_audio_wav() -> bytes:
    samples = array("h")
    per_note = round(NOTE_SECONDS * SAMPLE_RATE)
    fade = round(FADE_SECONDS * SAMPLE_RATE)
    for _round in range(2):
        for frequency in NOTES_HZ:
            for index in range(per_note):
                envelope = min(1.0, index / fade, (per_note - index) / fade)
                value = (
                    AMPLITUDE * envelope * math.sin(2 * math.pi * frequency * index / SAMPLE_RATE)
                )
                samples.append(round(value))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()
