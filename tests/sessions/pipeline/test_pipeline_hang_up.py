"""Nothing heard is lost: words said just before a hang-up are recognised and acted on, and
speech recognition could not make words of is kept as an unheard turn."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pipeline_support import SCRIPT, FakeRecognizer, make_call, piper

from anvil_voice.speech.codec import frames_20ms
from scripts.engine import Outcome
from scripts.engine.types import MarkDoNotCall, ScheduleCallback
from sessions.pipeline import CallEndReason, Final, PipelineConfig
from sessions.pipeline.vad import SpeechEnded

HELLO = "Hello?"
OPT_OUT = "Please take me off your list."
CALLBACK = "Call me back tomorrow at 3 pm."


class SlowRecognizer(FakeRecognizer):
    """Answers each utterance after `delay` seconds of wall clock (forever when None)."""

    def __init__(self, answers: list[str], *, delay: float | None) -> None:
        super().__init__(answers)
        self.delay = delay
        self.in_flight: set[asyncio.Task[Any]] = set()

    def end_of_utterance(self, utterance: SpeechEnded) -> None:
        self.utterances.append(utterance)
        answer = self.answers.popleft() if self.answers else ""
        if not self.in_flight and not self.utterances[:-1]:
            # The greeting is answered at once; the rest take their time.
            assert self.emit is not None
            self.emit(Final(answer, utterance.start_ms, utterance.end_ms, 0.9))
            return
        task = asyncio.create_task(self._answer(answer, utterance), name="stt-slow")
        self.in_flight.add(task)

    async def _answer(self, answer: str, utterance: SpeechEnded) -> None:
        if self.delay is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay or 0.0)
        assert self.emit is not None
        self.emit(Final(answer, utterance.start_ms, utterance.end_ms, 0.9))

    async def finish(self) -> None:
        await asyncio.gather(*self.in_flight)

    async def aclose(self) -> None:
        for task in self.in_flight:
            task.cancel()
        await asyncio.gather(*self.in_flight, return_exceptions=True)
        self.closed = True


async def opening_heard(call: Any) -> None:
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)  # greeting + opening
    await call.line.run(seconds=0.5)


async def test_words_cut_off_by_the_hang_up_are_recognised_and_the_opt_out_acted_on():
    call = make_call([HELLO, OPT_OUT])
    await opening_heard(call)
    sent_before = len(call.line.sent)
    # The caller says it and hangs up at once: the endpointer never sees the trailing silence.
    for frame in frames_20ms(piper(OPT_OUT)):
        await call.line.step(frame)
    assert call.pipeline._vad.in_speech
    call.pipeline.on_stop()
    result = await asyncio.wait_for(call.pipeline.close(), 5)

    assert [(t.speaker.value, t.text) for t in result.turns] == [
        ("contact", HELLO),
        ("agent", SCRIPT.opening_line),
        ("contact", OPT_OUT),
    ]
    assert result.end_reason is CallEndReason.STREAM_STOPPED
    assert result.outcome is Outcome.DO_NOT_CALL
    assert any(isinstance(action, MarkDoNotCall) for action in result.actions)
    assert not result.hung_up
    # Decided, never said: the line is gone.
    assert len(call.line.sent) == sent_before
    assert not any("list" in text.lower() for text in call.voice.texts[3:])
    [ended] = [e for e in result.events if e.kind == "speech_ended"][-1:]
    assert ended.data["reason"] == "stream_end"
    assert [e.data["text"] for e in result.events if e.kind == "heard_after_end"] == [OPT_OUT]
    assert call.sink.results == [result]


async def test_recognition_in_flight_at_the_hang_up_is_waited_for_and_acted_on():
    recognizer = SlowRecognizer([HELLO, CALLBACK], delay=0.3)
    call = make_call(recognizer=recognizer)
    await opening_heard(call)
    await call.line.run(piper(CALLBACK))
    await call.line.run(seconds=1.0)  # the utterance ends: recognition starts
    assert len(recognizer.utterances) == 2
    assert recognizer.in_flight
    call.pipeline.on_stop()
    result = await asyncio.wait_for(call.pipeline.close(), 5)

    assert [t.text for t in result.turns if t.speaker == "contact"] == [HELLO, CALLBACK]
    assert result.outcome is Outcome.CALLBACK_REQUESTED
    assert any(isinstance(action, ScheduleCallback) for action in result.actions)
    assert recognizer.closed


async def test_recognition_that_does_not_answer_within_the_grace_leaves_an_unheard_turn():
    recognizer = SlowRecognizer([HELLO, CALLBACK], delay=None)
    config = PipelineConfig(hangup_grace=0.2)
    call = make_call(recognizer=recognizer, config=config)
    await opening_heard(call)
    await call.line.run(piper(CALLBACK))
    await call.line.run(seconds=1.0)
    assert recognizer.in_flight
    call.pipeline.on_stop()
    began = time.monotonic()
    result = await asyncio.wait_for(call.pipeline.close(), 5)

    assert time.monotonic() - began < 2
    *_, unheard = result.turns
    assert (unheard.speaker.value, unheard.text, unheard.recognized) == ("contact", "", False)
    assert unheard.latency["stt_failure"] == "stt_unfinished"
    [ended] = [e for e in result.events if e.kind == "speech_ended"][-1:]
    assert (unheard.start_ms, unheard.end_ms) == (ended.data["start_ms"], ended.data["end_ms"])
    assert [e.data for e in result.events if e.kind == "recognition_cut"] == [{"utterances": 1}]
    assert call.sink.turns[-1] == unheard
    # Nobody knows what was said: the agent was not asked, the outcome is not invented.
    assert result.outcome is None
