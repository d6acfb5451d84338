"""How long a voice preview takes with the local TTS.

    uv run python -m benchmarks.preview

Loads Piper once, synthesises a 20-word sentence to MP3 five times and prints the median, next
to the time LAME alone needs for a tone of the same length: the ratio separates the cost of
the voice model from the cost of MP3 encoding on this machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from anvil_voice.speech.codec import encode_mp3
from anvil_voice.speech.local import get_local_tts

SENTENCE = (
    "Hello, this is Anvil Voice calling to confirm your appointment for tomorrow morning; "
    "does that time still work for you?"
)
RUNS = 5


def _median_ms(action: Callable[[], object]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    started = time.perf_counter()
    tts = get_local_tts()
    load_ms = (time.perf_counter() - started) * 1000
    tts.synthesize_mp3("Warm up.")  # first inference allocates ONNX buffers; not a preview cost

    pcm, rate = tts.synthesize_pcm(SENTENCE)
    seconds = len(pcm) / 2 / rate
    preview_ms = _median_ms(lambda: tts.synthesize_mp3(SENTENCE))

    t = np.arange(len(pcm) // 2) / rate
    tone = (np.sin(2 * np.pi * 440.0 * t) * 0.3 * 32767).astype(np.int16).tobytes()
    tone_ms = _median_ms(lambda: encode_mp3(tone, rate))

    print(f"words: {len(SENTENCE.split())}, audio: {seconds:.2f} s at {rate} Hz")
    print(f"piper load (once per process): {load_ms:.0f} ms")
    print(f"preview text -> MP3, median of {RUNS}: {preview_ms:.0f} ms")
    print(f"tone of the same length -> MP3 (LAME only), median of {RUNS}: {tone_ms:.1f} ms")
    print(f"ratio preview / MP3-encode baseline: {preview_ms / tone_ms:.1f}x")
    print(f"real-time factor (synthesis time / audio time): {preview_ms / 1000 / seconds:.3f}")


if __name__ == "__main__":
    main()
