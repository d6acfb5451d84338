"""How long a voice preview takes with the local TTS.

    uv run python -m benchmarks.preview

Loads Piper once, synthesises a 20-word sentence to MP3 five times and prints the median, next
to the time LAME alone needs for a tone of the same length: the ratio separates the cost of
the voice model from the cost of MP3 encoding on this machine.
"""

from __future__ import annotations

import time

from anvil_voice.speech.codec import encode_mp3
from anvil_voice.speech.local import get_local_tts
from benchmarks.support import median_ms, tone_like

SENTENCE = (
    "Hello, this is Anvil Voice calling to confirm your appointment for tomorrow morning; "
    "does that time still work for you?"
)
RUNS = 5


def main() -> None:
    started = time.perf_counter()
    tts = get_local_tts()
    load_ms = (time.perf_counter() - started) * 1000
    tts.synthesize_mp3("Warm up.")  # first inference allocates ONNX buffers; not a preview cost

    pcm, rate = tts.synthesize_pcm(SENTENCE)
    seconds = len(pcm) / 2 / rate
    preview_ms = median_ms(lambda _: tts.synthesize_mp3(SENTENCE), RUNS)

    tone = tone_like(pcm, rate)
    tone_ms = median_ms(lambda _: encode_mp3(tone, rate), RUNS)

    print(f"words: {len(SENTENCE.split())}, audio: {seconds:.2f} s at {rate} Hz")
    print(f"piper load (once per process): {load_ms:.0f} ms")
    print(f"preview text -> MP3, median of {RUNS}: {preview_ms:.0f} ms")
    print(f"tone of the same length -> MP3 (LAME only), median of {RUNS}: {tone_ms:.1f} ms")
    print(f"ratio preview / MP3-encode baseline: {preview_ms / tone_ms:.1f}x")
    print(f"real-time factor (synthesis time / audio time): {preview_ms / 1000 / seconds:.3f}")


if __name__ == "__main__":
    main()
