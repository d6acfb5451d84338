"""HTTP tools on a live call: a signed POST to the customer's URL, under the webhook rules.

The request is what a customer webhook is (`anvil_voice.webhooks`): the body signed in
`X-Anvil-Signature` (HMAC-SHA256 with the script's `tool_secret`), the host resolved once and
refused if any address is internal, the connection pinned to the checked addresses (no DNS
rebinding), no redirects, no proxy from the environment. The body::

    {"tool": "book_slot", "callId": "call_0", "sessionId": 42, "arguments": {...}}

A 2xx answer whose body is JSON (at most `MAX_RESULT_BYTES`) is the tool's result; anything
else raises `ToolError` with a short sentence the agent reads (no address or port: it reaches
the model and the session record).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from anvil_voice.webhooks.services import webhook_target_resolve, webhook_url_errors
from anvil_voice.webhooks.signing import SIGNATURE_HEADER, webhook_signature
from anvil_voice.webhooks.transport import delivery_error_text, pinned_client
from scripts.engine.tools import MAX_RESULT_BYTES, ToolError, ToolSpec

logger = logging.getLogger(__name__)

TOOL_HEADER = "X-Anvil-Tool"


def tool_request_body(
    *, tool: str, call_id: str, session_id: int | None, arguments: Mapping[str, Any]
) -> bytes:
    document = {
        "tool": tool,
        "callId": call_id,
        "sessionId": session_id,
        "arguments": dict(arguments),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


class HttpToolRunner:
    """The `scripts.engine.tools.ToolRunner` of a live call."""

    def __init__(self, *, secret: str, session_id: int | None = None) -> None:
        self._secret = secret
        self._session_id = session_id

    async def run(self, tool: ToolSpec, arguments: Mapping[str, Any], *, call_id: str) -> Any:
        # httpx's client is synchronous here (the pinned transport is): a worker thread keeps
        # the event loop, and with it the call's audio, running. The engine's own deadline
        # (`run_tool`) bounds the wait; the thread ends at the client's timeout, the same one.
        return await asyncio.to_thread(self.post, tool, dict(arguments), call_id)

    def post(self, tool: ToolSpec, arguments: dict[str, Any], call_id: str) -> Any:
        if problem := _scheme_errors(tool.url):
            raise ToolError(problem)
        host = urlsplit(tool.url).hostname or ""
        target = webhook_target_resolve(host)
        if target.refusal:
            raise ToolError("The tool's URL points to an internal address; it was not called.")
        if not target.addresses:
            raise ToolError("The tool's host name does not resolve.")
        body = tool_request_body(
            tool=tool.name, call_id=call_id, session_id=self._session_id, arguments=arguments
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "AnvilVoice-Tools/1.0",
            TOOL_HEADER: tool.name,
            SIGNATURE_HEADER: webhook_signature(
                secret=self._secret, timestamp=int(time.time()), body=body
            ),
        }
        timeout = httpx.Timeout(tool.timeout_seconds)
        try:
            with (
                pinned_client(target.addresses, timeout=timeout) as client,
                client.stream("POST", tool.url, content=body, headers=headers) as response,
            ):
                if not 200 <= response.status_code < 300:
                    raise ToolError(f"The tool answered HTTP {response.status_code}.")
                raw = bytearray()
                for piece in response.iter_bytes():
                    raw += piece
                    if len(raw) > MAX_RESULT_BYTES:
                        raise ToolError(
                            f"The tool's answer is larger than {MAX_RESULT_BYTES} bytes."
                        )
        except httpx.HTTPError as error:
            logger.info("tool_request_failed tool=%s error=%r", tool.name, error)
            raise ToolError(delivery_error_text(error).replace("receiver", "tool")) from error
        try:
            return json.loads(bytes(raw)) if raw.strip() else None
        except ValueError as error:
            raise ToolError("The tool's answer is not JSON.") from error


def _scheme_errors(url: str) -> str:
    """The webhook URL rules minus the DNS check (`post` resolves once, itself)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return ""
    if parts.scheme == "http" and not webhook_url_errors(url):
        return ""  # plain http to localhost, in development (WEBHOOKS_ALLOW_HTTP_LOCALHOST)
    return "The tool's URL must be https://."
