"""`BatchRecognizer`: batch STT off the event loop, one utterance at a time, with timeouts."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from anvil_voice.speech.batch import BatchRecognizer
from anvil_voice.speech.protocols import Final, ProviderError, RecognizerFailure, Transcript


@dataclass(frozen=True)
class Utterance:
    start_ms: int
    end_ms: int
    audio: bytes


class FakeSTT:
    name = "fake-whisper"

    def __init__(self, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.threads: list[int] = []

    def transcribe(self, *, audio: bytes, encoding: str, sample_rate: int) -> Transcript:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return Transcript(text=f" {len(audio)} bytes ", confidence=0.5)


def utterance(start_ms: int, end_ms: int) -> Utterance:
    return Utterance(start_ms, end_ms, b"\x7f" * 1600)


async def run_batch(stt: FakeSTT, count: int = 1, timeout: float = 2.0) -> list[Any]:
    events: list[Any] = []
    recognizer = BatchRecognizer(stt, timeout=timeout)
    await recognizer.start(events.append)
    for index in range(count):
        recognizer.end_of_utterance(utterance(index * 1000, index * 1000 + 500))
    for _ in range(200):
        if len(events) >= count:
            break
        await asyncio.sleep(0.01)
    await recognizer.aclose()
    return events


async def test_batch_transcribes_each_utterance_in_order_off_the_event_loop():
    stt = FakeSTT(delay=0.02)
    events = await run_batch(stt, count=3)
    assert events == [
        Final("1600 bytes", 0, 500, 0.5),
        Final("1600 bytes", 1000, 1500, 0.5),
        Final("1600 bytes", 2000, 2500, 0.5),
    ]
    assert threading.get_ident() not in stt.threads


async def test_batch_reports_a_provider_error_and_keeps_going():
    events = await run_batch(FakeSTT(error=ProviderError("stt_down", "down")))
    assert events == [RecognizerFailure("stt_down", "down", start_ms=0, end_ms=500)]


async def test_batch_reports_a_stall_as_a_timeout():
    events = await run_batch(FakeSTT(delay=0.5), timeout=0.05)
    # The failure names the utterance: the pipeline keeps it as an unheard turn.
    assert events == [
        RecognizerFailure("stt_timeout", "fake-whisper took over 0.05s", start_ms=0, end_ms=500)
    ]


async def test_batch_survives_an_unexpected_exception():
    [failure] = await run_batch(FakeSTT(error=RuntimeError("bug")))
    assert isinstance(failure, RecognizerFailure)
    assert failure.code == "stt_error"
    assert not failure.fatal


async def test_finish_waits_until_every_utterance_handed_over_is_answered():
    events: list[Any] = []
    recognizer = BatchRecognizer(FakeSTT(delay=0.05), timeout=2.0)
    await recognizer.start(events.append)
    recognizer.end_of_utterance(utterance(0, 500))
    recognizer.end_of_utterance(utterance(1000, 1500))
    await asyncio.wait_for(recognizer.finish(), 2)
    assert [event.start_ms for event in events] == [0, 1000]
    await recognizer.aclose()
