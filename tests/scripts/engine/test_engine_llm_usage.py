"""The LLM agent asks for token counts and charges them to the call in context."""

from __future__ import annotations

from engine_fake_llm import DONE, FakeReply, text_chunk, usage_chunk
from test_engine_llm import _agent, _drain

from anvil_voice import usage


async def test_it_asks_for_usage_and_counts_the_tokens_the_provider_reports(fake_llm):
    fake_llm.reply_with(
        FakeReply([text_chunk("Most homeowners pay nothing upfront."), usage_chunk(412, 9), DONE]),
        FakeReply([text_chunk("Sure."), DONE]),  # a provider that ignores stream_options
    )
    meter = usage.CallUsage()
    usage.call_usage.set(meter)  # this test's task only
    agent = _agent(fake_llm)

    await _drain(agent.reply("it's too expensive"))
    await _drain(agent.reply("okay"))

    body = fake_llm.requests[0]["json"]
    assert body["stream_options"] == {"include_usage": True}
    assert (meter.llm_provider, meter.llm_prompt_tokens, meter.llm_completion_tokens) == (
        "openai",
        412,
        9,
    )
    assert (meter.llm_requests, meter.llm_requests_without_usage) == (2, 1)
