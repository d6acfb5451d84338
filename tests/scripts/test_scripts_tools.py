"""A script's tools through the API (validation, versions) and an HTTP tool call against a local
server that checks our signature: the answer, and every way it can go wrong."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from anvil_voice.webhooks.signing import SIGNATURE_HEADER, webhook_signature_valid
from scripts.engine import ScriptSpec
from scripts.engine.tools import ToolKind, ToolSpec, run_tool
from scripts.models import Script, ScriptVersion
from scripts.tool_http import HttpToolRunner

SCRIPTS = "/api/v1/voice/scripts"
SECRET = "whsec_test_tool_secret"
PARAMETERS = {
    "type": "object",
    "properties": {"day": {"type": "string"}, "time": {"type": "string"}},
    "required": ["day"],
}
BOOK_SLOT = {
    "type": "http",
    "name": "book_slot",
    "description": "Book a consultation slot.",
    "parameters": PARAMETERS,
    "url": "https://tools.example.com/book",
    "timeoutSeconds": 3,
}
SCRIPT = {
    "name": "Bookings",
    "openingLine": "Hi, this is Alex, an AI assistant from Acme. Shall I book you a visit?",
    "closingLine": "See you then. Goodbye!",
}


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    # tools.example.com resolves to a public address without the network.
    import socket

    real = socket.getaddrinfo

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "tools.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_it_creates_a_script_with_an_http_tool_and_a_rule_kept_in_its_version(owner):
    body = {
        **SCRIPT,
        "tools": [{"type": "builtin", "name": "end_call"}, BOOK_SLOT],
        "toolRules": [
            {"intent": "agreement", "tool": "book_slot", "arguments": {"day": "{{day|Monday}}"}}
        ],
    }

    response = owner.client.post(SCRIPTS, body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["tools"] == [{"type": "builtin", "name": "end_call"}, {**BOOK_SLOT}]
    assert data["toolRules"] == body["toolRules"]
    script = Script.objects.get()
    assert data["toolSecret"] == script.tool_secret
    assert script.tool_secret.startswith("whsec_")
    # The list does not repeat the secret.
    assert "toolSecret" not in owner.client.get(SCRIPTS).json()["data"][0]
    snapshot = ScriptVersion.objects.get(script=script).snapshot
    spec = ScriptSpec.from_dict(snapshot)
    assert spec.tool("book_slot") == ToolSpec(
        ToolKind.HTTP,
        "book_slot",
        "Book a consultation slot.",
        PARAMETERS,
        url="https://tools.example.com/book",
        timeout_seconds=3.0,
    )
    # Changing a tool changes what a call can do: a new version.
    patched = owner.client.patch(
        f"{SCRIPTS}/{script.pk}",
        {"tools": [{**BOOK_SLOT, "timeoutSeconds": 1.5}]},
        format="json",
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["version"] == 2


@pytest.mark.parametrize(
    ("tools", "rules", "details"),
    [
        (
            [{**BOOK_SLOT, "name": "2fast"}, {**BOOK_SLOT}, {**BOOK_SLOT}],
            [],
            {
                "tools": [
                    "Tool 1: the name must be 1-64 letters, digits or underscores, not starting "
                    "with a digit.",
                    "Tool 3 (book_slot): the name is used by another tool.",
                ]
            },
        ),
        (
            [
                {**BOOK_SLOT, "parameters": {"type": "string"}},
                {**BOOK_SLOT, "name": "b", "parameters": {"type": "object", "required": "day"}},
                {**BOOK_SLOT, "name": "c", "description": " "},
            ],
            [],
            {
                "tools": [
                    'Tool 1 (book_slot): Parameters must be a JSON schema of "type": "object".',
                    "Tool 2 (b): Parameters are not a valid JSON schema: 'day' is not of type "
                    "'array'",
                    "Tool 3 (c): describe what the tool does (the model reads it).",
                ]
            },
        ),
        (
            [
                {**BOOK_SLOT, "url": "https://10.0.0.7/book"},
                {**BOOK_SLOT, "name": "b", "url": "http://tools.example.com/book"},
                {**BOOK_SLOT, "name": "c", "timeoutSeconds": 30},
                {"type": "builtin", "name": "teleport"},
                {"type": "builtin", "name": "end_call", "url": "https://tools.example.com/x"},
                {**BOOK_SLOT, "name": "end_call"},
            ],
            [],
            {
                "tools": [
                    "Tool 1 (book_slot): the URL must not point to a private, loopback or "
                    "link-local address.",
                    "Tool 2 (b): the URL must be an https:// URL.",
                    "Tool 3 (c): the timeout must be 0.5 to 10 seconds.",
                    "Tool 4 (teleport): no such built-in tool (there are: add_to_do_not_call, "
                    "end_call, schedule_callback, send_digits, transfer).",
                    "Tool 5 (end_call): a built-in tool takes only a name, not url.",
                    "Tool 6 (end_call): the name is used by another tool.",
                    "Tool 6 (end_call): the name is a built-in tool's.",
                ]
            },
        ),
        (
            [BOOK_SLOT, {"type": "builtin", "name": "end_call"}],
            [
                {"intent": "excited", "tool": "book_slot"},
                {"intent": "agreement", "tool": "end_call"},
            ],
            {
                "toolRules": [
                    "Rule 1: the intent must be one of agreement, asks_if_ai, asks_who, "
                    "callback, greeting, opt_out, other, question, refusal, repeat_request.",
                    "Rule 2: the tool must be one of the script's HTTP tools or send_digits "
                    "(the scripted agent's other built-ins are its own rules).",
                ]
            },
        ),
    ],
    ids=["names", "schemas", "urls-and-builtins", "rules"],
)
def test_it_refuses_tools_that_would_not_work(owner, tools, rules, details):
    response = owner.client.post(
        SCRIPTS, {**SCRIPT, "tools": tools, "toolRules": rules}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == details
    assert not Script.objects.exists()


# --- the HTTP call --------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    """The customer's tool: checks our signature on every request, answers by path."""

    received: list[dict[str, Any]]
    release: threading.Event

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = webhook_signature_valid(
            secret=SECRET,
            header=self.headers.get(SIGNATURE_HEADER, ""),
            body=body,
            now=int(time.time()),
        )
        self.received.append(
            {
                "path": self.path,
                "signed": signed,
                "tool": self.headers["X-Anvil-Tool"],
                "body": body,
            }
        )
        if not signed:
            return self._answer(401, b'{"error": "bad signature"}')
        if self.path == "/book":
            arguments = json.loads(body)["arguments"]
            answer = {"booked": True, "slot": f"{arguments['day']} {arguments.get('time', '')}"}
            return self._answer(200, json.dumps(answer).encode())
        if self.path == "/text":
            return self._answer(200, b"<html>Booked!</html>")
        if self.path == "/big":
            return self._answer(200, json.dumps({"pad": "x" * 20_000}).encode())
        if self.path == "/slow":
            self.release.wait(5)
            return self._answer(200, b"{}")
        return self._answer(500, b"{}")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(settings) -> Iterator[tuple[str, type[_Receiver]]]:
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True  # plain http to a local receiver
    handler = type("Receiver", (_Receiver,), {"received": [], "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}", handler
    handler.release.set()
    server.shutdown()
    server.server_close()


def _tool(url: str, *, timeout: float = 3.0) -> ToolSpec:
    return ToolSpec(
        ToolKind.HTTP, "book_slot", "Book.", PARAMETERS, url=url, timeout_seconds=timeout
    )


async def test_it_posts_a_signed_request_and_returns_the_json_answer(receiver):
    base, handler = receiver
    runner = HttpToolRunner(secret=SECRET, session_id=42)

    result = await run_tool(
        runner, _tool(f"{base}/book"), {"day": "Friday", "time": "15:00"}, call_id="call_7"
    )

    assert result.ok, result.error
    assert result.value == {"booked": True, "slot": "Friday 15:00"}
    [request] = handler.received
    assert request["signed"]
    assert request["tool"] == "book_slot"
    assert json.loads(request["body"]) == {
        "tool": "book_slot",
        "callId": "call_7",
        "sessionId": 42,
        "arguments": {"day": "Friday", "time": "15:00"},
    }


@pytest.mark.parametrize(
    ("path", "secret", "error"),
    [
        ("/fail", SECRET, "The tool answered HTTP 500."),
        ("/book", "whsec_someone_else", "The tool answered HTTP 401."),
        ("/text", SECRET, "The tool's answer is not JSON."),
        ("/big", SECRET, "The tool's answer is larger than 16384 bytes."),
    ],
)
async def test_a_tool_that_errors_or_answers_badly_is_an_error_result(
    receiver, path, secret, error
):
    base, handler = receiver

    result = await run_tool(
        HttpToolRunner(secret=secret), _tool(f"{base}{path}"), {"day": "Monday"}, call_id="c"
    )

    assert (result.ok, result.error) == (False, error)
    assert len(handler.received) == 1


async def test_a_slow_tool_times_out_as_an_error_result(receiver):
    base, handler = receiver

    result = await run_tool(
        HttpToolRunner(secret=SECRET),
        _tool(f"{base}/slow", timeout=0.5),
        {"day": "Mon"},
        call_id="c",
    )
    handler.release.set()

    assert (result.ok, result.error) == (False, "The tool did not answer within 0.5 s.")


async def test_an_internal_address_is_never_called(receiver, settings):
    base, handler = receiver
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False  # production: loopback is internal
    runner = HttpToolRunner(secret=SECRET)

    plain = await run_tool(runner, _tool(f"{base}/book"), {"day": "Mon"}, call_id="c")
    internal = await run_tool(
        runner, _tool("https://127.0.0.1:9/book"), {"day": "Mon"}, call_id="c"
    )

    assert plain.error == "The tool's URL must be https://."
    assert internal.error == "The tool's URL points to an internal address; it was not called."
    assert handler.received == []


@pytest.mark.django_db
def test_the_tool_secret_is_rotated_through_the_api(owner, viewer, outsider):
    from scripts.factories import ScriptFactory
    from scripts.models import Script

    script = ScriptFactory(organization=owner.organization)
    old = script.tool_secret
    url = f"/api/v1/voice/scripts/{script.pk}/rotate-tool-secret"

    response = owner.client.post(url)

    assert response.status_code == 200
    data = response.json()["data"]
    script.refresh_from_db()
    assert data["id"] == script.pk
    assert data["toolSecret"] == script.tool_secret != old
    assert script.tool_secret.startswith("whsec_")
    assert script.version == 1  # what the calls say did not change
    # The single script shows the new one from now on.
    assert owner.client.get(f"/api/v1/voice/scripts/{script.pk}").json()["data"]["toolSecret"] == (
        script.tool_secret
    )
    # Viewers may not rotate; another organization's script is not there.
    assert viewer.client.post(url).status_code == 403
    assert outsider.client.post(url).status_code == 404
    assert Script.objects.get(pk=script.pk).tool_secret == data["toolSecret"]
