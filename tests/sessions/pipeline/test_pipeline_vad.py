"""The energy endpointer on real (Piper) speech, noise, clicks and endless talkers."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_support import piper

from anvil_voice.speech.codec import frames_20ms, ulaw_silence
from anvil_voice.telephony.simulator import audio as sim_audio
from sessions.pipeline import Endpointer, VadConfig
from sessions.pipeline.vad import SpeechEnded, SpeechStarted, frame_level_db


def events(endpointer: Endpointer, ulaw: bytes) -> list[object]:
    found = []
    for frame in frames_20ms(ulaw):
        event = endpointer.process(frame)
        if event is not None:
            found.append(event)
    return found


def noise(seconds: float, level: float, seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    return sim_audio.pcm_to_ulaw(rng.normal(0, level, round(seconds * 8000)))


def speech_bounds(ulaw: bytes) -> tuple[int, int]:
    """First and last 20 ms frame with sound in it (the simulator's own -44 dBFS rule)."""
    flags = [sim_audio.is_speech(f) for f in frames_20ms(ulaw)]
    return flags.index(True), len(flags) - flags[::-1].index(True)


def test_one_sentence_is_one_utterance_with_its_pauses_inside():
    sentence = piper("Yes, that sounds great, sign me up.")
    first, last = speech_bounds(sentence)
    found = events(Endpointer(), ulaw_silence(500) + sentence + ulaw_silence(1000))

    started, ended = found
    assert isinstance(started, SpeechStarted)
    assert isinstance(ended, SpeechEnded)
    assert ended.reason == "silence"
    assert abs(started.start_ms - (500 + first * 20)) <= 60
    assert abs(ended.end_ms - (500 + last * 20)) <= 60
    # Pre-roll before the start and a short tail after the end go to the recogniser.
    assert len(ended.audio) >= (ended.end_ms - started.start_ms + 200) * 8


def test_the_end_needs_the_configured_silence():
    endpointer = Endpointer(VadConfig(end_silence_ms=300))
    hello = piper("Hello?")
    _, last = speech_bounds(hello)
    found = events(endpointer, hello[: last * 160] + ulaw_silence(280))
    assert [type(e) for e in found] == [SpeechStarted]
    found = events(endpointer, ulaw_silence(100))
    assert [type(e) for e in found] == [SpeechEnded]


def test_a_click_is_not_speech():
    click = sim_audio.tone(0.04, frequency=1000.0, amplitude=20000.0)
    assert events(Endpointer(), ulaw_silence(200) + click + ulaw_silence(1000)) == []


def test_steady_line_noise_raises_the_floor_and_speech_is_still_found():
    endpointer = Endpointer()
    hiss = noise(3.0, level=400.0)  # about -38 dBFS: louder than the absolute threshold
    assert frame_level_db(hiss[:160]) > endpointer.config.min_threshold_db
    found = events(endpointer, hiss)
    # A brief false start while the floor settles is allowed; after that, silence.
    assert all(isinstance(e, SpeechStarted | SpeechEnded) for e in found)
    assert len(found) <= 2
    assert endpointer.noise_floor_db > -45
    sentence = piper("Please call me back tomorrow.")
    mixed = sim_audio.mix(
        sentence, noise(len(sentence) / 8000, level=400.0, seed=8)[: len(sentence)]
    )
    found = events(endpointer, mixed + noise(1.0, level=400.0, seed=9))
    assert [type(e) for e in found] == [SpeechStarted, SpeechEnded]


def test_an_endless_talker_is_cut_at_the_maximum_utterance_length():
    endpointer = Endpointer(VadConfig(max_utterance_ms=1000))
    talk = piper("Well, I have been with my current provider for years and I like them a lot.")
    found = events(endpointer, talk + ulaw_silence(1000))
    ended = [e for e in found if isinstance(e, SpeechEnded)]
    # 3.8 s of talk in pieces of at most a second, each handed on as its own utterance.
    assert len(ended) >= 3
    assert all(e.reason == "max_length" for e in ended[:3])
    assert all(e.end_ms - e.start_ms <= 1000 for e in ended)
    assert not endpointer.in_speech


def test_it_takes_only_20ms_frames():
    with pytest.raises(ValueError):
        Endpointer().process(b"\xff" * 80)
