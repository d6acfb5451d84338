"""Test doubles around the Twilio simulator: our webhook endpoints and our Media Stream server.

Both verify Twilio signatures the way our Django code must (against the public URL as
written), so the tests prove the simulator signs like Twilio.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from anvil_voice.telephony.simulator import TwilioSimulator, audio

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "simulator-test-token"
CALLER = "+15005550006"
HOOKS_PUBLIC = "https://hooks.example"
AGENT_PUBLIC = "wss://agent.example"
# Ring, AMD and callback delays become tens of milliseconds; audio stays real time.
TIME_SCALE = 0.01
WAIT = 10.0


def fast_speak(text: str) -> bytes:
    """A stand-in voice: 300 ms of speech-like audio per line, whatever the text."""
    return audio.babble("x" * 6)


def speech_frames(ulaw: bytes) -> int:
    """How many 20 ms frames of `ulaw` count as speech."""
    frames = range(0, len(ulaw) - audio.FRAME_BYTES + 1, audio.FRAME_BYTES)
    return sum(audio.is_speech(ulaw[i : i + audio.FRAME_BYTES]) for i in frames)


def sdk_client(
    sim: TwilioSimulator, *, timeout: float | None = None, token: str = AUTH_TOKEN
) -> Client:
    """The real SDK, pointed at the simulator the way our adapter will do it."""
    client = Client(ACCOUNT_SID, token, http_client=TwilioHttpClient(timeout=timeout))
    client.api.base_url = sim.base_url
    return client


async def sdk(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking SDK call off the event loop the simulator runs on."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def wait_until(condition: Callable[[], Any], timeout: float = WAIT) -> Any:
    async def poll() -> Any:
        while not (result := condition()):
            await asyncio.sleep(0.01)
        return result

    return await asyncio.wait_for(poll(), timeout)


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    return runner, server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


@dataclass
class Hook:
    path: str
    params: dict[str, str]
    signature_valid: bool


class WebhookReceiver:
    """Our status-callback endpoints: verify the signature, refuse forgeries with 403."""

    def __init__(
        self, responses: dict[str, str] | None = None, delays: dict[str, float] | None = None
    ) -> None:
        # Body to answer per path (e.g. TwiML for a `Url`); "ok" otherwise.
        self.responses = responses or {}
        # Seconds to take before answering, per path (a slow app under load).
        self.delays = delays or {}
        self.hooks: list[Hook] = []
        # ("received" | "answered", path) in the order they happened.
        self.timeline: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.port = await _serve(app)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def rewrite(self) -> tuple[str, str]:
        return HOOKS_PUBLIC, f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return HOOKS_PUBLIC + path

    def received(self, path: str) -> list[dict[str, str]]:
        return [hook.params for hook in self.hooks if hook.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        params = {key: str(value) for key, value in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        public_url = HOOKS_PUBLIC + request.path_qs
        valid = RequestValidator(AUTH_TOKEN).validate(public_url, params, signature)
        self.hooks.append(Hook(request.path, params, valid))
        self.timeline.append(("received", request.path))
        if not valid:
            return web.Response(status=403, text="bad signature")
        if delay := self.delays.get(request.path):
            await asyncio.sleep(delay)
        self.timeline.append(("answered", request.path))
        if request.path in self.responses:
            return web.Response(text=self.responses[request.path], content_type="text/xml")
        return web.Response(text="ok")


@dataclass
class StreamConnection:
    """One Media Stream as our server sees it."""

    ws: web.WebSocketResponse
    path: str
    events: list[dict[str, Any]] = field(default_factory=list)
    inbound: bytearray = field(default_factory=bytearray)
    stream_sid: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of_event(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = WAIT) -> Any:
        return await wait_until(condition, timeout)

    async def wait_for_event(self, name: str, count: int = 1) -> dict[str, Any]:
        events = await self.wait_for(
            lambda: len(self.of_event(name)) >= count and self.of_event(name)
        )
        return events[count - 1]

    def inbound_speech_frames(self) -> int:
        return speech_frames(bytes(self.inbound))

    def inbound_silence_run(self) -> int:
        """Trailing frames of silence in what the callee sent us."""
        run = 0
        for end in range(len(self.inbound), audio.FRAME_BYTES - 1, -audio.FRAME_BYTES):
            if audio.is_speech(bytes(self.inbound[end - audio.FRAME_BYTES : end])):
                break
            run += 1
        return run

    async def wait_for_callee_turn(self, speech_frames_before: int) -> None:
        """Wait until the callee spoke (more than before) and then went quiet for 400 ms."""
        await self.wait_for(
            lambda: (
                self.inbound_speech_frames() > speech_frames_before
                and self.inbound_silence_run() >= 20
            )
        )

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def send_audio(self, ulaw: bytes) -> None:
        """Send audio as Twilio media messages, all at once (the simulator paces playback)."""
        for start in range(0, len(ulaw), audio.FRAME_BYTES):
            payload = base64.b64encode(ulaw[start : start + audio.FRAME_BYTES]).decode()
            await self.send(
                {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
            )

    async def send_mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def send_clear(self) -> None:
        await self.send({"event": "clear", "streamSid": self.stream_sid})


Behaviour = Callable[[StreamConnection], Awaitable[None]]


class FakeAgentServer:
    """Our Media Stream endpoint: checks the handshake signature before accepting.

    `behaviour(connection)` plays the agent; when it returns the server keeps reading until
    the simulator closes the stream (after `stop`), unless it closed the socket itself.
    """

    def __init__(self, behaviour: Behaviour | None = None, *, token: str = AUTH_TOKEN) -> None:
        self.behaviour = behaviour
        self.token = token
        self.connections: list[StreamConnection] = []
        self.refused: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> FakeAgentServer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner, self.port = await _serve(app)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def rewrite(self) -> tuple[str, str]:
        return AGENT_PUBLIC, f"ws://127.0.0.1:{self.port}"

    def twiml(self, path: str = "/stream/", **parameters: str) -> str:
        params = "".join(f'<Parameter name="{k}" value="{v}"/>' for k, v in parameters.items())
        url = AGENT_PUBLIC + path
        return f'<Response><Connect><Stream url="{url}">{params}</Stream></Connect></Response>'

    async def connection(self, index: int = 0) -> StreamConnection:
        """The `index`-th stream, once its `start` message has arrived."""
        return await wait_until(
            lambda: (
                len(self.connections) > index
                and self.connections[index].stream_sid
                and self.connections[index]
            )
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        signature = request.headers.get("X-Twilio-Signature", "")
        url = AGENT_PUBLIC + request.path_qs
        if not RequestValidator(self.token).validate(url, {}, signature):
            self.refused.append(url)
            return web.Response(status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = StreamConnection(ws=ws, path=request.path)
        self.connections.append(connection)
        reader = asyncio.create_task(self._read(connection))
        try:
            await connection.wait_for_event("start")
            if self.behaviour is not None:
                await self.behaviour(connection)
            await reader
        finally:
            reader.cancel()
        return ws

    async def _read(self, connection: StreamConnection) -> None:
        async for message in connection.ws:
            if message.type != WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            connection.events.append(event)
            if event["event"] == "start":
                connection.stream_sid = event["streamSid"]
            elif event["event"] == "media":
                connection.inbound.extend(base64.b64decode(event["media"]["payload"]))
