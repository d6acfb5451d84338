"""`TwilioSimulator`: the aiohttp server, the call registry, and the in-process test API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from . import errors
from .callbacks import UrlRewriter, Webhooks
from .calls import CallRequest, SimulatedCall, new_sid
from .conference import Conferences
from .dispatch import Dispatcher
from .faults import Faults
from .personas import Persona, persona_for
from .rest import RestApi
from .runner import CallRunner, Environment
from .voice import Speak, Voice

logger = logging.getLogger(__name__)

# Twilio queues calls over the CPS for up to 24 hours.
QUEUE_HOURS = 24


class TwilioSimulator:
    """A local stand-in for Twilio Programmable Voice (see the package docstring).

    Use in-process (`async with TwilioSimulator(...) as sim:`; port 0 picks a free port) or
    as a process (`python -m anvil_voice.telephony.simulator`).
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cps: float = 1.0,
        speak: Speak | None = None,
        time_scale: float = 1.0,
        url_rewrites: Sequence[tuple[str, str]] = (),
        queue_limit: int | None = None,
        public_base_url: str | None = None,
        personas: Callable[[str], Persona] | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.cps = cps
        self.time_scale = time_scale
        self.faults = Faults()
        # Every REST request received, also those that made no call (auth or validation errors).
        self.requests: list[dict[str, Any]] = []
        self._speak = speak
        self._rewrite = UrlRewriter(url_rewrites)
        self._queue_limit = queue_limit or max(1, int(cps * QUEUE_HOURS * 3600))
        self._public_base_url = public_base_url
        # Who answers a number (`personas.persona_for`; `hourly.HourlyPersonas` by the hour).
        self._persona_for = personas or persona_for
        self._calls: dict[str, SimulatedCall] = {}
        self._runners: dict[str, CallRunner] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._app_runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._env: Environment | None = None
        self._dispatcher: Dispatcher | None = None
        self._dispatcher_task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = asyncio.Event()
        # A connection per request and per Media Stream, never a pooled keep-alive one: Twilio's
        # webhooks and streams come from many hosts, each on its own connection. With a pool, a
        # stream reused the connection its TwiML came on, so behind a load balancer that
        # balances connections (make run-cluster's) one web process got most calls.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        self._env = Environment(
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            time_scale=self.time_scale,
            voice=Voice(self._speak),
            session=self._session,
            webhooks=Webhooks(self._session, self.auth_token, self._rewrite),
            rewrite=self._rewrite,
            base_url=lambda: self.base_url,
            conferences=Conferences(),
        )
        self._dispatcher = Dispatcher(self.cps, self._queue_limit)
        self._dispatcher_task = asyncio.create_task(self._dispatcher.run(), name="sim-dispatch")
        app = web.Application()
        app.add_routes(RestApi(self).routes())
        app.add_routes(_sim_routes(self))
        # Short shutdown: stalled answers are released by `stop()` anyway.
        self._app_runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._app_runner.setup()
        site = web.TCPSite(self._app_runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            # Port taken (or start cancelled): release the client session and the dispatcher,
            # or asyncio reports "Unclosed client session" when they are collected.
            await self.stop()
            raise
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        logger.info("event=simulator_started base_url=%s cps=%s", self.base_url, self.cps)

    async def stop(self) -> None:
        self._stopping.set()
        for call in self._calls.values():
            if not call.is_final:
                call.request_end("completed")
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        for task in [*self._tasks, self._dispatcher_task]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dispatcher_task is not None:
            await asyncio.gather(self._dispatcher_task, return_exceptions=True)
        if self._app_runner is not None:
            await self._app_runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> TwilioSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Where the SDK should point: `client.api.base_url = sim.base_url`."""
        return self._public_base_url or f"http://{self.host}:{self.port}"

    # --- calls -----------------------------------------------------------------------------
    @property
    def calls(self) -> list[SimulatedCall]:
        """Every call, in creation order."""
        return list(self._calls.values())

    def get_call(self, sid: str) -> SimulatedCall | None:
        return self._calls.get(sid)

    def calls_to(self, number: str) -> list[SimulatedCall]:
        return [call for call in self._calls.values() if call.request.to == number]

    def create_call(self, request: CallRequest) -> SimulatedCall:
        if self._env is None or self._dispatcher is None:
            raise RuntimeError("call start() before creating calls")
        self._dispatcher.check_capacity()
        call = SimulatedCall(
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            request=request,
            persona=self._persona_for(request.to),
        )
        call.log.add("status", status=call.status)
        runner = CallRunner(self._env, call)
        self._calls[call.sid] = call
        self._runners[call.sid] = runner
        task = asyncio.create_task(runner.run(), name=f"call-{call.sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._dispatcher.submit(runner)
        return call

    async def wait_for_end(self, sid: str, timeout: float = 10.0) -> SimulatedCall:
        """Wait until the call has ended and its final callbacks have been delivered."""
        call = self._calls[sid]
        await asyncio.wait_for(call.ended.wait(), timeout)
        return call

    async def wait_for_call(self, to: str, timeout: float = 10.0) -> SimulatedCall:
        """Wait until a call to `to` exists (e.g. placed by code under test)."""

        async def poll() -> SimulatedCall:
            while not (calls := self.calls_to(to)):
                await asyncio.sleep(0.01)
            return calls[0]

        return await asyncio.wait_for(poll(), timeout)

    def send_dtmf(self, sid: str, digit: str) -> bool:
        """Press a key on the callee's phone: a `dtmf` message on the open Media Stream."""
        runner = self._runners.get(sid)
        return runner.send_dtmf(digit) if runner else False

    def start_recording(self, sid: str, *, callback: str | None, method: str = "POST") -> None:
        """Start recording a call in progress (the REST API's Call Recordings resource)."""
        runner = self._runners.get(sid)
        if runner is None:
            raise errors.not_found(sid)
        runner.start_recording(callback=callback, method=method)

    async def sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _sim_routes(sim: TwilioSimulator) -> list[web.RouteDef]:
    """Simulator-only endpoints, for tests and demos driving a separate process."""

    async def list_calls(request: web.Request) -> web.Response:
        calls = sim.calls
        if "To" in request.query:
            calls = sim.calls_to(request.query["To"])
        return web.json_response({"calls": [call.summary() for call in calls]})

    async def get_call(request: web.Request) -> web.Response:
        call = sim.get_call(request.match_info["sid"])
        if call is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(call.summary())

    async def faults(request: web.Request) -> web.Response:
        body = await request.json()
        kind = body.get("kind")
        if kind == "stall":
            sim.faults.stall_next_creates(int(body.get("count", 1)), float(body["seconds"]))
        elif kind == "fail":
            sim.faults.fail_next_creates(
                int(body.get("count", 1)),
                status=int(body.get("status", 500)),
                code=body.get("code"),
            )
        elif kind == "reset":
            sim.faults.reset()
        else:
            return web.json_response({"error": "kind must be stall, fail or reset"}, status=400)
        return web.json_response({"ok": True})

    async def dtmf(request: web.Request) -> web.Response:
        body = await request.post()
        sent = sim.send_dtmf(request.match_info["sid"], str(body.get("Digits", "")))
        return web.json_response({"sent": sent}, status=200 if sent else 409)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "calls": len(sim.calls)})

    async def requests_log(request: web.Request) -> web.Response:
        return web.json_response({"requests": sim.requests})

    return [
        web.get("/_sim/calls", list_calls),
        web.get("/_sim/calls/{sid}", get_call),
        web.post("/_sim/calls/{sid}/dtmf", dtmf),
        web.post("/_sim/faults", faults),
        web.get("/_sim/requests", requests_log),
        web.get("/_sim/health", health),
    ]
