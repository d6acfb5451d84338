"""DTMF benchmark: ``python -m benchmarks.dtmf [--trials 40] [--no-piper]``.

How reliably the keys the agent presses (`anvil_voice.telephony.dtmf`, in-band tones in 8 kHz
mu-law) are heard by the simulator's Goertzel detector (`telephony.simulator.dtmf`), i.e. what a
phone menu on the far end would see, through the mu-law codec:

- detection: random 6-key sequences from all twelve keys, at line levels 0 / -10 / -20 / -30 dB,
  white noise at several signal-to-noise ratios, a random sample offset against the receiver's
  20 ms blocks; a trial passes when exactly the sent keys are heard, in order. Also with tones
  shortened to 60 and 40 ms (the standard's minimum) and gaps to match: ours are 100 ms.
- talk-off: keys "heard" in speech that has none: local Piper saying the live-call lines (or the
  simulator's babble with ``--no-piper``), per minute of audio.
- cost: detector time per frame, as a ratio to the mu-law decode of the same frame (the baseline
  every frame pays anyway) and to the per-sample Goertzel recursion it replaces.

Needs no database.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

from anvil_voice.telephony import dtmf
from anvil_voice.telephony.simulator import audio
from anvil_voice.telephony.simulator import dtmf as detector

LEVELS_DB = (0, -10, -20, -30)
SNRS_DB = (None, 20, 10, 6)
TONE_MS = (100, 60, 40)
SENTENCES = (
    "Hi Jane, it's Sam from Anvil Solar, want to hear about our plan?",
    "Press 1 to talk to a person, or 2 and we will call you back later.",
    "Many people switch from their old provider and save, shall I tell you more?",
    "It costs nothing to start, would you like to sign up?",
    "Great, we will be in touch, goodbye!",
    "Sorry, I didn't catch that. Could you say that again?",
    "Understood, we won't call you again. Goodbye.",
    "My number is five five five, one two three four.",
    "Hello? Yes, speaking. Who is this?",
    "I'm busy right now, can you call me back tomorrow at three?",
)


def keys_audio(keys: str, tone_ms: int) -> np.ndarray:
    """`keys` as 16-bit samples: each tone `tone_ms` long, then as much silence."""
    samples = []
    count = 8 * tone_ms
    for key in keys:
        tone = audio.ulaw_to_pcm(dtmf.digits_ulaw(key)[: 8 * dtmf.TONE_MS])[:count]
        samples += [tone.astype(np.float64), np.zeros(count)]
    return np.concatenate(samples)


def line(samples: np.ndarray, level_db: float, snr_db: float | None, rng: random.Random) -> bytes:
    """Through a line: attenuated, with white noise at `snr_db` under the tones, offset by a
    random number of samples, encoded as mu-law."""
    gain = 10 ** (level_db / 20)
    out = samples * gain
    if snr_db is not None:
        signal = out[out != 0]
        power = float(np.mean(signal * signal)) if len(signal) else 1.0
        noise_rms = math.sqrt(power / 10 ** (snr_db / 10))
        out = out + np.random.default_rng(rng.randrange(2**32)).normal(0, noise_rms, len(out))
    offset = np.zeros(rng.randrange(audio.FRAME_BYTES))
    padded = np.concatenate([offset, out, np.zeros(8 * 200)])
    return audio.pcm_to_ulaw(np.clip(padded, -32768, 32767))


def detection_table(trials: int, seed: int = 16) -> list[tuple[int, int, str, float, int]]:
    """(tone ms, level dB, SNR, share of trials heard exactly, wrong keys heard)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test signals, not secrets
    rows = []
    for tone_ms in TONE_MS:
        for level in LEVELS_DB:
            for snr in SNRS_DB:
                exact = wrong = 0
                for _ in range(trials):
                    keys = "".join(rng.choice(dtmf.KEYS) for _ in range(6))
                    heard = detector.detect(line(keys_audio(keys, tone_ms), level, snr, rng))
                    exact += heard == keys
                    wrong += sum(1 for key in heard if key not in keys)
                snr_label = "none" if snr is None else f"{snr} dB"
                rows.append((tone_ms, level, snr_label, exact / trials, wrong))
    return rows


def talk_off(use_piper: bool) -> tuple[str, float, int]:
    """(what was said, minutes of speech, keys heard in it)."""
    if use_piper:
        from anvil_voice.speech.local import get_local_tts

        tts = get_local_tts()
        speech = b"".join(tts.synthesize_ulaw8k(text) for text in SENTENCES * 3)
        source = "Piper, 10 sentences x 3 (noise on)"
    else:
        speech = b"".join(audio.babble(text) for text in SENTENCES * 3)
        source = "simulator babble"
    return source, len(speech) / 8000 / 60, len(detector.detect(speech))


def _goertzel_recursion(frame: bytes) -> float:
    """The per-sample recursion, for one frequency set (the alternative, for the ratio)."""
    samples = audio.ulaw_to_pcm(frame).astype(np.float64)
    total = 0.0
    for frequency in (*detector.ROWS, *detector.COLUMNS):
        coefficient = 2 * math.cos(2 * math.pi * frequency / audio.SAMPLE_RATE)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coefficient * s1 - s2, s1
        total += s1 * s1 + s2 * s2 - coefficient * s1 * s2
    return total


def per_frame_us(function: object, frames: list[bytes], rounds: int = 5) -> float:
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        for frame in frames:
            function(frame)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - started) / len(frames))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--no-piper", action="store_true")
    args = parser.parse_args()

    print(f"detection: {args.trials} trials of 6 random keys per row")
    print("tone ms | level dB | SNR | heard exactly | wrong keys")
    for tone_ms, level, snr, share, wrong in detection_table(args.trials):
        print(f"{tone_ms:7} | {level:8} | {snr:>7} | {share:13.1%} | {wrong}")

    source, minutes, false_keys = talk_off(not args.no_piper)
    print(f"talk-off: {false_keys} keys in {minutes:.2f} min of speech ({source})")

    frames = [f for f in dtmf.digits_frames(dtmf.KEYS)]
    frames += [audio.babble("speech like frames")[i : i + 160] for i in range(0, 8000, 160)]
    frames = [f for f in frames if len(f) == 160]
    decode = per_frame_us(audio.ulaw_to_pcm, frames)
    ours = per_frame_us(detector.frame_key, frames)
    recursion = per_frame_us(_goertzel_recursion, frames[:40], rounds=2)
    print(
        f"cost per frame: detector {ours:.1f} us, mu-law decode {decode:.1f} us "
        f"(ratio {ours / decode:.1f}), per-sample recursion {recursion:.0f} us "
        f"(ratio {ours / recursion:.3f})"
    )


if __name__ == "__main__":
    main()
