"""A number the caller typed (the script's keypad entry), as both agents answer it; and the
keypad prompt held back for the recording disclosure."""

from __future__ import annotations

from typing import Any

from engine_fake_llm import DONE, FakeLLM, FakeReply, text_chunk

from scripts.engine.agent import PromptsKeys, TakesEntries
from scripts.engine.conversation import contact_stance
from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.llm_stream import Timeouts
from scripts.engine.scripted import ScriptedAgent
from scripts.engine.types import CallContext, ScriptSpec, Stance

FAST = Timeouts(connect=0.5, first_token=1.0, read=1.0, total=3.0)
PROMPT = "Please type your zip code, then the hash key."
SNAPSHOT = {
    "opening_line": "Hi, this is Anna from Acme Solar. Shall we check your area?",
    "closing_line": "Wonderful. Goodbye.",
    "keypad_prompt": PROMPT,
    "keypad_entry": {"name": "zip_code", "max_digits": 5, "say": "Thanks, {{zip_code}} it is."},
}


async def _drain(stream: Any) -> list[str]:
    return [chunk async for chunk in stream]


async def test_the_scripted_agent_says_its_line_with_the_digits_then_asks_again():
    agent = ScriptedAgent(ScriptSpec.from_dict(SNAPSHOT), CallContext())
    assert isinstance(agent, TakesEntries)
    opening = " ".join(await _drain(agent.opening()))
    assert opening.endswith(PROMPT)  # an entry alone (no keys) still has its prompt said

    reply = " ".join(await _drain(agent.entered("10001")))

    assert reply == "Thanks, 10001 it is. Shall we check your area?"
    entry = [e for e in agent.events if e.kind == "keypad_entry"]
    assert [e.data for e in entry] == [{"name": "zip_code", "digits": "10001"}]
    assert contact_stance(agent.events) is Stance.ENGAGED
    assert not agent.finished


async def test_the_llm_agent_reads_the_typed_number_as_one_user_turn(fake_llm: FakeLLM):
    fake_llm.reply_with(FakeReply([text_chunk("Great, 10001 is in our area."), DONE]))
    config = LLMConfig(base_url=fake_llm.url, api_key="sk-test", model="m", timeouts=FAST)
    agent = LLMAgent(ScriptSpec.from_dict(SNAPSHOT), CallContext(), config)
    try:
        await _drain(agent.opening())
        reply = "".join(await _drain(agent.entered("10001")))
    finally:
        await agent.aclose()

    assert reply == "Great, 10001 is in our area."
    messages = fake_llm.requests[0]["json"]["messages"]
    assert messages[-1] == {"role": "user", "content": "[entered 10001]"}
    assert "[entered 12345]" in messages[0]["content"]  # the system prompt explains it
    assert [e.data for e in agent.events if e.kind == "keypad_entry"] == [
        {"name": "zip_code", "digits": "10001"}
    ]


async def test_both_agents_can_hold_the_keypad_prompt_back(fake_llm: FakeLLM):
    config = LLMConfig(base_url=fake_llm.url, api_key="sk-test", model="m", timeouts=FAST)
    script = ScriptSpec.from_dict(SNAPSHOT)
    for agent in (ScriptedAgent(script, CallContext()), LLMAgent(script, CallContext(), config)):
        assert isinstance(agent, PromptsKeys)
        assert agent.defer_keypad_prompt() is True
        opening = " ".join(await _drain(agent.opening()))
        assert PROMPT not in opening
        assert " ".join(await _drain(agent.keypad_prompt())) == PROMPT
        said = [e.data["text"] for e in agent.events if e.kind == "said"]
        assert said == [opening, PROMPT]
        await agent.aclose()
    plain = ScriptedAgent(ScriptSpec(opening_line="Hi.", closing_line="Bye."), CallContext())
    assert plain.defer_keypad_prompt() is False
