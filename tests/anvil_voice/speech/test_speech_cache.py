"""The TTS cache in front of a voice: hits, misses streamed through, the byte budget, one
synthesis for concurrent requests, listeners that go away, failures, and the warm-up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from anvil_voice.speech.cache import AudioCache, CachingVoiceProvider
from anvil_voice.speech.protocols import ProviderError, VoiceProvider

VOICE = "voice-1"


class GatedVoice:
    """A fake provider whose stream sends one chunk, then waits for `release()` (when gated)."""

    name = "fake"

    def __init__(self, *, gated: bool = False) -> None:
        self.gated = gated
        self.streamed: list[str] = []
        self.synthesized: list[str] = []
        self.closed: list[str] = []
        self.fail_on: str | None = None
        self._gate = asyncio.Event()
        self.synthesis_started = threading.Event()
        self.synthesis_gate = threading.Event()
        self.synthesis_gate.set()

    def release(self) -> None:
        self._gate.set()

    def audio(self, text: str) -> bytes:
        return text.encode() * 10

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        self.streamed.append(text)
        try:
            audio = self.audio(text)
            yield audio[:5]
            if self.gated:
                await self._gate.wait()
            if self.fail_on == text:
                raise ProviderError("tts_broken", "the fake voice broke mid-line")
            yield audio[5:]
        finally:
            self.closed.append(text)

    def synthesize(self, *, provider_voice_id: str, text: str, output_format: str) -> bytes:
        self.synthesis_started.set()
        assert self.synthesis_gate.wait(30)
        self.synthesized.append(text)
        if self.fail_on == text:
            raise ProviderError("tts_broken", "the fake voice is broken")
        return self.audio(text)

    def clone_voice(self, **kwargs: Any) -> Any:
        return ("cloned", kwargs["name"])

    def delete_voice(self, *, provider_voice_id: str) -> None:
        self.synthesized.append(f"deleted {provider_voice_id}")


def cached(inner: Any, *, max_bytes: int = 1_000_000) -> CachingVoiceProvider:
    return CachingVoiceProvider(inner, cache=AudioCache(max_bytes=max_bytes))


async def say(voice: VoiceProvider, text: str) -> bytes:
    return b"".join(
        [chunk async for chunk in voice.stream_synthesize(provider_voice_id=VOICE, text=text)]
    )


async def until(condition: Any, *, seconds: float = 30.0) -> None:
    """Yield to the loop until `condition()` holds (generous: the box may be busy)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


def test_it_is_a_voice_provider_and_passes_the_rest_through():
    inner = GatedVoice()
    voice = cached(inner)

    assert isinstance(voice, VoiceProvider)
    assert voice.name == "fake"
    assert voice.synthesize(provider_voice_id=VOICE, text="Hi.", output_format="ulaw_8000") == (
        b"Hi." * 10
    )
    assert voice.clone_voice(name="Ann", description="", labels={}, samples=[]) == ("cloned", "Ann")
    voice.delete_voice(provider_voice_id="v9")
    assert inner.synthesized == ["Hi.", "deleted v9"]


async def test_a_line_said_twice_is_synthesised_once():
    inner = GatedVoice()
    voice = cached(inner)

    first = await say(voice, "Hello there.")
    second = await say(voice, "Hello there.")

    assert first == second == b"Hello there." * 10
    assert inner.streamed == ["Hello there."]
    assert (voice.cache.hits, voice.cache.misses) == (1, 1)


async def test_the_key_is_provider_voice_and_exact_text():
    inner = GatedVoice()
    voice = cached(inner)
    other_provider = GatedVoice()
    other_provider.name = "other"
    shared = CachingVoiceProvider(other_provider, cache=voice.cache)

    await say(voice, "Hello.")
    await say(voice, "Hello!")
    await say(shared, "Hello.")
    async for _ in voice.stream_synthesize(provider_voice_id="voice-2", text="Hello."):
        pass

    assert inner.streamed == ["Hello.", "Hello!", "Hello."]
    assert other_provider.streamed == ["Hello."]


async def test_a_miss_streams_through_before_the_line_is_finished():
    inner = GatedVoice(gated=True)
    voice = cached(inner)
    stream = voice.stream_synthesize(provider_voice_id=VOICE, text="A long line.")

    first = await asyncio.wait_for(anext(stream), 30)  # the provider is still making the rest

    assert first == b"A lon"
    assert not voice.is_cached(provider_voice_id=VOICE, text="A long line.")
    inner.release()
    rest = b"".join([chunk async for chunk in stream])
    assert first + rest == b"A long line." * 10
    assert voice.is_cached(provider_voice_id=VOICE, text="A long line.")


async def test_the_least_recently_used_lines_leave_when_over_the_byte_budget():
    inner = GatedVoice()
    # Each line costs its audio (130 bytes) + text + overhead: room for two, not three.
    voice = cached(inner, max_bytes=2 * (130 + 13 + 200) + 50)

    for text in ("Line number 1", "Line number 2"):
        await say(voice, text)
    await say(voice, "Line number 1")  # now the most recently used
    await say(voice, "Line number 3")

    assert voice.is_cached(provider_voice_id=VOICE, text="Line number 1")
    assert not voice.is_cached(provider_voice_id=VOICE, text="Line number 2")
    assert voice.is_cached(provider_voice_id=VOICE, text="Line number 3")
    assert voice.cache.size_bytes <= voice.cache.max_bytes
    assert len(voice.cache) == 2


async def test_a_line_larger_than_the_budget_still_plays_and_is_not_kept():
    inner = GatedVoice()
    voice = cached(inner, max_bytes=100)

    assert await say(voice, "Too long to keep.") == b"Too long to keep." * 10
    assert await say(voice, "Too long to keep.") == b"Too long to keep." * 10

    assert inner.streamed == ["Too long to keep.", "Too long to keep."]
    assert len(voice.cache) == 0


async def test_concurrent_requests_for_a_line_share_one_synthesis():
    inner = GatedVoice(gated=True)
    voice = cached(inner)

    readers = [asyncio.create_task(say(voice, "Shared line.")) for _ in range(3)]
    await until(lambda: inner.streamed)
    await asyncio.sleep(0.05)
    inner.release()
    results = await asyncio.gather(*readers)

    assert results == [b"Shared line." * 10] * 3
    assert inner.streamed == ["Shared line."]


async def test_a_cancelled_first_listener_does_not_spoil_the_line_for_the_second():
    inner = GatedVoice(gated=True)
    voice = cached(inner)
    first = asyncio.create_task(say(voice, "Barge in on me."))
    await until(lambda: inner.streamed)
    second = asyncio.create_task(say(voice, "Barge in on me."))
    await asyncio.sleep(0.05)

    first.cancel()  # the caller barged in on the first call
    await asyncio.gather(first, return_exceptions=True)
    inner.release()

    assert await asyncio.wait_for(second, 30) == b"Barge in on me." * 10
    assert inner.streamed == ["Barge in on me."]
    assert voice.is_cached(provider_voice_id=VOICE, text="Barge in on me.")


async def test_a_line_nobody_listens_to_any_more_is_stopped_and_not_kept():
    inner = GatedVoice(gated=True)
    voice = cached(inner)
    listener = asyncio.create_task(say(voice, "Cut me off."))
    await until(lambda: inner.streamed)

    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    await until(lambda: inner.closed)  # the provider's stream was closed, not left running

    assert not voice.is_cached(provider_voice_id=VOICE, text="Cut me off.")
    inner.gated = False
    assert await say(voice, "Cut me off.") == b"Cut me off." * 10
    assert inner.streamed == ["Cut me off.", "Cut me off."]


async def test_a_failure_reaches_every_listener_and_is_not_kept():
    inner = GatedVoice(gated=True)
    inner.fail_on = "Broken line."
    voice = cached(inner)
    readers = [asyncio.create_task(say(voice, "Broken line.")) for _ in range(2)]
    await until(lambda: inner.streamed)
    await asyncio.sleep(0.05)

    inner.release()
    results = await asyncio.gather(*readers, return_exceptions=True)

    assert [type(result) for result in results] == [ProviderError, ProviderError]
    assert not voice.is_cached(provider_voice_id=VOICE, text="Broken line.")
    inner.fail_on = None
    assert await say(voice, "Broken line.") == b"Broken line." * 10
    assert inner.streamed == ["Broken line.", "Broken line."]


# --- warm-up ----------------------------------------------------------------------------------
async def test_warming_makes_each_line_once_so_the_call_asks_the_provider_for_none():
    inner = GatedVoice()
    voice = cached(inner)

    made = await voice.warm(VOICE, ["Hi Jane.", "Goodbye.", "Hi Jane.", "  "])
    again = await voice.warm(VOICE, ["Hi Jane.", "Goodbye."])

    assert (made, again) == (2, 0)
    assert inner.synthesized == ["Hi Jane.", "Goodbye."]
    assert await say(voice, "Hi Jane.") == b"Hi Jane." * 10
    assert inner.streamed == []


async def test_a_live_request_joins_the_line_being_warmed():
    inner = GatedVoice()
    inner.synthesis_gate.clear()
    voice = cached(inner)
    warming = asyncio.create_task(voice.warm(VOICE, ["Opening line."]))
    await until(inner.synthesis_started.is_set)

    live = asyncio.create_task(say(voice, "Opening line."))
    await asyncio.sleep(0.05)
    inner.synthesis_gate.set()

    assert await asyncio.wait_for(live, 30) == b"Opening line." * 10
    assert await warming == 1
    assert inner.synthesized == ["Opening line."]
    assert inner.streamed == []


async def test_warming_skips_a_line_a_call_is_already_making():
    inner = GatedVoice(gated=True)
    voice = cached(inner)
    live = asyncio.create_task(say(voice, "Opening line."))
    await until(lambda: inner.streamed)

    assert await voice.warm(VOICE, ["Opening line."]) == 0
    inner.release()
    await live
    assert inner.synthesized == []


async def test_a_failed_warm_up_is_not_kept_and_the_rest_still_warms():
    inner = GatedVoice()
    inner.fail_on = "Broken."
    voice = cached(inner)

    assert await voice.warm(VOICE, ["Broken.", "Fine."]) == 1

    assert not voice.is_cached(provider_voice_id=VOICE, text="Broken.")
    assert voice.is_cached(provider_voice_id=VOICE, text="Fine.")


async def test_a_cancelled_warm_up_stops_after_the_line_under_way_and_keeps_it():
    inner = GatedVoice()
    inner.synthesis_gate.clear()
    voice = cached(inner)
    warming = asyncio.create_task(voice.warm(VOICE, ["First.", "Second."]))
    await until(inner.synthesis_started.is_set)

    warming.cancel()
    await asyncio.gather(warming, return_exceptions=True)
    inner.synthesis_gate.set()
    await until(lambda: voice.is_cached(provider_voice_id=VOICE, text="First."))

    assert inner.synthesized == ["First."]


@pytest.mark.parametrize("budget", [0])
async def test_a_cache_of_no_bytes_keeps_nothing_and_still_speaks(budget):
    inner = GatedVoice()
    voice = cached(inner, max_bytes=budget)

    assert await say(voice, "Hello.") == b"Hello." * 10
    assert await say(voice, "Hello.") == b"Hello." * 10
    assert inner.streamed == ["Hello.", "Hello."]


async def test_two_calls_asking_for_the_same_line_share_one_synthesis():
    inner = GatedVoice(gated=True)
    first_call = cached(inner)
    second_call = CachingVoiceProvider(inner, cache=first_call.cache)  # the process's cache

    readers = [
        asyncio.create_task(say(first_call, "Are you still there?")),
        asyncio.create_task(say(second_call, "Are you still there?")),
    ]
    await until(lambda: inner.streamed)
    await asyncio.sleep(0.05)
    inner.release()

    assert await asyncio.gather(*readers) == [b"Are you still there?" * 10] * 2
    assert inner.streamed == ["Are you still there?"]


async def test_warm_ups_take_turns_and_a_live_request_takes_over_a_line_still_queued():
    inner = GatedVoice()
    inner.synthesis_gate.clear()
    first_call = cached(inner)
    second_call = CachingVoiceProvider(inner, cache=first_call.cache)
    first = asyncio.create_task(first_call.warm(VOICE, ["Phrase."]))
    await until(inner.synthesis_started.is_set)
    second = asyncio.create_task(second_call.warm(VOICE, ["Hi Jane.", "Phrase."]))
    await asyncio.sleep(0.05)  # "Hi Jane." waits for the first warm-up's turn

    # The second call's opening is needed now: it does not wait behind background work.
    assert await asyncio.wait_for(say(second_call, "Hi Jane."), 30) == b"Hi Jane." * 10
    inner.synthesis_gate.set()

    assert (await first, await second) == (1, 0)
    assert inner.synthesized == ["Phrase."]
    assert inner.streamed == ["Hi Jane."]
