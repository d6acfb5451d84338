"""Media streams on Daphne vs Uvicorn: ``uv run python -m benchmarks.media_servers [--quick]``.

The project's ASGI app (`anvil_voice.asgi.application`) is served by Daphne and by Uvicorn,
each in its own process with the same settings and the same throw-away database (SQLite file
by default; PostgreSQL as `test_<name>` when DATABASE_URL is set). K simulated Twilio calls
open signed Media Streams (`X-Twilio-Signature` over the `wss://` URL, a fresh in-progress
session's token each) and send a 160-byte mu-law frame every 20 ms for a fixed time; K ramps
until the p99 frame handling time passes 20 ms, the servers taking turns at each level (same
load on a shared box). A bare `websockets` server in its own process, doing the same frame
work, is the baseline of the same run (ratio of calls held; server CPU per frame, which
depends far less on the box's load than p99 does).

What the server does with a frame (`BENCH_STREAM_MODE`, default and only mode: `plain`): the
stream path without the speech pipeline (`CALL_PIPELINE=0`: the route's consumer parses the
message, decodes the payload and records start/stop in the database, MediaStreamConsumer's
semantics). The servers run the app with `MEDIA_STREAM_CONSUMER` naming this module's
`EchoingConsumer`, the product's `LiveCallConsumer` plus an echo of each frame after the
consumer's own work (payload re-encoded, with its timestamp), which the bare server does too.
Frame handling = echo received by the client - the moment the frame was due (`t0` + its
timestamp), so a late sender counts as well.

The clients share this process (one event loop), the servers have their own: on a box with
few cores the clients can be the ceiling, which the bare server's figure shows.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import functools
import itertools
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.support import (
    bench_organization,
    create_test_database,
    destroy_test_database,
    free_port,
    percentile,
    stop_process,
)

FRAME = 0.02
PUBLIC = "https://voice.example.com"
AUTH_TOKEN = "bench-servers-token"
CALL_NUMBERS = itertools.count(1)
P99_LIMIT_MS = 20.0


# --- the servers (child processes) ------------------------------------------------------------
CONSUMER = "benchmarks.media_servers.EchoingConsumer"  # the servers' MEDIA_STREAM_CONSUMER


def echo(stream_sid: str, payload: bytes, timestamp: object) -> str:
    """The frame sent back: what the consumer received, with its timestamp."""
    body = {"timestamp": timestamp, "payload": base64.b64encode(payload).decode("ascii")}
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": body})


@functools.cache
def echoing_consumer() -> type[Any]:
    """`LiveCallConsumer` that echoes every media frame after its own work (built on first use:
    the consumer's module needs Django set up, this module is imported before)."""
    from sessions.live.consumer import LiveCallConsumer

    class EchoingConsumer(LiveCallConsumer):
        async def on_media(self, payload: bytes, media: dict[str, Any]) -> None:
            await super().on_media(payload, media)
            await self.send(text_data=echo(self.stream_sid, payload, media.get("timestamp")))

    return EchoingConsumer


def __getattr__(name: str) -> Any:
    """`EchoingConsumer`, for `MEDIA_STREAM_CONSUMER` (Django's import_string)."""
    if name == "EchoingConsumer":
        return echoing_consumer()
    raise AttributeError(name)


def serve_bare(port: int) -> None:
    """A bare `websockets` server doing the consumer's frame work, then the same echo."""
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws: ServerConnection) -> None:
        stream_sid = ""
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    continue
                event = message.get("event")
                if event == "start":
                    stream_sid = str(message["streamSid"])
                elif event == "media":
                    media = message["media"]
                    try:
                        payload = base64.b64decode(media["payload"], validate=True)
                    except binascii.Error:
                        continue
                    await ws.send(echo(stream_sid, payload, media.get("timestamp")))

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None):
            await asyncio.Future()

    asyncio.run(main())


class ServerProcess:
    def __init__(self, kind: str, env: dict[str, str]) -> None:
        self.kind = kind
        self.port = free_port()
        app = "anvil_voice.asgi:application"
        port = str(self.port)
        python = [sys.executable, "-m"]
        commands = {
            "daphne": [*python, "daphne", "-b", "127.0.0.1", "-p", port, "-v", "0", app],
            "uvicorn": [
                *python,
                *("uvicorn", "--host", "127.0.0.1", "--port", port, "--ws", "websockets-sansio"),
                *("--lifespan", "off", "--log-level", "warning", "--no-access-log", app),
            ],
            "bare": [*python, "benchmarks.media_servers", "--serve-bare", port],
        }
        self.command = commands[kind]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(self.command, env=self.env)  # noqa: S603 (our interpreter)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self.kind} did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used (Linux /proc)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            stop_process(self.process)


# --- the database -------------------------------------------------------------------------------
def database_url(connection: Any) -> str:
    """DATABASE_URL naming the throw-away database this process created, for the servers."""
    data = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(data['NAME']).resolve()}"
    user = data.get("USER") or ""
    password = f":{data['PASSWORD']}" if data.get("PASSWORD") else ""
    at = "@" if user else ""
    port = f":{data['PORT']}" if data.get("PORT") else ""
    return f"postgres://{user}{password}{at}{data.get('HOST') or '127.0.0.1'}{port}/{data['NAME']}"


def make_sessions(count: int) -> list[str]:
    """`count` in-progress sessions whose stream has not opened yet: their tokens."""
    from sessions.models import CallSession, CallStatus, SessionKind

    organization = bench_organization()
    created = CallSession.objects.bulk_create(
        CallSession(
            organization=organization,
            kind=SessionKind.TEST,
            to_number=f"+1202555{n % 10000:04d}",
            from_number="+14155550100",
            status=CallStatus.IN_PROGRESS,
        )
        for n in range(count)
    )
    return [session.token for session in created]


# --- the clients --------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.echoes: list[tuple[float, float]] = []  # (due, received) of every echoed frame
        self.window = (0.0, 0.0)  # frames due in this interval are the measured ones
        self.refused = 0

    def measured(self) -> list[float]:
        """Handling time (ms) of the frames due in the window."""
        start, end = self.window
        return [1000 * (got - due) for due, got in self.echoes if start <= due < end]


async def twilio_stream(
    port: int, token: str, index: int, stop: asyncio.Event, recorder: Recorder
) -> None:
    """One call's Media Stream: signed handshake, connected, start, media every 20 ms, stop."""
    from twilio.request_validator import RequestValidator
    from websockets.asyncio.client import connect

    path = f"/ws/twilio/media/{token}/"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"wss://{PUBLIC.split('://', 1)[1]}{path}", {}
    )
    loop = asyncio.get_running_loop()
    stream_sid = f"MZ{index:032x}"
    payload = base64.b64encode(bytes([0xFF, 0x7F] * 80)).decode("ascii")
    try:
        ws = await connect(
            f"ws://127.0.0.1:{port}{path}",
            additional_headers={"X-Twilio-Signature": signature},
            compression=None,
            open_timeout=30,
        )
    except Exception:
        recorder.refused += 1
        return
    async with ws:
        t0 = loop.time()

        async def read() -> None:
            with contextlib.suppress(Exception):
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("event") == "media":
                        due = t0 + int(message["media"]["timestamp"]) / 1000
                        recorder.echoes.append((due, loop.time()))

        reader = asyncio.create_task(read())
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "accountSid": "AC" + "b" * 32,
            "streamSid": stream_sid,
            "callSid": f"CA{next(CALL_NUMBERS):032x}",  # unique: it binds to the session
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"session": token},
        }
        await ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
        chunk = 0
        try:
            while not stop.is_set():
                delay = t0 + chunk * FRAME - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                media = {"track": "inbound", "chunk": str(chunk), "timestamp": str(chunk * 20)}
                media["payload"] = payload
                await ws.send(
                    json.dumps({"event": "media", "streamSid": stream_sid, "media": media})
                )
                chunk += 1
            await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))
            await asyncio.sleep(0.2)
        except Exception:
            recorder.refused += 1
        finally:
            reader.cancel()


async def level(
    port: int, tokens: list[str], seconds: float, cpu: Callable[[], float]
) -> tuple[float, float, float, Recorder]:
    """p50 and p99 frame handling (ms), and the server's CPU seconds over the window."""
    recorder = Recorder()
    stop = asyncio.Event()
    tasks = []
    for index, token in enumerate(tokens):
        tasks.append(asyncio.create_task(twilio_stream(port, token, index, stop, recorder)))
        await asyncio.sleep(min(0.005, 1.0 / len(tokens)))  # calls do not start in lockstep
    await asyncio.sleep(1.0)  # warm up
    loop = asyncio.get_running_loop()
    recorder.window = (loop.time(), loop.time() + seconds)
    cpu_before = cpu()
    await asyncio.sleep(seconds)
    cpu_used = cpu() - cpu_before
    await asyncio.sleep(0.5)  # frames due at the end of the window get half a second
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ms = recorder.measured()
    return percentile(ms, 50), percentile(ms, 99), cpu_used, recorder


@dataclass
class Row:
    p99_ms: float
    cpu_us_per_frame: float


def ramp(kinds: list[str], env: dict[str, str], levels: list[int], seconds: float) -> Curves:
    """p99 and server CPU per frame for each level, the servers taking turns at each level (on
    a shared box the load drifts: interleaving gives them the same weather). A server drops out
    once it has clearly collapsed (p99 over ten times the limit, or frames not echoed)."""
    curves: Curves = {kind: {} for kind in kinds}
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(ServerProcess(kind, env)) for kind in kinds}
        running = list(kinds)
        for calls in levels:
            print(f"  {calls} calls:", flush=True)
            for kind in list(running):
                server = servers[kind]
                # The bare server checks no token; the ASGI app needs a fresh session per stream.
                tokens = [f"bare{n:020d}" for n in range(calls)] if kind == "bare" else []
                tokens = tokens or make_sessions(calls)
                p50, p99, cpu, recorder = asyncio.run(
                    level(server.port, tokens, seconds, server.cpu_seconds)
                )
                frames = calls * seconds / FRAME
                echoed = len(recorder.measured()) / frames
                per_frame = 1e6 * cpu / frames
                print(
                    f"    {kind:8s} p50 {p50:6.1f} ms, p99 {p99:7.1f} ms; "
                    f"{echoed:4.0%} of frames echoed; refused {recorder.refused}; server CPU "
                    f"{cpu / seconds:4.0%} of a core = {per_frame:4.0f} us per frame",
                    flush=True,
                )
                ok = echoed >= 0.95 and not recorder.refused
                curves[kind][calls] = Row(p99 if ok else math.inf, per_frame)
                if not ok or p99 > 10 * P99_LIMIT_MS:
                    running.remove(kind)
            if not running:
                break
    return curves


Curves = dict[str, dict[int, Row]]


def held(rows: dict[int, Row]) -> int:
    """Most calls before the first level whose p99 reached the limit."""
    best = 0
    for calls, row in sorted(rows.items()):
        if not row.p99_ms < P99_LIMIT_MS:
            break
        best = calls
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer levels, shorter runs")
    parser.add_argument("--levels", help="concurrent calls to try, comma-separated")
    parser.add_argument("--seconds", type=float, help="measured seconds per level")
    parser.add_argument("--servers", default="bare,daphne,uvicorn")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    mode = os.environ.get("BENCH_STREAM_MODE", "plain")
    if mode != "plain":
        raise SystemExit("BENCH_STREAM_MODE: only 'plain' is implemented")
    default = [5, 10, 25] if args.quick else [5, 10, 25, 50, 75, 100, 150, 200, 300]
    levels = [int(n) for n in args.levels.split(",")] if args.levels else default
    seconds = args.seconds or (2.0 if args.quick else 5.0)

    connection = create_test_database("bench-servers-")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(connection),
        CALL_PIPELINE="0",
        MEDIA_STREAM_CONSUMER=CONSUMER,
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_AUTH_TOKEN_SECONDARY="",
        CARRIER_BACKEND="anvil_voice.telephony.twilio.TwilioCarrier",
        HTTPS_ONLY="0",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-servers-secret-key-" + "x" * 40,
        BENCH_STREAM_MODE=mode,
        LOG_LEVEL="WARNING",
    )
    print(
        f"database: {connection.vendor}; mode: {mode} (CALL_PIPELINE=0, echoing consumer); "
        f"{seconds:g} s per level; p99 limit {P99_LIMIT_MS:g} ms",
        flush=True,
    )
    try:
        curves = ramp([name for name in args.servers.split(",") if name], env, levels, seconds)
    finally:
        destroy_test_database(connection)
    counts = {kind: held(rows) for kind, rows in curves.items()}
    bare = counts.get("bare", 0)
    summary = ", ".join(
        f"{kind} {count}" + (f" ({count / bare:.2f} of bare)" if bare and kind != "bare" else "")
        for kind, count in counts.items()
    )
    print(f"calls held with p99 < {P99_LIMIT_MS:g} ms: {summary}", flush=True)
    for calls in levels:
        cells = [f"{k} {rows[calls].p99_ms:.1f}" for k, rows in curves.items() if calls in rows]
        if cells:
            print(f"  p99 ms at {calls} calls: " + ", ".join(cells), flush=True)
    # CPU per frame hardly depends on how busy the box is (p99 does): the servers' own cost at
    # the same number of calls, against the bare server's (it falls as calls grow: idle work
    # and wake-ups are shared by more frames, so compare within a level).
    for calls in levels:
        costs = {k: rows[calls].cpu_us_per_frame for k, rows in curves.items() if calls in rows}
        base = costs.get("bare")
        cells = [
            f"{k} {us:.0f}" + (f" ({us / base:.1f}x bare)" if base and k != "bare" else "")
            for k, us in costs.items()
        ]
        if cells:
            print(f"  server CPU us per frame at {calls} calls: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
