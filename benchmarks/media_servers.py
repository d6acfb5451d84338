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
import dataclasses
import functools
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

import orjson

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
P99_LIMIT_MS = 20.0


# --- the servers (child processes) ------------------------------------------------------------
CONSUMER = "benchmarks.media_servers.EchoingConsumer"  # the servers' MEDIA_STREAM_CONSUMER


# Frames echoed (and so measured): those whose chunk number is a multiple of this. Every frame
# costs the server its parse and the consumer's work; only the echoed ones cost it a send and
# the clients a receive, so a sparser echo keeps the load generator from being the limit.
ECHO_EVERY = max(1, int(os.environ.get("BENCH_ECHO_EVERY", "1")))


def echoed(media: dict[str, Any]) -> bool:
    chunk = media.get("chunk")
    return ECHO_EVERY == 1 or (isinstance(chunk, str) and int(chunk) % ECHO_EVERY == 0)


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
            if echoed(media):
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
                    if echoed(media):
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


SCRIPT = {
    "name": "Media servers benchmark",
    "opening_line": "Hi {{first_name}}, it's Sam from Anvil Solar, want to hear about our plan?",
    "closing_line": "Great, we will be in touch, goodbye!",
    "system_prompt": "You sell solar plans politely.",
}


@functools.cache
def script_version_id() -> int:
    """A published script of the bench organization (the pipeline's calls say its lines)."""
    from scripts import services as scripts
    from scripts.models import ScriptVersion

    script = scripts.script_create(organization=bench_organization(), fields=SCRIPT)
    return int(ScriptVersion.objects.filter(script=script).latest("number").pk)


def make_sessions(count: int, *, scripted: bool = False) -> list[str]:
    """`count` in-progress sessions whose stream has not opened yet: their tokens. Scripted
    ones have a script version, so the pipeline runs on their streams (local voice)."""
    from sessions.models import CallSession, CallStatus, SessionKind

    organization = bench_organization()
    version = script_version_id() if scripted else None
    created = CallSession.objects.bulk_create(
        CallSession(
            organization=organization,
            kind=SessionKind.TEST,
            to_number=f"+1202555{n % 10000:04d}",
            from_number="+14155550100",
            status=CallStatus.IN_PROGRESS,
            script_version_id=version,
            variables={"first_name": "Jane"} if scripted else {},
        )
        for n in range(count)
    )
    return [session.token for session in created]


def callgrind(*, on: bool) -> None:
    """Under `valgrind --tool=callgrind --instr-atstart=no` (BENCH_CALLGRIND=1), count only the
    frames: the imports and the set-up are not instrumented."""
    if os.environ.get("BENCH_CALLGRIND"):
        command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603


def in_process(frames: int, rounds: int = 3, parts: str = "parse,pipeline") -> None:
    """CPU per frame of the media consumer alone, no server, no socket (one process, one
    thread): Twilio's `media` message through `LiveCallConsumer.receive`, (a) parse only,
    (b) with the live pipeline fed (real turn detection, instant fake STT/TTS/agent), the
    caller talking in turns; best of `rounds` rounds each, interleaved. Under callgrind
    (instructions, whatever the box's load), run one part with two frame counts: the
    difference over the frames is the per-frame count."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    os.environ.setdefault("SECRET_KEY", "bench-servers-secret-key-" + "x" * 40)
    os.environ.setdefault("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    import django

    django.setup()
    from benchmarks.pipeline import bench_pipeline, caller_pattern
    from sessions.live.consumer import LiveCallConsumer

    pattern = caller_pattern()
    messages = [
        MEDIA_TEMPLATE.format(
            seq=n + 3,
            sid="MZ" + "0" * 32,
            chunk=n,
            ts=n * 20,
            payload=base64.b64encode(pattern[n % len(pattern)]).decode("ascii"),
        )
        for n in range(frames)
    ]

    async def nothing(*args: object, **kwargs: object) -> None:
        return None

    async def feed(with_pipeline: bool) -> float:
        # Through the consumer's ASGI entry (Channels' dispatch loop, the channel layer's
        # receive racing the socket's), as a server drives it; the socket is an in-memory queue
        # holding every message, then the disconnect.
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in messages:
            queue.put_nowait({"type": "websocket.receive", "text": message})
        queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
        consumer = LiveCallConsumer()
        pipeline = bench_pipeline(send=nothing, hang_up=nothing) if with_pipeline else None
        if pipeline is not None:
            pipeline.start("MZ1")
            consumer.pipeline = pipeline
        scope = {"type": "websocket", "path": "/ws/twilio/media/x/", "url_route": {"kwargs": {}}}
        await asyncio.sleep(0)
        callgrind(on=True)
        started = time.process_time()
        await consumer(scope, queue.get, nothing)
        used = time.process_time() - started
        callgrind(on=False)
        if pipeline is not None:
            await pipeline.close()
        return 1e6 * used / frames

    async def measure() -> None:
        best = {False: math.inf, True: math.inf}
        modes = [part == "pipeline" for part in parts.split(",")]
        for _ in range(rounds):
            for with_pipeline in modes:
                best[with_pipeline] = min(best[with_pipeline], await feed(with_pipeline))
        parse, fed = best[False], best[True]
        print(
            f"in process, {frames} frames, best of {rounds}: parse {parse:.1f} us per frame; "
            f"parse + pipeline {fed:.1f} us (the pipeline: {fed - parse:.1f} us)",
            flush=True,
        )

    asyncio.run(measure())


# --- the clients (their own processes) ----------------------------------------------------------
# A client process runs its share of the calls on its own event loop (uvloop) and reports the
# handling time of the frames it measured. Its messages are built from a template (no
# json.dumps per frame), and an agent frame or mark is recognised before any parse: a client's
# cost per call is what Twilio would pay, not a second server's.
MEDIA_TEMPLATE = (
    '{{"event":"media","sequenceNumber":"{seq}","streamSid":"{sid}","media":{{"track":"inbound",'
    '"chunk":"{chunk}","timestamp":"{ts}","payload":"{payload}"}}}}'
)


@dataclass
class ClientSpec:
    port: int
    tokens: list[str]
    first_index: int
    start_at: float  # wall-clock time: streams start sending together
    window: tuple[float, float]  # wall-clock times: frames due in it are measured
    stop_at: float
    speech: bool  # frames of a speech-like pattern instead of digital silence
    spread: float  # seconds over which the calls' first frames are spread
    output: str  # where the client writes its result (JSON)


@dataclass
class ClientResult:
    handling_ms: list[float]
    refused: int
    expected: int  # echoes due in the window
    cpu_seconds: float


def caller_frames(speech: bool) -> list[str]:
    """Base64 payloads a caller sends in turn: silence, or 1.2 s of a loud tone then 1.8 s of
    silence (the server's VAD opens and closes an utterance every 3 s)."""
    silence = base64.b64encode(bytes([0xFF, 0x7F] * 80)).decode("ascii")
    if not speech:
        return [silence]
    # mu-law codes 0x20/0xA0: about -12 dBFS, well above the VAD's threshold.
    loud = base64.b64encode(bytes([0x20, 0xA0] * 80)).decode("ascii")
    return [loud] * 60 + [silence] * 90


async def twilio_stream(spec: ClientSpec, token: str, index: int, echoes: list[float]) -> int:
    """One call's Media Stream: signed handshake, connected, start, media every 20 ms, stop.
    Marks are echoed back at once (Twilio echoes them when played). Returns 1 if refused."""
    from twilio.request_validator import RequestValidator
    from websockets.asyncio.client import connect

    path = f"/ws/twilio/media/{token}/"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"wss://{PUBLIC.split('://', 1)[1]}{path}", {}
    )
    loop = asyncio.get_running_loop()
    stream_sid = f"MZ{index:032x}"
    payloads = caller_frames(spec.speech)
    try:
        ws = await connect(
            f"ws://127.0.0.1:{spec.port}{path}",
            additional_headers={"X-Twilio-Signature": signature},
            compression=None,
            open_timeout=60,
            max_queue=None,
        )
    except Exception:
        return 1
    async with ws:
        # Loop time of the wall-clock start; frames are due every 20 ms from it (calls are
        # staggered by their index so they do not all send in the same millisecond).
        base = loop.time() + (spec.start_at - time.time())  # spec.start_at in loop time
        window = (base + spec.window[0] - spec.start_at, base + spec.window[1] - spec.start_at)
        stop_at = base + spec.stop_at - spec.start_at
        t0 = base + (index % 50) * FRAME / 50
        # Calls answered at once would all time out, speak and write their turns in the same
        # millisecond all call long; dialled calls do not (CPS pacing): spread the starts.
        t0 += spec.spread * ((index * 7919) % 1000) / 1000

        async def read() -> None:
            with contextlib.suppress(Exception):
                async for raw in ws:
                    if '"timestamp"' in raw:
                        received = loop.time()
                        timestamp = orjson.loads(raw)["media"]["timestamp"]
                        due = t0 + int(timestamp) / 1000
                        if window[0] <= due < window[1]:
                            echoes.append(1000 * (received - due))
                    elif '"mark"' in raw:
                        name = orjson.loads(raw)["mark"]["name"]
                        mark = {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}
                        await ws.send(orjson.dumps(mark).decode())

        reader = asyncio.create_task(read())
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "accountSid": "AC" + "b" * 32,
            "streamSid": stream_sid,
            "callSid": f"CA{os.getpid():08x}{index:024x}",  # unique: it binds to the session
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"session": token},
        }
        await ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
        chunk = 0
        try:
            while True:
                due = t0 + chunk * FRAME
                if due >= stop_at:
                    break
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send(
                    MEDIA_TEMPLATE.format(
                        seq=chunk + 3,
                        sid=stream_sid,
                        chunk=chunk,
                        ts=chunk * 20,
                        payload=payloads[chunk % len(payloads)],
                    )
                )
                chunk += 1
            await asyncio.sleep(0.5)  # the last echoes
            await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))
            await asyncio.sleep(0.2)
        except Exception:
            return 1
        finally:
            reader.cancel()
    return 0


async def run_clients(spec: ClientSpec) -> ClientResult:
    echoes: list[float] = []
    cpu = [0.0, 0.0]  # this process's CPU time at the window's start and end

    async def watch() -> None:
        for edge in (0, 1):
            await asyncio.sleep(max(0.0, spec.window[edge] - time.time()))
            cpu[edge] = time.process_time()

    watcher = asyncio.create_task(watch())
    refused = await asyncio.gather(
        *(
            twilio_stream(spec, token, spec.first_index + n, echoes)
            for n, token in enumerate(spec.tokens)
        )
    )
    await watcher
    measured = spec.window[1] - spec.window[0]
    expected = round(len(spec.tokens) * measured / FRAME / ECHO_EVERY)
    return ClientResult(echoes, sum(refused), expected, cpu[1] - cpu[0])


def client_main() -> None:
    """A client process: the spec on stdin, the result in the spec's output file (JSON)."""
    import uvloop

    spec = ClientSpec(**json.loads(sys.stdin.read()))
    result = uvloop.run(run_clients(spec))
    result.handling_ms = [round(ms, 3) for ms in result.handling_ms]
    Path(spec.output).write_bytes(orjson.dumps(dataclasses.asdict(result)))


@functools.cache
def stack_dir() -> Path:
    """A scratch directory for the clients' results (removed at exit)."""
    import atexit
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="bench-media-clients-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@dataclass
class LevelResult:
    p50_ms: float
    p99_ms: float
    server_cpu: float  # seconds over the window
    measured: int
    expected: int
    refused: int
    client_cpu: list[float]  # each client process's CPU seconds over the window


def level(
    port: int,
    tokens: list[str],
    seconds: float,
    cpu: Callable[[], float],
    *,
    clients: int,
    speech: bool,
    env: dict[str, str],
    settle: float | None = None,
    spread: float = 0.0,
) -> LevelResult:
    """p50 and p99 frame handling (ms), and the server's CPU seconds over the window; the
    calls are shared between `clients` processes."""
    ramp_up = 3.0 + len(tokens) * 0.02  # handshakes (each claims its token in the database)
    start_at = time.time() + ramp_up
    # The streams' starts (a database write each, one thread) and the pipeline's (setup, the
    # opening's synthesis) are over before the window.
    warm_up = settle if settle is not None else 2.0 + len(tokens) * 0.02
    window = (start_at + warm_up, start_at + warm_up + seconds)
    processes = []
    outputs = []
    scratch = stack_dir()
    for part in range(clients):
        share = tokens[part::clients]
        if not share:
            continue
        spec = ClientSpec(
            port=port,
            tokens=share,
            first_index=part * 10_000,
            start_at=start_at,
            window=window,
            stop_at=window[1] + 0.5,
            speech=speech,
            spread=spread,
            output=str(scratch / f"client-{part}.json"),
        )
        outputs.append(Path(spec.output))
        command = [sys.executable, "-m", "benchmarks.media_servers", "--client"]
        process = subprocess.Popen(  # noqa: S603 (our interpreter)
            command, env=env, stdin=subprocess.PIPE
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(dataclasses.asdict(spec)).encode())
        process.stdin.close()
        processes.append(process)
    time.sleep(max(0.0, window[0] - time.time()))
    cpu_before = cpu()
    time.sleep(max(0.0, window[1] - time.time()))
    cpu_used = cpu() - cpu_before
    results = []
    for process, output in zip(processes, outputs, strict=True):
        process.wait(timeout=120)
        results.append(ClientResult(**orjson.loads(output.read_bytes())))
        output.unlink()
    ms = [value for result in results for value in result.handling_ms]
    return LevelResult(
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        server_cpu=cpu_used,
        measured=len(ms),
        expected=sum(result.expected for result in results),
        refused=sum(result.refused for result in results),
        client_cpu=[result.cpu_seconds for result in results],
    )


@dataclass
class Row:
    p99_ms: float
    cpu_us_per_frame: float


def ramp(kinds: list[str], env: dict[str, str], levels: list[int], options: Options) -> Curves:
    """p99 and server CPU per frame for each level, the servers taking turns at each level (on
    a shared box the load drifts: interleaving gives them the same weather). A server drops out
    once it has collapsed (frames not echoed, or streams refused); a bad p99 alone does not
    stop it (the pipeline's first level also warms the TTS cache)."""
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
                tokens = tokens or make_sessions(calls, scripted=options.mode == "pipeline")
                result = level(
                    server.port,
                    tokens,
                    options.seconds,
                    server.cpu_seconds,
                    clients=options.clients,
                    speech=options.speech,
                    env=env,
                    settle=options.settle,
                    spread=options.spread,
                )
                frames = calls * options.seconds / FRAME
                share = result.measured / max(1, result.expected)
                per_frame = 1e6 * result.server_cpu / frames
                clients_cpu = "/".join(f"{c / options.seconds:.0%}" for c in result.client_cpu)
                print(
                    f"    {kind:8s} p50 {result.p50_ms:6.1f} ms, p99 {result.p99_ms:7.1f} ms "
                    f"({result.measured} frames, {share:4.0%} of those due); refused "
                    f"{result.refused}; server CPU {result.server_cpu / options.seconds:4.0%} of "
                    f"a core = {per_frame:4.0f} us per frame; clients {clients_cpu} of a core",
                    flush=True,
                )
                ok = share >= 0.95 and not result.refused
                curves[kind][calls] = Row(result.p99_ms if ok else math.inf, per_frame)
                if not ok:
                    running.remove(kind)
            if not running:
                break
    return curves


@dataclass
class Options:
    mode: str
    seconds: float
    clients: int
    speech: bool
    settle: float | None = None  # seconds from the streams' first frame to the window
    spread: float = 0.0  # seconds over which the calls' first frames are spread


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
    parser.add_argument(
        "--mode",
        choices=["plain", "pipeline"],
        default=os.environ.get("BENCH_STREAM_MODE", "plain"),
        help="plain: CALL_PIPELINE=0; pipeline: each call runs the live-call pipeline",
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--echo-every", type=int, default=1, help="echo (measure) every Nth frame")
    parser.add_argument(
        "--settle", type=float, help="seconds between the calls' first frame and the window"
    )
    parser.add_argument(
        "--spread", type=float, default=0.0, help="seconds over which the calls start"
    )
    parser.add_argument("--speech", action="store_true", help="callers talk (VAD, STT, replies)")
    parser.add_argument(
        "--in-process", action="store_true", help="CPU per frame of the consumer alone"
    )
    parser.add_argument("--frames", type=int, help="--in-process: frames per round")
    parser.add_argument("--rounds", type=int, default=3, help="--in-process: rounds")
    parser.add_argument("--parts", default="parse,pipeline", help="--in-process: what to time")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.client:
        client_main()
        return
    if args.in_process:
        frames = args.frames or (20_000 if args.quick else 100_000)
        in_process(frames, rounds=args.rounds, parts=args.parts)
        return
    default = [5, 10, 25] if args.quick else [5, 10, 25, 50, 75, 100, 150, 200, 300]
    levels = [int(n) for n in args.levels.split(",")] if args.levels else default
    options = Options(
        mode=args.mode,
        seconds=args.seconds or (2.0 if args.quick else 5.0),
        clients=max(1, args.clients),
        speech=args.speech,
        settle=args.settle,
        spread=args.spread,
    )
    pipeline = options.mode == "pipeline"

    connection = create_test_database("bench-servers-")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(connection),
        CALL_PIPELINE="1" if pipeline else "0",
        MEDIA_STREAM_CONSUMER=CONSUMER,
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_AUTH_TOKEN_SECONDARY="",
        CARRIER_BACKEND="anvil_voice.telephony.twilio.TwilioCarrier",
        HTTPS_ONLY="0",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-servers-secret-key-" + "x" * 40,
        BENCH_STREAM_MODE=options.mode,
        BENCH_ECHO_EVERY=str(max(1, args.echo_every)),
        LOG_LEVEL="WARNING",
    )
    if connection.vendor == "postgresql":
        # As production runs (docs/operations.md): a new connection per stream start or stop
        # (CONN_MAX_AGE=0) held up every frame queued behind it for seconds.
        env.setdefault("DATABASE_POOL", "1")
    print(
        f"database: {connection.vendor}; mode: {options.mode} "
        f"(CALL_PIPELINE={env['CALL_PIPELINE']}, echoing consumer, callers "
        f"{'talking' if options.speech else 'silent'}); {options.seconds:g} s per level; "
        f"{options.clients} client processes; every {env['BENCH_ECHO_EVERY']} frame(s) echoed "
        f"and measured; p99 limit {P99_LIMIT_MS:g} ms",
        flush=True,
    )
    try:
        kinds = [name for name in args.servers.split(",") if name]
        curves = ramp(kinds, env, levels, options)
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
