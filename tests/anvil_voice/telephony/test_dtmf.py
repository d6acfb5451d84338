"""Key presses as tones: validation, generation, and the simulator hearing them through mu-law."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from anvil_voice.telephony import dtmf
from anvil_voice.telephony.simulator import audio
from anvil_voice.telephony.simulator.dtmf import DtmfDetector, detect, frame_key
from anvil_voice.telephony.twilio import TwilioCarrier

EVERY_KEY = "0123456789*#"


class Stream:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def queue_audio(self, frames: Sequence[bytes]) -> None:
        self.frames += frames


@pytest.mark.parametrize("digits", ["1", "0123456789*#", "1w2", "ww3#", "w" * 64])
def test_it_accepts_keys_and_waits(digits):
    assert dtmf.validate_digits(digits) == digits


@pytest.mark.parametrize("digits", ["", "12a", "1 2", "A", "+1", "1W2", "1\n", "1" * 65])
def test_it_refuses_anything_else(digits):
    with pytest.raises(dtmf.InvalidDigitsError):
        dtmf.validate_digits(digits)


def test_every_key_survives_the_mu_law_round_trip():
    assert detect(dtmf.digits_ulaw(EVERY_KEY)) == EVERY_KEY


def test_a_repeated_key_counts_twice_and_w_waits_half_a_second():
    plain, waited = dtmf.digits_ulaw("11"), dtmf.digits_ulaw("1w1")

    assert detect(plain) == detect(waited) == "11"
    assert len(waited) - len(plain) == 8000 // 2
    assert dtmf.digits_duration_ms("1w1") == len(waited) // 8


def test_tones_heard_out_of_frame_step_quieter_and_in_noise_are_still_heard():
    # A receiver's 20 ms blocks need not line up with ours, the line loses level, and there is
    # hiss: -10 dB and noise at about -40 dBFS, starting 77 samples into a frame.
    samples = audio.ulaw_to_pcm(dtmf.digits_ulaw(EVERY_KEY)).astype(np.float64)
    noise = np.random.default_rng(16).normal(0, 300, len(samples))
    line = audio.pcm_to_ulaw(np.clip(samples * 0.316 + noise, -32768, 32767))

    assert detect(b"\xff" * 77 + line) == EVERY_KEY


def test_speech_like_audio_and_single_tones_are_not_keys():
    assert detect(audio.babble("press one to talk to a person, or stay on the line")) == ""
    # One tone of a pair (a dial tone, a beep) is not a key.
    assert detect(audio.tone(1.0, frequency=697.0)) == ""
    assert detect(audio.tone(1.0, frequency=1000.0)) == ""
    assert frame_key(audio.SILENCE_FRAME) is None


def test_a_key_held_for_one_frame_only_is_not_a_press():
    one_frame = dtmf.digits_frames("5")[0]
    detector = DtmfDetector()

    assert [detector.feed(f) for f in (one_frame, audio.SILENCE_FRAME)] == [None, None]
    assert [detector.feed(f) for f in (one_frame, one_frame, one_frame)] == [None, "5", None]


def test_the_twilio_carrier_presses_keys_in_band_on_the_stream():
    stream = Stream()

    duration_ms = TwilioCarrier().send_digits(stream, "1w#")

    assert duration_ms == 200 + 500 + 200 == len(stream.frames) * 20
    assert all(len(frame) == 160 for frame in stream.frames)
    assert detect(b"".join(stream.frames)) == "1#"


def test_the_carrier_refuses_bad_digits_before_sending_anything():
    stream = Stream()

    with pytest.raises(dtmf.InvalidDigitsError):
        TwilioCarrier().send_digits(stream, "1-800")
    assert stream.frames == []
