"""End to end through the pipeline: the caller agrees, the scripted agent's rule books a slot
with the customer's HTTP tool (a local receiver that checks our signature), says the booking
and hangs up; the tool call is in what the session stores."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pipeline_support import make_call, piper

from anvil_voice.webhooks.signing import SIGNATURE_HEADER, webhook_signature_valid
from scripts.engine import Outcome, ScriptSpec
from scripts.tool_http import HttpToolRunner
from sessions.live.consumer import conversation_result

SECRET = "whsec_pipeline_tools"
HELLO = "Hello?"
YES = "Yes, that sounds great, sign me up."


class _Calendar(BaseHTTPRequestHandler):
    bookings: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        header = self.headers.get(SIGNATURE_HEADER, "")
        if not webhook_signature_valid(
            secret=SECRET, header=header, body=body, now=int(time.time())
        ):
            self._answer(401, {"error": "bad signature"})
            return
        request = json.loads(body)
        self.bookings.append(request)
        self._answer(200, {"slot": f"{request['arguments']['day']} at 10 AM", "id": "BK-1"})

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def calendar(settings) -> Iterator[tuple[str, type[_Calendar]]]:
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True
    handler = type("Calendar", (_Calendar,), {"bookings": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/book", handler
    server.shutdown()
    server.server_close()


async def test_a_caller_who_agrees_is_booked_through_the_customers_tool(calendar):
    url, handler = calendar
    script = ScriptSpec.from_dict(
        {
            "opening_line": "Hi, this is Anvil. Shall I book your free visit?",
            "closing_line": "Great, see you then. Goodbye.",
            "tools": [
                {
                    "type": "http",
                    "name": "book_slot",
                    "description": "Book a visit.",
                    "parameters": {
                        "type": "object",
                        "properties": {"day": {"type": "string"}},
                        "required": ["day"],
                    },
                    "url": url,
                    "timeout_seconds": 5,
                }
            ],
            "tool_rules": [
                {
                    "intent": "agreement",
                    "tool": "book_slot",
                    "arguments": {"day": "Friday"},
                    "say": "You're booked for {{slot}}.",
                }
            ],
        }
    )
    call = make_call([HELLO, YES], script=script, tools=HttpToolRunner(secret=SECRET, session_id=7))
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)
    await call.line.run(piper(YES), seconds=1.0)
    # The tool answers in real time (a thread and a socket): the line waits in real time too.
    call.line.realtime = True
    await call.line.until(lambda: any(e.kind == "tool_called" for e in call.agent.events))
    call.line.realtime = False
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert [booking["arguments"] for booking in handler.bookings] == [{"day": "Friday"}]
    assert handler.bookings[0]["sessionId"] == 7
    last = result.turns[-1]
    # A local tool answers well inside the filler delay; a loaded machine may say the filler.
    assert last.text.endswith("You're booked for Friday at 10 AM. Great, see you then. Goodbye.")
    assert result.outcome is Outcome.INTERESTED
    stored = conversation_result(result)
    [tool_event] = [event for event in stored.events if event["kind"] == "engine.tool_called"]
    assert tool_event["name"] == "book_slot"
    assert tool_event["ok"] is True
    assert tool_event["result"] == {"slot": "Friday at 10 AM", "id": "BK-1"}
    assert tool_event["latency_ms"] > 0
    assert "tools: book_slot" in stored.summary
