"""TTS cache benchmark: ``python -m benchmarks.tts_cache [--lines 20] [--rounds 1]``.

First audio of a scripted call's sentences through local Piper, as the live pipeline gets it
(`synthesize_frames` over the call's voice → the first 20 ms frame), cold (an empty cache: every
sentence is synthesised on demand, today's behaviour) and warmed (`CachingVoiceProvider.warm`
ran first, as a live call does while the callee says "Hello?"). Same process, same run, same
sentences: the opening as rendered for a contact first, then the closing, objection responses
and fixed phrases (`sessions.pipeline.warm_up.call_sentences`). Also reports how long the
warm-up took: for the opening (it races the callee's "Hello?" and the greeting wait) and for
all the sentences (background CPU, spent once per new line per process).

Needs no database: the cache is built here with the default byte budget.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from anvil_voice.speech.cache import DEFAULT_CACHE_BYTES, AudioCache, CachingVoiceProvider
from anvil_voice.speech.local import LOCAL_VOICE_ID, LocalVoiceProvider, get_local_tts
from benchmarks.support import percentile
from scripts.engine import CallContext, ObjectionResponse, ScriptedAgent, ScriptSpec
from sessions.pipeline.config import PipelineConfig
from sessions.pipeline.tts_stream import synthesize_frames
from sessions.pipeline.warm_up import call_sentences

# The live-call tests' solar script (tests/sessions/live_call_support.py), for one contact.
SCRIPT = ScriptSpec(
    opening_line="Hi {{first_name}}, it's Sam from Anvil Solar, want to hear about our plan?",
    closing_line="Great, we will be in touch, goodbye!",
    objection_responses=(
        ObjectionResponse(
            "We already have a provider",
            "Many people switch from their old provider and save, shall I tell you more?",
        ),
        ObjectionResponse(
            "How much does it cost", "It costs nothing to start, would you like to sign up?"
        ),
    ),
)


async def first_frames_ms(voice: CachingVoiceProvider, sentences: list[str]) -> list[float]:
    """Request → first frame, per sentence, one after the other (each played out in full)."""
    timings = []
    for text in sentences:
        started = time.perf_counter()
        first: float | None = None
        async for _frame in synthesize_frames(
            voice,
            voice_id=LOCAL_VOICE_ID,
            text=text,
            first_audio_timeout=60,
            stall_timeout=60,
        ):
            if first is None:
                first = (time.perf_counter() - started) * 1000
        assert first is not None
        timings.append(first)
    return timings


async def run(lines: int, rounds: int) -> None:
    agent = ScriptedAgent(SCRIPT, CallContext(variables={"first_name": "Jane"}))
    sentences = (await call_sentences(agent, PipelineConfig()))[:lines]
    get_local_tts().synthesize_ulaw8k("Hello.")  # load Piper before anything is timed
    cold: list[float] = []
    warm: list[float] = []
    warm_up_ms: list[float] = []
    opening_ms: list[float] = []
    for _ in range(rounds):
        # Cold: a fresh, empty cache each round (what a call got before the cache).
        voice = CachingVoiceProvider(
            LocalVoiceProvider(), cache=AudioCache(max_bytes=DEFAULT_CACHE_BYTES)
        )
        # The cache would keep the lines; clearing after each keeps every request cold.
        for text in sentences:
            cold += await first_frames_ms(voice, [text])
            voice.cache.clear()
        started = time.perf_counter()
        made = await voice.warm(LOCAL_VOICE_ID, sentences[:1])  # what a call warms first
        opening_ms.append((time.perf_counter() - started) * 1000)
        made += await voice.warm(LOCAL_VOICE_ID, sentences)
        warm_up_ms.append((time.perf_counter() - started) * 1000)
        assert made == len(sentences), (made, len(sentences))
        warm += await first_frames_ms(voice, sentences)
    cold_p50, warm_p50 = statistics.median(cold), statistics.median(warm)
    print(f"sentences: {len(sentences)} x {rounds} round(s); first: {sentences[0]!r}")
    print(
        f"first frame, cold (Piper on demand):  p50 {cold_p50:7.1f} ms  "
        f"p95 {percentile(cold, 95):7.1f} ms"
    )
    print(
        f"first frame, warmed cache:            p50 {warm_p50:7.3f} ms  "
        f"p95 {percentile(warm, 95):7.3f} ms"
    )
    print(f"ratio warmed / cold (p50): {warm_p50 / cold_p50:.6f}")
    print(
        f"warm-up: the opening sentence ready after {statistics.median(opening_ms):.0f} ms, "
        f"all {len(sentences)} sentences (one at a time) after "
        f"{statistics.median(warm_up_ms):.0f} ms (medians over rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20, help="sentences per round")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.lines, args.rounds))


if __name__ == "__main__":
    main()
