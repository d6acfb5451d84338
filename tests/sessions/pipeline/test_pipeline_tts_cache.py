"""A live call's voice behind the TTS cache: a line said twice is made once, and a call warmed
as the stream starts asks the voice for none of its opening."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pipeline_support import SCRIPT, FakeVoice, make_call, piper

from anvil_voice.speech.cache import AudioCache, CachingVoiceProvider
from scripts.engine import (
    CallContext,
    ObjectionResponse,
    ScriptedAgent,
    ScriptSpec,
    split_speakable,
)
from sessions.live.consumer import warm_voice
from sessions.pipeline import PipelineConfig, Speaker
from sessions.pipeline.speaking import spoken_sentences
from sessions.pipeline.warm_up import call_sentences

HELLO = "Hello?"
AGAIN = "Sorry, could you say that again?"
YES = "Yes, that sounds great, sign me up."
OPENING = split_speakable(SCRIPT.opening_line)


class CountingVoice(FakeVoice):
    """The pipeline's fake voice, with the whole-line synthesis a warm-up uses."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[str] = []

    def synthesize(self, **kwargs: Any) -> bytes:
        self.made.append(kwargs["text"])
        return self.audio(kwargs["text"])


def cached_voice() -> tuple[CachingVoiceProvider, CountingVoice]:
    inner = CountingVoice()
    return CachingVoiceProvider(inner, cache=AudioCache(max_bytes=10_000_000)), inner


async def converse(call: Any, *answers: bytes) -> None:
    """Greet, then say each answer once the agent has finished its turn."""
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)
    for index, answer in enumerate(answers):
        turns = len(call.sink.turns)
        await call.line.run(answer, seconds=1.0)
        if index < len(answers) - 1:
            await call.line.until(lambda turns=turns: len(call.sink.turns) >= turns + 2)
    await call.line.until(lambda: call.line.hung_up)
    await asyncio.wait_for(call.pipeline.wait(), 5)


async def test_a_line_said_twice_is_asked_of_the_voice_once():
    voice, inner = cached_voice()
    call = make_call([HELLO, AGAIN, YES], voice=voice)

    await converse(call, piper(AGAIN), piper(YES))

    agent_lines = [t.text for t in call.sink.turns if t.speaker is Speaker.AGENT]
    assert agent_lines[:2] == [SCRIPT.opening_line, SCRIPT.opening_line]  # said, then repeated
    assert Counter(inner.texts) == Counter(
        OPENING + split_speakable(SCRIPT.closing_line)
    )  # each sentence asked for once
    assert voice.cache.hits == len(OPENING)
    await call.pipeline.close()


async def test_after_the_warm_up_the_call_asks_the_voice_for_none_of_its_lines():
    voice, inner = cached_voice()
    call = make_call([HELLO, YES], voice=voice)

    made = await warm_voice(voice, voice_id="fake:voice", agent=call.agent, config=PipelineConfig())
    await converse(call, piper(YES))

    assert made == len(inner.made) > len(OPENING)
    assert inner.made[: len(OPENING)] == OPENING  # the opening is made first
    assert inner.texts == []  # nothing was synthesised during the call
    assert [t.text for t in call.sink.turns if t.speaker is Speaker.AGENT] == [
        SCRIPT.opening_line,
        SCRIPT.closing_line,
    ]
    await call.pipeline.close()


async def test_warming_as_the_call_starts_makes_each_opening_sentence_once():
    # The consumer starts the warm-up with the pipeline; whichever asks first, the other shares.
    voice, inner = cached_voice()
    call = make_call([HELLO, YES], voice=voice)

    warming = asyncio.create_task(
        warm_voice(voice, voice_id="fake:voice", agent=call.agent, config=PipelineConfig())
    )
    await converse(call, piper(YES))
    await asyncio.wait_for(warming, 30)

    made = Counter(inner.made) + Counter(inner.texts)
    assert [made[sentence] for sentence in OPENING] == [1] * len(OPENING)
    await call.pipeline.close()


async def test_the_warmed_sentences_are_split_as_the_pipeline_splits_them():
    script = ScriptSpec(
        opening_line="Hi {{first_name}}! This is Sam from Acme. Mr. Smith said you'd call? "
        "We have a plan, which is very good, and which costs less than yours, and which "
        "needs no contract at all, and which starts tomorrow. Want to hear more?",
        closing_line="Great. Bye!",
        objection_responses=(
            ObjectionResponse("too expensive", "It costs less than your current plan."),
        ),
    )
    agent = ScriptedAgent(script, CallContext(variables={"first_name": "Jane"}))
    voice, inner = cached_voice()
    call = make_call([HELLO], voice=voice, script=script, context=agent.context)

    sentences = await call_sentences(call.agent, PipelineConfig())
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)

    # What the pipeline asked the voice for is what the warm-up would have made, in order.
    assert inner.texts == sentences[: len(inner.texts)]
    assert inner.texts[0] == "Hi Jane!"
    assert "Objection" not in sentences
    assert "It costs less than your current plan. Want to hear more?" not in sentences
    assert "It costs less than your current plan." in sentences
    assert PipelineConfig().stt_retry_line.split(". ")[0] + "." in sentences
    await call.pipeline.close()


async def test_a_sentence_the_agent_split_at_a_comma_is_spoken_with_its_space():
    pieces = ["We call about the plan you asked for at all,", "and which ends here."]
    assert await spoken_sentences(pieces) == [
        "We call about the plan you asked for at all, and which ends here."
    ]
    # LLM tokens bring their own spaces: nothing is added inside a word.
    assert await spoken_sentences(["Hel", "lo,", " there", "."]) == ["Hello, there."]
