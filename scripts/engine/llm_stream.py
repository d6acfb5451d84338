"""Streaming client for OpenAI-compatible ``/v1/chat/completions`` (server-sent events).

Yields `TextDelta` per content token and one `ToolCalls` at the end of the stream, with each
call's ``function.arguments`` accumulated across chunks by ``index``. Every way the exchange can
go wrong becomes an `AgentError` with a `AgentErrorKind`, and every wait is bounded by asyncio
deadlines (first token, between chunks, whole reply) on top of httpx's own timeouts, so a
stalled provider can never hang a live call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from anvil_voice import usage


class AgentErrorKind(StrEnum):
    CONNECT = "connect"
    HTTP_STATUS = "http_status"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    READ_TIMEOUT = "read_timeout"
    TOTAL_TIMEOUT = "total_timeout"
    TRANSPORT = "transport"
    MALFORMED_STREAM = "malformed_stream"
    INCOMPLETE_STREAM = "incomplete_stream"
    BAD_TOOL_CALL = "bad_tool_call"
    EMPTY_REPLY = "empty_reply"


class AgentError(Exception):
    def __init__(self, kind: AgentErrorKind, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``first_token`` runs from sending the request to the first content or tool
    delta; ``read`` is the longest gap between chunks after that; ``total`` caps the reply."""

    connect: float = 3.0
    first_token: float = 5.0
    read: float = 10.0
    total: float = 30.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect, read=self.read, write=self.read, pool=self.connect
        )


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""


@dataclass(frozen=True, slots=True)
class ToolCalls:
    calls: list[ToolCall]


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAccumulator:
    """Joins ``delta.tool_calls`` fragments: id and name arrive once, arguments in pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def add(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            raise AgentError(AgentErrorKind.MALFORMED_STREAM, "tool_calls is not a list")
        for fragment in fragments:
            if not isinstance(fragment, Mapping):
                raise AgentError(AgentErrorKind.MALFORMED_STREAM, "tool call is not an object")
            index = fragment.get("index", len(self._calls))
            partial = self._calls.setdefault(int(index), _PartialCall())
            partial.id = fragment.get("id") or partial.id
            function = fragment.get("function") or {}
            partial.name = function.get("name") or partial.name
            if function.get("arguments"):
                partial.arguments.append(str(function["arguments"]))

    def __bool__(self) -> bool:
        return bool(self._calls)

    def complete(self) -> list[ToolCall]:
        calls: list[ToolCall] = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            raw = "".join(partial.arguments)
            try:
                arguments = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as error:
                raise AgentError(
                    AgentErrorKind.BAD_TOOL_CALL, f"arguments of {partial.name!r} are not JSON"
                ) from error
            if not partial.name or not isinstance(arguments, dict):
                raise AgentError(AgentErrorKind.BAD_TOOL_CALL, "tool call without name/object")
            calls.append(ToolCall(partial.id or f"call_{index}", partial.name, arguments, raw))
        return calls


_DONE = object()


def parse_sse_line(line: str) -> Mapping[str, Any] | object | None:
    """One SSE line: a JSON object, ``_DONE``, or None for lines that carry no data."""
    if not line.startswith("data:"):
        # Blank separators, ": keep-alive" comments, "event:"/"id:" fields.
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return _DONE
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as error:
        raise AgentError(AgentErrorKind.MALFORMED_STREAM, "a data line is not JSON") from error
    if not isinstance(data, Mapping):
        raise AgentError(AgentErrorKind.MALFORMED_STREAM, "a data line is not a JSON object")
    return data


def _delta(data: Mapping[str, Any]) -> Mapping[str, Any]:
    if "error" in data:
        message = data["error"].get("message") if isinstance(data["error"], Mapping) else None
        raise AgentError(AgentErrorKind.MALFORMED_STREAM, f"error in stream: {message}")
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise AgentError(AgentErrorKind.MALFORMED_STREAM, "chunk without choices")
    if not choices:
        return {}  # e.g. a final usage-only chunk
    delta = choices[0].get("delta") if isinstance(choices[0], Mapping) else None
    return delta if isinstance(delta, Mapping) else {}


async def _open(client: httpx.AsyncClient, request: httpx.Request, limit: float) -> httpx.Response:
    try:
        async with asyncio.timeout(limit):
            response = await client.send(request, stream=True)
    except TimeoutError as error:
        raise AgentError(AgentErrorKind.FIRST_TOKEN_TIMEOUT, "no response headers") from error
    except httpx.ConnectError as error:
        raise AgentError(AgentErrorKind.CONNECT, "could not connect") from error
    except httpx.TimeoutException as error:
        raise AgentError(AgentErrorKind.READ_TIMEOUT, type(error).__name__) from error
    except httpx.HTTPError as error:
        raise AgentError(AgentErrorKind.TRANSPORT, type(error).__name__) from error
    return response


async def stream_chat(
    client: httpx.AsyncClient,
    *,
    url: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeouts: Timeouts,
    provider: str = "openai",
) -> AsyncIterator[TextDelta | ToolCalls]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    total_deadline = started + timeouts.total
    first_deadline = min(started + timeouts.first_token, total_deadline)
    request = client.build_request("POST", url, json=dict(body), headers=dict(headers))
    response = await _open(client, request, first_deadline - loop.time())
    # The provider's token count for this reply: the last chunk's `usage` when the request
    # asked for it (`stream_options.include_usage`); charged to the call even when the reply
    # is cut short (the provider bills what it generated), except for a refused request.
    reported: dict[str, Any] | None = None
    try:
        if response.status_code >= 400:
            raise AgentError(
                AgentErrorKind.HTTP_STATUS,
                f"provider answered HTTP {response.status_code}",
                status=response.status_code,
            )
        lines = aiter(response.aiter_lines())
        tool_calls = ToolCallAccumulator()
        got_first = False
        while True:
            remaining = total_deadline - loop.time()
            if got_first:
                limit = min(timeouts.read, remaining)
                kind = (
                    AgentErrorKind.READ_TIMEOUT
                    if timeouts.read <= remaining
                    else AgentErrorKind.TOTAL_TIMEOUT
                )
            else:
                # Capped by the total deadline when that is shorter; still reported as the
                # first token never arriving, which is what the operator needs to know.
                limit, kind = first_deadline - loop.time(), AgentErrorKind.FIRST_TOKEN_TIMEOUT
            try:
                async with asyncio.timeout(max(limit, 0.0)):
                    line = await anext(lines)
            except StopAsyncIteration as error:
                raise AgentError(
                    AgentErrorKind.INCOMPLETE_STREAM, "stream ended without [DONE]"
                ) from error
            except TimeoutError as error:
                raise AgentError(kind, f"no data for {limit:.2f}s") from error
            except httpx.TimeoutException as error:
                raise AgentError(AgentErrorKind.READ_TIMEOUT, type(error).__name__) from error
            except httpx.HTTPError as error:
                raise AgentError(AgentErrorKind.TRANSPORT, type(error).__name__) from error
            parsed = parse_sse_line(line)
            if parsed is None:
                continue
            if parsed is _DONE:
                break
            assert isinstance(parsed, Mapping)
            if isinstance(parsed.get("usage"), Mapping):
                reported = dict(parsed["usage"])
            delta = _delta(parsed)
            if delta.get("tool_calls"):
                tool_calls.add(delta["tool_calls"])
                got_first = True
            content = delta.get("content")
            if isinstance(content, str) and content:
                got_first = True
                yield TextDelta(content)
        if tool_calls:
            yield ToolCalls(tool_calls.complete())
    finally:
        if response.status_code < 400:
            usage.record_llm(provider, reported)
        await response.aclose()
