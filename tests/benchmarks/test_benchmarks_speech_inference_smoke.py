"""Smoke test of `benchmarks.speech_inference`: simulated calls run turns through each way and
the table comes out (instant fake models: the real ones are the benchmark's own business)."""

from __future__ import annotations

from collections.abc import Iterator

from anvil_voice.speech.inference import InferenceExecutor
from anvil_voice.speech.protocols import InputEncoding, Transcript
from benchmarks import speech_inference


class FakeSTT:
    name = "fake"

    def transcribe(self, *, audio: bytes, encoding: InputEncoding, sample_rate: int) -> Transcript:
        return Transcript(text=f"{len(audio)} bytes", confidence=None)


class FakeVoice:
    def iter_ulaw8k(self, text: str) -> Iterator[bytes]:
        yield from (b"\xff" * 80 for _ in text.split(". "))

    def synthesize_ulaw8k(self, text: str, *, exact: bool = False) -> bytes:
        return b"\xff" * 80


async def test_calls_run_turns_through_each_way_and_the_ratios_are_printed(capsys):
    executor = InferenceExecutor(workers=2, name="bench-smoke")
    ways = [
        speech_inference.Way("old", FakeSTT(), FakeVoice(), speech_inference.old_run),
        speech_inference.Way(
            "new", FakeSTT(), FakeVoice(), speech_inference.executor_run(executor)
        ),
    ]
    utterances = [b"\xff" * 400]  # 50 ms of speech: the simulated caller speaks fast
    try:
        results = {
            2: {
                way.name: await speech_inference.level(
                    way, 2, 60.0, utterances, stagger=0, max_turns=1
                )
                for way in ways
            }
        }
    finally:
        executor.shutdown()

    summary = speech_inference.report(results)

    for way in ("old", "new"):
        figures = results[2][way]
        assert len(figures.final_ms) == len(figures.first_audio_ms) == 2
        assert len(figures.second_audio_ms) == 2
        assert len(figures.speculative_ms) == 2
        assert summary["levels"][2][way]["turns"] == 2
    assert "2 new/old ratio" in capsys.readouterr().out
