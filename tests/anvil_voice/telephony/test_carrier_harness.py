"""Harness for the carrier, webhook and placement tests (it holds no tests itself).

- `SimulatorThread`: the Twilio simulator on its own event loop in a thread, so synchronous
  Django code (services, the SDK) talks to it like to Twilio.
- `AsgiServer`: our ASGI app (HTTP + websockets) served by uvicorn in a thread, so the simulator
  can post signed callbacks and open Media Streams. pytest-django's `live_server` is WSGI-only.
  Tests that use it need `django_db(transaction=True)`: the server thread has its own
  database connection and sees only committed rows.
- `point_settings_at`: our Twilio settings for a simulator.

Test modules wrap these in their own (module-scoped) fixtures. Tests in other folders import
this module through `sys.path` (test folders are not packages).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn
from django.db import close_old_connections

from anvil_voice.accounts.models import Organization
from anvil_voice.telephony.simulator import Persona, SimulatedCall, TwilioSimulator, audio
from sessions.models import CallSession

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "carrier-test-token"
SECONDARY_TOKEN = "carrier-test-token-next"
CALLER = "+15005550006"
# Ring, AMD and callback delays shrink a hundredfold; media audio stays real time.
TIME_SCALE = 0.01
WAIT = 10.0
# Nothing listens on the discard port: callbacks and streams fail fast instead of hanging.
NOWHERE = "http://127.0.0.1:9"


def fast_speak(text: str) -> bytes:
    """Personas speak 300 ms of speech-like audio instead of running Piper."""
    return audio.babble("x" * 6)


def number(persona: str, area: str = "555") -> str:
    """A fictional number reaching `persona` (two digits, PERSONAS.md): `+1{area}55501{persona}`."""
    return f"+1{area}55501{persona}"


def wait_for[T](condition: Callable[[], T], timeout: float = WAIT, message: str = "") -> T:
    """Poll `condition` until it is truthy (bounded): for state another thread changes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message or condition}")
        time.sleep(0.02)


class SimulatorThread:
    def __init__(
        self,
        *,
        url_rewrites: list[tuple[str, str]] | None = None,
        cps: float = 100.0,
        speak: Callable[[str], bytes] | None = fast_speak,
        personas: Callable[[str], Persona] | None = None,
    ):
        """`speak=None`: personas talk with the local Piper voice (for tests that listen)."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="twilio-sim", daemon=True)
        self.sim = TwilioSimulator(
            ACCOUNT_SID,
            AUTH_TOKEN,
            speak=speak,
            time_scale=TIME_SCALE,
            cps=cps,
            url_rewrites=url_rewrites or [],
            personas=personas,
        )

    def __enter__(self) -> SimulatorThread:
        self.thread.start()
        self.run(self.sim.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run(self.sim.stop(), timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def run[T](self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def on_loop[T](self, function: Callable[[], T]) -> T:
        """Read simulator state on its own thread."""

        async def call() -> T:
            return function()

        return self.run(call())

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    def calls_to(self, to: str) -> list[SimulatedCall]:
        return self.on_loop(lambda: self.sim.calls_to(to))

    def creates_to(self, to: str) -> list[dict[str, Any]]:
        """Every `POST Calls.json` the simulator received for `to` (also failed ones)."""

        def creates() -> list[dict[str, Any]]:
            return [
                request
                for request in self.sim.requests
                if request["method"] == "POST"
                and request["path"].endswith("/Calls.json")
                and request["params"].get("To") == to
            ]

        return self.on_loop(creates)

    def wait_for_end(self, sid: str, timeout: float = WAIT) -> SimulatedCall:
        return self.run(self.sim.wait_for_end(sid, timeout), timeout + 1)

    def wait_for_status(self, sid: str, status: str, timeout: float = WAIT) -> None:
        call = self.on_loop(lambda: self.sim.get_call(sid))
        assert call is not None
        wait_for(lambda: call.status == status, timeout, f"call {sid} to be {status}")


class AsgiServer:
    """`anvil_voice.asgi.application` on a free port, served by uvicorn in a thread."""

    def __init__(self) -> None:
        from anvil_voice.asgi import application

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            application,
            lifespan="off",
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="asgi", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_rewrite(self) -> tuple[str, str]:
        """Our TwiML says `wss://` (Twilio's rule); the simulator connects with plain `ws://`."""
        return f"wss://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> AsgiServer:
        self.thread.start()
        wait_for(lambda: self.server.started, message="uvicorn to start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


# --- settings -----------------------------------------------------------------------------
def point_settings_at(settings: Any, simulator: SimulatorThread, public_base_url: str) -> Any:
    """Our Twilio settings for `simulator`, with Twilio reaching us at `public_base_url`."""
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.TWILIO_API_BASE_URL = simulator.base_url
    settings.CARRIER_BACKEND = "anvil_voice.telephony.twilio.TwilioCarrier"
    settings.PUBLIC_BASE_URL = public_base_url
    settings.TWILIO_HTTP_TIMEOUT_SECONDS = 5.0
    settings.TWILIO_CALL_TIMEOUT_SECONDS = 30
    # Scaled by the simulator: answered calls end by themselves 1 s after answering.
    settings.TWILIO_TIME_LIMIT_SECONDS = 100
    settings.TWILIO_MACHINE_DETECTION = True
    return settings


def make_session(organization: Organization, to: str, **fields: Any) -> CallSession:
    return CallSession.objects.create(
        organization=organization, to_number=to, from_number=CALLER, **fields
    )


def make_campaign(organization: Organization, **fields: Any) -> Any:
    from campaigns.models import CallerId, Campaign, ContactList
    from scripts.factories import ScriptFactory
    from sessions.factories import VoiceFactory

    return Campaign.objects.create(
        organization=organization,
        name="Spring renewals",
        script=ScriptFactory(organization=organization),
        voice=VoiceFactory(organization=organization),
        contact_list=ContactList.objects.create(organization=organization, name="Renewals"),
        caller_id=CallerId.objects.get_or_create(organization=organization, phone_number=CALLER)[0],
        **fields,
    )


def in_thread[T](function: Callable[[], T]) -> Callable[[], T]:
    """Run `function` as a worker thread would: its own connection, closed at the end."""

    def run() -> T:
        try:
            return function()
        finally:
            close_old_connections()
            from django.db import connection

            connection.close()

    return run
