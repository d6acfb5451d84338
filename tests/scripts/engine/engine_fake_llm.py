"""A fake OpenAI-compatible chat server: real HTTP and real SSE on 127.0.0.1.

A uniquely named module (not conftest) so tests can import the helpers unambiguously."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"data: {payload}\n\n"


def text_chunk(text: str) -> str:
    return sse({"choices": [{"index": 0, "delta": {"content": text}}]})


def tool_chunk(index: int, *, arguments: str = "", name: str | None = None) -> str:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return sse({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})


DONE = sse("[DONE]")


@dataclass
class FakeReply:
    events: list[str] = field(default_factory=list)
    status: int = 200
    stall_before_headers: bool = False
    stall_after: int | None = None  # stall forever after this many events
    drop_after: int | None = None  # cut the TCP connection after this many events


@dataclass
class FakeLLM:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: deque[FakeReply] = field(default_factory=deque)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def reply_with(self, *replies: FakeReply) -> None:
        self.replies.extend(replies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            {"path": request.path, "headers": dict(request.headers), "json": await request.json()}
        )
        reply = self.replies.popleft()
        if reply.stall_before_headers:
            await self.release.wait()
        if reply.status != 200:
            return web.json_response({"error": {"message": "boom"}}, status=reply.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, event in enumerate(reply.events):
            if reply.stall_after == index:
                await self.release.wait()
            if reply.drop_after == index:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write(event.encode())
        await response.write_eof()
        return response


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> str:
    """The last chunk OpenAI sends when asked `stream_options: {include_usage: true}`: no
    choices, the request's token counts."""
    return sse(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )
