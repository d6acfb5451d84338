"""Turn-taking benchmark: ``uv run python -m benchmarks.turn_taking [--quick]``.

A small labelled set voiced by Piper ("joe", noise off), put on a phone line (8 kHz mu-law,
line hiss at a few levels), run frame by frame through each turn detector in stream time:

* **backchannels** ("uh-huh", "right", "okay", ...) and **noise bursts** (cough-like bursts,
  clicks) while the agent speaks: a barge-in is a false one (target <= 5 %);
* **interruptions** while the agent speaks: caught (target >= 95 %) and the time from the
  interruption's first speech frame to the barge-in (`clear`; target <= 400 ms);
* **mid-sentence pauses** of 400-900 ms put into the comma of a sentence (the words either side
  keep their "more to come" intonation), agent silent: the turn must not end at the pause
  (premature end, target <= 5 %); the time from the sentence's last speech to the end of turn
  is the end-of-turn latency.

Detectors, on the same audio in the same run: ``energy`` (energy VAD + 600 ms fixed silence,
barge-in at any speech start: the baseline), ``neural`` (Silero VAD + Smart Turn v3.2, audio
only, as with the local batch Whisper), ``neural+words`` (the same with a streaming recogniser's
interim text for the utterance's words given 300 ms after its speech began, as Deepgram would),
``semantic`` (the default: energy VAD, the barge-in policy, and at each 300 ms pause the words
so far from local Whisper, judged by `turn_completion`; each answer lands as many frames later
as Whisper took on this box) and ``semantic+words`` (the same with the interims).

Piper's audio is cached under the temp dir (``anvil-turn-taking/``), never in git.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anvil_voice.speech.codec import frames_20ms
from anvil_voice.speech.local import get_local_stt
from anvil_voice.telephony.simulator import audio as sim_audio
from benchmarks.support import percentile
from sessions.pipeline.neural_turn import NeuralTurnDetector, turn_models
from sessions.pipeline.semantic_turn import SemanticTurnDetector
from sessions.pipeline.turn_completion import looks_unfinished
from sessions.pipeline.turn_detection import (
    BargeIn,
    EnergyTurnDetector,
    TurnCheck,
    TurnDetector,
)
from sessions.pipeline.vad import SpeechEnded

RATE = 8000
CACHE = Path(tempfile.gettempdir()) / "anvil-turn-taking"
INTERIM_AFTER_MS = 300

BACKCHANNELS = ["Uh-huh.", "Mm-hmm.", "Right.", "Okay.", "Yeah.", "Yep.", "Sure.", "I see."]
INTERRUPTIONS = [
    "Wait, stop, I have a question.",
    "Hold on, who is this?",
    "Sorry, can I ask something first?",
    "No, I'm not interested, thanks.",
    "Actually, how much does it cost?",
    "Excuse me, I'm busy right now.",
    "Can you call me back later?",
    "Hang on, what company is this?",
]
PAUSED = [
    "My number is five five five, one two three four.",
    "I was thinking, maybe next week would work.",
    "Let me check, I think it is on the fourteenth.",
    "The address is twelve Oak Street, apartment four.",
    "We already have a provider, but I might switch.",
]
PAUSES_MS = [400, 550, 700, 900]


# -- audio --------------------------------------------------------------------------------------


def speak(text: str) -> bytes:
    """Piper at 8 kHz mu-law, cached on disk between runs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (hashlib.sha256(text.encode()).hexdigest()[:16] + ".ulaw")
    if path.exists():
        return path.read_bytes()
    from anvil_voice.speech.local import get_local_tts

    audio = get_local_tts().synthesize_ulaw8k(text, exact=True)
    path.write_bytes(audio)
    return audio


def silence_pcm(ms: int) -> np.ndarray:
    return np.zeros(ms * RATE // 1000)


def to_pcm(ulaw: bytes) -> np.ndarray:
    return sim_audio.ulaw_to_pcm(ulaw).astype(np.float64)


def on_the_line(pcm: np.ndarray, *, noise: float, gain: float, seed: int) -> bytes:
    """Scale, add line hiss (RMS `noise` in 16-bit units) and encode as mu-law."""
    rng = np.random.default_rng(seed)
    mixed = pcm * gain + rng.normal(0, noise, len(pcm))
    return sim_audio.pcm_to_ulaw(np.clip(mixed, -32768, 32767))


def onset_ms(pcm: np.ndarray) -> int:
    """First 20 ms frame with speech in the clean audio (the simulator's -44 dBFS rule)."""
    flags = [sim_audio.is_speech(f) for f in frames_20ms(sim_audio.pcm_to_ulaw(pcm))]
    return flags.index(True) * 20


def speech_end_ms(pcm: np.ndarray) -> int:
    flags = [sim_audio.is_speech(f) for f in frames_20ms(sim_audio.pcm_to_ulaw(pcm))]
    return (len(flags) - flags[::-1].index(True)) * 20


def cough(seed: int) -> np.ndarray:
    """A cough-like burst: band-passed noise, sharp attack, 150-300 ms decay."""
    rng = np.random.default_rng(seed)
    length = int(RATE * rng.uniform(0.15, 0.3))
    noise = rng.normal(0, 1, length)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(length, 1 / RATE)
    spectrum[(freqs < 300) | (freqs > 2500)] = 0
    burst = np.fft.irfft(spectrum, length)
    envelope = np.exp(-np.arange(length) / (length / 4))
    burst = burst * envelope
    return burst / np.max(np.abs(burst)) * rng.uniform(6000, 14000)


def clicks(seed: int) -> np.ndarray:
    """A few clicks (handset knocks): 5-15 ms impulses 100-300 ms apart."""
    rng = np.random.default_rng(seed)
    out = np.zeros(RATE)
    at = 0
    for _ in range(int(rng.integers(2, 5))):
        at += int(RATE * rng.uniform(0.1, 0.3))
        length = int(RATE * rng.uniform(0.005, 0.015))
        if at + length >= len(out):
            break
        out[at : at + length] = rng.normal(0, 12000, length) * np.hanning(length)
    return out


# -- cases --------------------------------------------------------------------------------------


WARM_UP_MS = 3000


@dataclass(frozen=True)
class Case:
    kind: str  # backchannel | noise | interruption | pause
    label: str
    audio: bytes  # mu-law on the line, lead-in included
    warm_up: bytes  # line noise before it, agent silent: the detectors settle, nothing counted
    agent_speaking: bool
    onset_ms: int = 0  # interruption: first speech
    words: str = ""  # what a streaming recogniser would say
    pause_end_ms: int = 0  # pause: the pause ends here (an end before it is premature)
    speech_end_ms: int = 0  # the caller's last speech


def build_cases(quick: bool) -> list[Case]:
    lines = [(150.0, 1.0, 1), (400.0, 0.6, 2)] + ([] if quick else [(250.0, 1.3, 3)])
    lead = silence_pcm(1000)
    cases: list[Case] = []
    for noise, gain, seed in lines:
        line = {"noise": noise, "gain": gain}
        warm = on_the_line(silence_pcm(WARM_UP_MS), seed=seed + 100, **line)
        for text in BACKCHANNELS:
            pcm = np.concatenate((lead, to_pcm(speak(text)), silence_pcm(2500)))
            audio = on_the_line(pcm, seed=seed, **line)
            cases.append(Case("backchannel", text, audio, warm, True, words=text))
        for index in range(4):
            burst = cough(seed * 10 + index) if index % 2 == 0 else clicks(seed * 10 + index)
            pcm = np.concatenate((lead, burst, silence_pcm(2000)))
            name = "cough" if index % 2 == 0 else "clicks"
            cases.append(Case("noise", name, on_the_line(pcm, seed=seed, **line), warm, True))
        for text in INTERRUPTIONS:
            speech = to_pcm(speak(text))
            pcm = np.concatenate((lead, speech, silence_pcm(1000)))
            cases.append(
                Case(
                    "interruption",
                    text,
                    on_the_line(pcm, seed=seed, **line),
                    warm,
                    True,
                    onset_ms=1000 + onset_ms(speech * gain),
                    words=text,
                )
            )
        for index, text in enumerate(PAUSED):
            for pause in PAUSES_MS if not quick else PAUSES_MS[index % 2 :: 2]:
                first, rest = split_at_comma(to_pcm(speak(text)))
                pcm = np.concatenate((lead, first, silence_pcm(pause), rest, silence_pcm(3000)))
                pause_end = 1000 + (len(first) * 1000 // RATE) + pause
                cases.append(
                    Case(
                        "pause",
                        f"{text} [{pause} ms]",
                        on_the_line(pcm, seed=seed, **line),
                        warm,
                        False,
                        pause_end_ms=pause_end,
                        speech_end_ms=pause_end + speech_end_ms(rest),
                    )
                )
    return cases


def split_at_comma(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The words before and after the longest word gap (Piper's comma), the gap taken out: the
    pause put between them is then the whole silence."""
    flags = [sim_audio.is_speech(f) for f in frames_20ms(sim_audio.pcm_to_ulaw(pcm))]
    first, last = flags.index(True), len(flags) - flags[::-1].index(True)
    best, start = (0, 0), None
    for index in range(first, last):
        if not flags[index] and start is None:
            start = index
        elif flags[index] and start is not None:
            best = max(best, (index - start, start))
            start = None
    length, gap = best
    return pcm[: gap * 160], pcm[(gap + length) * 160 :]


# -- running ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    barge_in_ms: int | None = None  # stream ms of the first barge-in
    ends: list[int] | None = None  # stream ms of each end of turn


def run_case(case: Case, detector: TurnDetector, *, words: bool) -> Outcome:
    outcome = Outcome(ends=[])
    assert outcome.ends is not None
    frame_ms = 0
    speech_started_ms: int | None = None
    interim_sent = False
    for frame in frames_20ms(case.warm_up):
        detector.process(frame, agent_speaking=False)
    for _ in range(1000):  # a false start on the warm-up noise: let it close
        if not detector.in_speech:
            break
        detector.process(frames_20ms(case.warm_up)[-1], agent_speaking=False)
    # Turn checks answered by speculative recognition (the semantic detector): the answer is
    # resolved as many frames later as Whisper took on this box, as in a live call.
    answers: list[tuple[int, TurnCheck, float]] = []
    for frame in frames_20ms(case.audio):
        frame_ms += 20
        events = detector.process(frame, agent_speaking=case.agent_speaking)
        for due, check, probability in [a for a in answers if a[0] <= frame_ms]:
            answers.remove((due, check, probability))
            ended = detector.resolve(check, probability)
            if ended is not None:
                events.append(ended)
        for event in events:
            if isinstance(event, BargeIn) and outcome.barge_in_ms is None:
                outcome.barge_in_ms = frame_ms
            elif isinstance(event, SpeechEnded):
                outcome.ends.append(frame_ms)
                speech_started_ms = None
                interim_sent = False
            elif isinstance(event, TurnCheck):
                begun = time.perf_counter()
                text = (
                    get_local_stt()
                    .transcribe(audio=event.audio, encoding="ulaw", sample_rate=8000)
                    .text
                )
                took_ms = (time.perf_counter() - begun) * 1000
                probability = 0.0 if looks_unfinished(text) else 1.0
                answers.append((frame_ms + max(20, round(took_ms / 20) * 20), event, probability))
        if detector.in_speech and speech_started_ms is None:
            speech_started_ms = frame_ms
        if (
            words
            and case.words
            and not interim_sent
            and speech_started_ms is not None
            and frame_ms - speech_started_ms >= INTERIM_AFTER_MS
        ):
            interim_sent = True
            barge = detector.heard_words(case.words, agent_speaking=case.agent_speaking)
            if barge is not None and outcome.barge_in_ms is None:
                outcome.barge_in_ms = frame_ms
    return outcome


DETECTORS: dict[str, tuple[Callable[[], TurnDetector], bool]] = {
    "energy": (lambda: EnergyTurnDetector(), False),
    "neural": (lambda: NeuralTurnDetector(inline=True), False),
    "neural+words": (lambda: NeuralTurnDetector(inline=True), True),
    # The default: energy VAD + the barge-in policy + the words at a pause (local Whisper,
    # speculatively, at the box's real speed); "+words" adds a streaming recogniser's interims.
    "semantic": (lambda: SemanticTurnDetector(), False),
    "semantic+words": (lambda: SemanticTurnDetector(), True),
}


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} % ({part}/{whole})" if whole else "-"


def summarise(name: str, cases: list[Case], outcomes: list[Outcome]) -> None:
    pairs = list(zip(cases, outcomes, strict=True))
    overlapped = [(c, o) for c, o in pairs if c.kind in ("backchannel", "noise")]
    false_bc = sum(o.barge_in_ms is not None for c, o in overlapped if c.kind == "backchannel")
    false_noise = sum(o.barge_in_ms is not None for c, o in overlapped if c.kind == "noise")
    n_bc = sum(c.kind == "backchannel" for c, _ in overlapped)
    n_noise = sum(c.kind == "noise" for c, _ in overlapped)
    interruptions = [(c, o) for c, o in pairs if c.kind == "interruption"]
    # A barge-in before the interruption began was set off by the line, not by the caller.
    delays = [
        o.barge_in_ms - c.onset_ms
        for c, o in interruptions
        if o.barge_in_ms is not None and o.barge_in_ms >= c.onset_ms
    ]
    within = sum(d <= 400 for d in delays)
    paused = [(c, o) for c, o in pairs if c.kind == "pause"]
    premature = sum(any(end < c.pause_end_ms for end in o.ends or []) for c, o in paused)
    eot = [
        min(e for e in o.ends or [] if e >= c.pause_end_ms) - c.speech_end_ms
        for c, o in paused
        if any(e >= c.pause_end_ms for e in o.ends or [])
    ]
    print(f"  {name}")
    print(
        f"    false barge-in: backchannels {pct(false_bc, n_bc)}, "
        f"noise bursts {pct(false_noise, n_noise)}, "
        f"all {pct(false_bc + false_noise, n_bc + n_noise)}"
    )
    if delays:
        print(
            f"    interruptions: caught {pct(len(delays), len(interruptions))}, "
            f"clear within 400 ms {pct(within, len(interruptions))}, "
            f"onset -> clear p50 {statistics.median(delays):.0f} ms, "
            f"p90 {percentile(delays, 90):.0f} ms"
        )
    else:
        print(f"    interruptions: caught {pct(0, len(interruptions))}")
    line = f"    mid-sentence pauses: premature end of turn {pct(premature, len(paused))}"
    if eot:
        line += (
            f"; end of turn after the last word p50 {statistics.median(eot):.0f} ms, "
            f"p90 {percentile(eot, 90):.0f} ms"
        )
    print(line)


def main(quick: bool) -> None:
    started = time.monotonic()
    cases = build_cases(quick)
    counts = {
        kind: sum(c.kind == kind for c in cases) for kind in dict.fromkeys(c.kind for c in cases)
    }
    print(f"Turn-taking set: {len(cases)} cases {counts} (audio cached in {CACHE})", flush=True)
    turn_models()  # load once, outside the timings
    get_local_stt()
    results: dict[str, list[Outcome]] = {}
    for name, (make, words) in DETECTORS.items():
        begun = time.monotonic()
        # Words change only the worded cases.
        same = results.get(name.removesuffix("+words")) if words else None
        outcomes = [
            same[index]
            if same is not None and not case.words
            else run_case(case, make(), words=words)
            for index, case in enumerate(cases)
        ]
        results[name] = outcomes
        summarise(name, cases, outcomes)
        print(f"    ({time.monotonic() - begun:.1f} s)", flush=True)
    models = turn_models()
    silent = bytes([0xFF]) * (8 * RATE)
    timings = []
    for _ in range(5):
        begun = time.perf_counter()
        models.smart_turn_probability(silent)
        timings.append((time.perf_counter() - begun) * 1000)
    p50 = statistics.median(timings)
    print(f"  Smart Turn v3.2, one decision (8 s, features + inference, 1 thread): {p50:.0f} ms")
    print(f"Done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="two line conditions, fewer pauses")
    args = parser.parse_args()
    main(args.quick)
