import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from engine_fake_llm import DONE, FakeLLM, FakeReply, sse, text_chunk, tool_chunk

from scripts.engine.agent import Agent, speakable_chunks
from scripts.engine.intents import Intent, detect_intent
from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.llm_stream import Timeouts
from scripts.engine.types import CallContext, Outcome, ScriptSpec

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 4, 10, 15, tzinfo=NEW_YORK)
TROUBLE = "Sorry, I'm having trouble. I'll call you another time."

SCRIPT = ScriptSpec(
    opening_line="Hi {{first_name|there}}, this is Anna from Acme Solar. Got a minute?",
    closing_line="Wonderful, {{first_name}}! A specialist will call you.",
    system_prompt="You are Anna, a friendly solar adviser for {{company|Acme Solar}}.",
    objection_responses=(
        ("It's too expensive", "Most homeowners pay nothing upfront."),
        ("We already have a provider", "Many customers switched and saved."),
    ),
)
FAST = Timeouts(connect=0.5, first_token=0.3, read=0.3, total=2.0)


def _agent(fake: FakeLLM, *, timeouts: Timeouts = FAST, **config: Any) -> LLMAgent:
    context = CallContext(
        variables={"first_name": "Jane"}, timezone="America/New_York", now=lambda: NOW
    )
    settings = LLMConfig(
        base_url=fake.url, api_key="sk-test", model="voice-model", timeouts=timeouts, **config
    )
    return LLMAgent(SCRIPT, context, settings)


async def _drain(stream: Any) -> list[str]:
    return [chunk async for chunk in stream]


async def test_it_streams_text_token_by_token_and_sends_the_script(fake_llm):
    fake_llm.reply_with(
        FakeReply(
            [
                sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
                text_chunk("I hear you."),
                ": keep-alive\n\n",
                text_chunk(" Most homeowners"),
                text_chunk(" pay nothing upfront."),
                sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                DONE,
            ]
        )
    )
    agent = _agent(fake_llm)

    opening = await _drain(agent.opening())
    chunks = await _drain(agent.reply("it's too expensive"))

    assert opening == ["Hi Jane, this is Anna from Acme Solar. Got a minute?"]
    assert chunks == ["I hear you.", " Most homeowners", " pay nothing upfront."]
    assert not agent.finished
    assert agent.actions == []
    [request] = fake_llm.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["json"]
    assert (body["model"], body["stream"]) == ("voice-model", True)
    assert [tool["function"]["name"] for tool in body["tools"]] == [
        "end_call",
        "schedule_callback",
        "mark_do_not_call",
    ]
    system = body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Anna, a friendly solar adviser for Acme Solar.")
    assert '"It\'s too expensive": "Most homeowners pay nothing upfront."' in system["content"]
    assert (
        '"We already have a provider": "Many customers switched and saved."' in (system["content"])
    )
    assert "Wonderful, Jane! A specialist will call you." in system["content"]
    assert "automated AI assistant" in system["content"]
    assert "mark_do_not_call" in system["content"]
    assert "2026-03-04T10:15-05:00 (America/New_York)" in system["content"]
    assert body["messages"][1:] == [
        {"role": "assistant", "content": opening[0]},
        {"role": "user", "content": "it's too expensive"},
    ]
    assert [event.as_dict() for event in agent.events] == [
        {"seq": 0, "turn": 0, "kind": "said", "text": opening[0]},
        {"seq": 1, "turn": 1, "kind": "heard", "text": "it's too expensive"},
        {
            "seq": 2,
            "turn": 1,
            "kind": "said",
            "text": "I hear you. Most homeowners pay nothing upfront.",
        },
    ]
    await agent.aclose()


async def test_it_keeps_the_history_across_turns(fake_llm):
    fake_llm.reply_with(
        FakeReply([text_chunk("Happy to explain."), DONE]),
        FakeReply([text_chunk("Great!"), DONE]),
    )
    agent = _agent(fake_llm)
    await _drain(agent.opening())
    await _drain(agent.reply("what is this about?"))

    await _drain(agent.reply("ok, tell me more"))

    assert [
        (message["role"], message["content"])
        for message in fake_llm.requests[1]["json"]["messages"][1:]
    ] == [
        ("assistant", "Hi Jane, this is Anna from Acme Solar. Got a minute?"),
        ("user", "what is this about?"),
        ("assistant", "Happy to explain."),
        ("user", "ok, tell me more"),
    ]
    await agent.aclose()


async def test_it_accumulates_tool_calls_split_across_chunks(fake_llm):
    fake_llm.reply_with(
        FakeReply(
            [
                text_chunk("Sure, I'll call you tomorrow at 3."),
                tool_chunk(0, name="schedule_callback"),
                tool_chunk(0, arguments='{"at": "2026-03-05T'),
                tool_chunk(1, name="end_call", arguments='{"reason": "callback",'),
                tool_chunk(0, arguments='15:00:00-05:00"}'),
                tool_chunk(1, arguments=' "outcome": "not_interested"}'),
                DONE,
            ]
        )
    )
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("call me tomorrow afternoon, around three"))

    assert chunks == ["Sure, I'll call you tomorrow at 3."]
    assert agent.finished
    assert agent.outcome is Outcome.CALLBACK_REQUESTED
    assert [action.as_dict() for action in agent.actions] == [
        {"action": "schedule_callback", "at": "2026-03-05T15:00:00-05:00"},
        {"action": "end_call", "reason": "callback_scheduled", "outcome": "callback_requested"},
    ]
    kinds = [(event.kind.value, dict(event.data)) for event in agent.events]
    assert kinds == [
        ("heard", {"text": "call me tomorrow afternoon, around three"}),
        (
            "tool_called",
            {
                "id": "call_0",
                "name": "schedule_callback",
                "tool_kind": "builtin",
                "arguments": {"at": "2026-03-05T15:00:00-05:00"},
                "ok": True,
                "result": "ok",
                "latency_ms": 0.0,
            },
        ),
        (
            "tool_called",
            {
                "id": "call_1",
                "name": "end_call",
                "tool_kind": "builtin",
                "arguments": {"reason": "callback", "outcome": "not_interested"},
                "ok": True,
                "result": "ok",
                "latency_ms": 0.0,
            },
        ),
        ("callback_requested", {"at": "2026-03-05T15:00:00-05:00"}),
        ("said", {"text": "Sure, I'll call you tomorrow at 3."}),
        ("ended", {"reason": "callback_scheduled", "outcome": "callback_requested"}),
    ]
    await agent.aclose()


async def test_it_falls_back_to_the_callers_words_for_an_unusable_callback_time(fake_llm):
    fake_llm.reply_with(
        FakeReply([tool_chunk(0, name="schedule_callback", arguments='{"at": "soonish"}'), DONE])
    )
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("try me friday at 4"))

    assert chunks == ["No problem, I'll call you back on Friday at 4:00 PM. Goodbye."]
    assert agent.actions[0].as_dict() == {
        "action": "schedule_callback",
        "at": "2026-03-06T16:00:00-05:00",
    }


async def test_it_maps_the_do_not_call_tool_like_the_scripted_agent(fake_llm):
    heard = "honestly i'd rather you folks didn't bother with me in future"
    assert detect_intent(heard).intent is not Intent.OPT_OUT  # so the model decides here
    fake_llm.reply_with(FakeReply([tool_chunk(0, name="mark_do_not_call", arguments="{}"), DONE]))
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply(heard))

    assert chunks == ["Understood, we won't call you again. Goodbye."]
    assert agent.outcome is Outcome.DO_NOT_CALL
    assert [action.as_dict() for action in agent.actions] == [
        {"action": "mark_do_not_call"},
        {"action": "end_call", "reason": "opted_out", "outcome": "do_not_call"},
    ]
    assert "opted_out" in [event.kind.value for event in agent.events]


async def test_it_says_the_closing_line_when_the_model_ends_an_interested_call(fake_llm):
    fake_llm.reply_with(
        FakeReply(
            [
                tool_chunk(0, name="end_call", arguments='{"reason": "agreed", '),
                tool_chunk(0, arguments='"outcome": "interested"}'),
                DONE,
            ]
        )
    )
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("sounds good"))

    assert chunks == ["Wonderful, Jane! A specialist will call you."]
    assert agent.outcome is Outcome.INTERESTED
    assert agent.events[-1].as_dict()["model_reason"] == "agreed"
    assert agent.events[-1].as_dict()["reason"] == "model_ended"


async def test_it_honours_an_opt_out_without_asking_the_model(fake_llm):
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("take me off your list"))

    assert chunks == ["Understood, we won't call you again. Goodbye."]
    assert agent.outcome is Outcome.DO_NOT_CALL
    assert fake_llm.requests == []


async def test_it_handles_silence_without_asking_the_model(fake_llm):
    agent = _agent(fake_llm)

    first = await _drain(agent.reply(None))
    second = await _drain(agent.reply(""))

    assert (first, second) == (
        ["Are you still there?"],
        ["It seems I've lost you. I'll let you go. Goodbye."],
    )
    assert agent.outcome is Outcome.NO_CONVERSATION
    assert fake_llm.requests == []


def _assert_failed(agent: LLMAgent, chunks: list[str], code: str) -> dict[str, Any]:
    assert chunks[-1].strip() == TROUBLE
    assert agent.finished
    assert agent.outcome is Outcome.NO_CONVERSATION
    assert [action.as_dict() for action in agent.actions] == [
        {"action": "end_call", "reason": "agent_error", "outcome": "no_conversation"}
    ]
    [error] = [event.as_dict() for event in agent.events if event.kind.value == "error"]
    assert error["code"] == code
    assert agent.events[-1].kind.value == "ended"
    return error


async def test_it_falls_back_on_a_malformed_stream(fake_llm):
    fake_llm.reply_with(
        FakeReply([text_chunk("Well,"), "data: {not json\n\n", text_chunk(" never sent"), DONE])
    )
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("hello?"))

    assert chunks == ["Well,", f" {TROUBLE}"]
    _assert_failed(agent, chunks, "malformed_stream")
    assert agent.events[-2].as_dict()["text"] == f"Well, {TROUBLE}"


async def test_it_falls_back_on_an_http_error(fake_llm):
    fake_llm.reply_with(FakeReply(status=500))
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("hello?"))

    assert chunks == [TROUBLE]
    error = _assert_failed(agent, chunks, "http_status")
    assert error["status"] == 500


async def test_it_falls_back_when_the_stream_ends_without_done(fake_llm):
    fake_llm.reply_with(FakeReply([text_chunk("Half a thought")]))
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("hello?"))

    _assert_failed(agent, chunks, "incomplete_stream")


async def test_it_falls_back_when_the_connection_drops(fake_llm):
    fake_llm.reply_with(FakeReply([text_chunk("Let me"), text_chunk(" see"), DONE], drop_after=1))
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("hello?"))

    assert chunks[0] == "Let me"
    _assert_failed(agent, chunks, "transport")


async def test_it_times_out_waiting_for_the_first_token(fake_llm):
    fake_llm.reply_with(FakeReply([text_chunk("too late"), DONE], stall_after=0))
    agent = _agent(fake_llm)
    started = time.monotonic()

    chunks = await _drain(agent.reply("hello?"))

    assert time.monotonic() - started < 1.5
    assert chunks == [TROUBLE]
    _assert_failed(agent, chunks, "first_token_timeout")


async def test_it_times_out_waiting_for_response_headers(fake_llm):
    fake_llm.reply_with(FakeReply([DONE], stall_before_headers=True))
    agent = _agent(fake_llm)
    started = time.monotonic()

    chunks = await _drain(agent.reply("hello?"))

    assert time.monotonic() - started < 1.5
    _assert_failed(agent, chunks, "first_token_timeout")


async def test_it_times_out_when_the_stream_stalls_midway(fake_llm):
    fake_llm.reply_with(
        FakeReply([text_chunk("One moment"), text_chunk(" more"), DONE], stall_after=1)
    )
    agent = _agent(fake_llm)
    started = time.monotonic()

    chunks = await _drain(agent.reply("hello?"))

    assert time.monotonic() - started < 1.5
    assert chunks == ["One moment", f" {TROUBLE}"]
    _assert_failed(agent, chunks, "read_timeout")


async def test_it_falls_back_when_the_provider_is_unreachable(fake_llm, closed_port):
    fake_llm.url = f"http://127.0.0.1:{closed_port}"
    agent = _agent(fake_llm)

    chunks = await _drain(agent.reply("hello?"))

    _assert_failed(agent, chunks, "connect")


async def test_it_keeps_what_was_spoken_when_interrupted(fake_llm):
    fake_llm.reply_with(FakeReply([text_chunk("First part."), text_chunk(" Second part."), DONE]))
    agent = _agent(fake_llm)

    stream = agent.reply("hmm")
    first = await anext(stream)
    await stream.aclose()  # barge-in: the caller talks over the agent

    assert first == "First part."
    assert not agent.finished
    assert agent.events[-1].as_dict() == {
        "seq": 1,
        "turn": 1,
        "kind": "said",
        "text": "First part.",
        "interrupted": True,
    }
    assert agent.messages[-1] == {"role": "assistant", "content": "First part."}


async def test_it_feeds_tts_sized_sentences(fake_llm):
    fake_llm.reply_with(
        FakeReply([text_chunk(t) for t in ["Sure", ", Mr.", " Smith. I can", " help! Ok"]] + [DONE])
    )
    agent = _agent(fake_llm)

    pieces = await _drain(speakable_chunks(agent.reply("hi")))

    assert pieces == ["Sure, Mr. Smith.", "I can help!", "Ok"]


async def test_it_uses_an_injected_client_and_implements_the_protocol(fake_llm):
    fake_llm.reply_with(FakeReply([text_chunk("Hi!"), DONE]))
    async with httpx.AsyncClient() as client:
        agent = LLMAgent(
            SCRIPT,
            CallContext(now=lambda: NOW),
            LLMConfig(base_url=f"{fake_llm.url}/v1/", api_key="k", model="m"),
            client=client,
        )

        assert isinstance(agent, Agent)
        assert await _drain(agent.reply("hello")) == ["Hi!"]
        await agent.aclose()
        assert not client.is_closed


async def test_it_never_hangs_even_if_the_server_never_answers(fake_llm):
    fake_llm.reply_with(FakeReply(stall_before_headers=True))
    agent = _agent(fake_llm, timeouts=Timeouts(connect=0.2, first_token=5, read=5, total=0.4))

    chunks = await asyncio.wait_for(_drain(agent.reply("hello?")), timeout=2)

    assert chunks == [TROUBLE]
    assert agent.finished


async def test_its_known_lines_are_the_opening_as_streamed_and_the_lines_without_the_model(
    fake_llm,
):
    agent = _agent(fake_llm)

    known = agent.known_lines()

    assert known[0] == [chunk async for chunk in agent.opening()]
    assert ["Are you still there?"] in known
    assert fake_llm.requests == []  # listing them asks the model nothing
    await agent.aclose()
