"""Tool-call overhead benchmark: ``python -m benchmarks.tools [--turns 40]``.

What a tool adds to an LLM agent's turn, when the tool itself answers at once. Two kinds of
turn against the same local fake of the OpenAI-compatible streaming API (aiohttp on 127.0.0.1,
answering instantly):

- **baseline**: the model streams its answer (one completion).
- **with a tool**: the model streams a ``tool_calls`` delta for an HTTP tool; the agent posts
  the signed request (`scripts.tool_http.HttpToolRunner`: SSRF resolve, HMAC, pinned client in
  a worker thread) to a local receiver that answers ``{"slot": ...}`` at once, sends the result
  back and the model streams its answer (a second completion).

Timed per turn, in the same process and run: ``reply()`` until its last chunk (the whole turn)
and until its first chunk (when speech can start). The overhead is the difference of the
medians; the ratio is with-a-tool / baseline. Also the tool call's own latency as recorded on
the session, and how many turns said the filler line (it should be none: a tool answering
within `FILLER_AFTER_SECONDS` adds no audio).

Needs no database; Django is set up for the webhook rules (plain http to localhost allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from benchmarks.support import percentile

ANSWER = "You're booked for Friday at ten."


def _sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"data: {payload}\n\n".encode()


def _text(text: str) -> bytes:
    return _sse({"choices": [{"index": 0, "delta": {"content": text}}]})


def _tool_call(arguments: str) -> bytes:
    call = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "book_slot", "arguments": arguments},
    }
    return _sse({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})


async def _servers() -> tuple[Any, str, str]:
    from aiohttp import web

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        last = body["messages"][-1]
        wants_tool = last["role"] == "user" and last["content"].startswith("book")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if wants_tool:
            await response.write(_tool_call('{"day": "Fri'))
            await response.write(_tool_call('day"}'))
        else:
            for word in ANSWER.split(" "):
                await response.write(_text(word + " "))
        await response.write(_sse("[DONE]"))
        await response.write_eof()
        return response

    async def tool(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"slot": "Friday 10:00", "id": "BK-1"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_post("/book", tool)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", f"http://localhost:{port}/book"


async def _turn(agent: Any, heard: str) -> tuple[float, float, list[str]]:
    started = time.perf_counter()
    first: float | None = None
    chunks = []
    async for chunk in agent.reply(heard):
        if first is None:
            first = (time.perf_counter() - started) * 1000
        chunks.append(chunk)
    total = (time.perf_counter() - started) * 1000
    assert first is not None
    return first, total, chunks


async def run(turns: int) -> None:
    from scripts.engine import CallContext, LLMAgent, LLMConfig, ScriptSpec
    from scripts.engine.llm_stream import Timeouts
    from scripts.engine.tools import FILLER_AFTER_SECONDS
    from scripts.tool_http import HttpToolRunner

    server, llm_url, tool_url = await _servers()
    script = ScriptSpec.from_dict(
        {
            "opening_line": "Hi, this is Anvil. Shall I book your visit?",
            "closing_line": "See you then. Goodbye.",
            "tools": [
                {
                    "type": "http",
                    "name": "book_slot",
                    "description": "Book a visit.",
                    "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
                    "url": tool_url,
                    "timeout_seconds": 5,
                }
            ],
        }
    )
    config = LLMConfig(base_url=llm_url, api_key="sk-bench", model="bench", timeouts=Timeouts())
    runner = HttpToolRunner(secret="whsec_bench", session_id=1)
    figures: dict[str, dict[str, list[float]]] = {
        "baseline": {"first": [], "total": []},
        "tool": {"first": [], "total": []},
    }
    tool_latency: list[float] = []
    fillers = 0
    try:
        for index in range(turns + 2):  # two warm-up rounds, not counted
            for kind, heard in (("baseline", "tell me more"), ("tool", "book me for friday")):
                # A fresh agent per turn: the history (and the request) stays the same size.
                agent = LLMAgent(script, CallContext(), config, tools=runner)
                first, total, chunks = await _turn(agent, heard)
                await agent.aclose()
                assert "".join(chunks).strip().endswith("ten."), chunks
                if index < 2:
                    continue
                figures[kind]["first"].append(first)
                figures[kind]["total"].append(total)
                if kind == "tool":
                    [event] = [e for e in agent.events if e.kind == "tool_called"]
                    assert event.data["ok"], event.data
                    tool_latency.append(float(event.data["latency_ms"]))
                    fillers += any(chunk.startswith("One moment") for chunk in chunks)
    finally:
        await server.cleanup()

    def line(kind: str, which: str) -> str:
        values = figures[kind][which]
        return f"p50 {statistics.median(values):7.2f} ms  p95 {percentile(values, 95):7.2f} ms"

    print(f"tool-call overhead, {turns} turns each (local fake LLM, local tool answering at once)")
    for which, label in (("total", "whole turn"), ("first", "first chunk")):
        base = statistics.median(figures["baseline"][which])
        tool = statistics.median(figures["tool"][which])
        print(f"  {label:12s} baseline  {line('baseline', which)}")
        print(f"  {label:12s} with tool {line('tool', which)}")
        print(f"  {label:12s} overhead  {tool - base:7.2f} ms  ratio {tool / base:.2f}")
    print(
        f"  tool latency (recorded)  p50 {statistics.median(tool_latency):.2f} ms  "
        f"p95 {percentile(tool_latency, 95):.2f} ms"
    )
    print(
        f"  filler spoken: {fillers} of {turns} turns (after {FILLER_AFTER_SECONDS * 1000:.0f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    os.environ["WEBHOOKS_ALLOW_HTTP_LOCALHOST"] = "1"  # the local receiver is plain http
    import django

    django.setup()
    asyncio.run(run(args.turns))


if __name__ == "__main__":
    main()
