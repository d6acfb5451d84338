"""Live calls end to end: ``python -m benchmarks.live_calls [--calls 1,3,5] [--quick] [--json P]``.

Real calls through the whole local stack, as `make run` runs it: the ASGI app served by uvicorn
in its own process, the Twilio simulator in another (`manage.py twilio_simulator`), both on a
fresh embedded default (SQLite file and media in a temporary folder, in-memory layers; migrated
and seeded with `seed_demo`). This process places the calls: test calls
(`session_test_call_create`, what `POST /calls/test` runs, placed at once through the Twilio SDK
at the simulator) to simulator personas, keeping N calls live at a time until the level's calls
are done. The server answers each with a Media Stream and runs the pipeline with local Whisper
and Piper and the scripted agent, exactly as in production (production timeouts; no Celery
worker runs, so post-call tasks wait in the broker folder: nothing a live call waits for).

Why the simulator is a process and not a thread here: its 20 ms audio clock and the personas'
listening must not share a GIL with the driver's polling, and `make run` runs it that way.

Measured for every agent reply (not the opening), from the caller's end of speech:
- the server's view, the pipeline's own per-turn latency (`TranscriptTurn.latency`, measured
  from the last speech frame the server processed): endpoint, recognition final, first token,
  first audio from TTS, first frame sent;
- the caller's view, from the simulator's call log: the persona line's last speech frame sent
  (`persona_said.speech_end_t`) → the reply's first audible frame played to the persona (an
  `agent_utterance.start_t`, told apart from trigger lines by the server's stream clock: see
  `caller_view`). This is the voice-to-voice figure the targets are about; any agent audio
  after the line is reported beside it.
- the greeting: the persona's "Hello?" end → the opening's first audible frame (caller) and
  the server's `greeting_end` latency.
Counted: recognition and synthesis timeouts and other pipeline errors (call events), calls
ended by a pipeline error or otherwise not by the agent, wrong outcomes, lines the agent never
replied to, agent speech that started while the caller was still talking, trigger lines ("Are you
still there?", "Sorry, I didn't catch that"). Before the levels, one unmeasured call per persona
loads the models in the server and the personas' lines in the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.support import free_port, percentile, stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Persona digits (anvil_voice/telephony/simulator/personas.py) → first name, expected outcome.
# 05 answers twice (an objection, then yes); the others once; every line gets a reply.
PERSONAS = {
    "05": ("Olga", "interested"),
    "04": ("Ivy", "interested"),
    "07": ("Cal", "callback_requested"),
    "06": ("Nick", "not_interested"),
}
# One sentence per line, as in the live-call tests: short enough that a level takes seconds.
SCRIPT = {
    "name": "Live calls benchmark",
    "opening_line": "Hi {{first_name}}, it's Sam from Anvil Solar, want to hear about our plan?",
    "closing_line": "Great, we will be in touch, goodbye!",
    "system_prompt": "You sell solar plans politely.",
}
OBJECTIONS = [
    {
        "trigger": "We already have a provider",
        "response": "Many people switch from their old provider and save, shall I tell you more?",
    },
    {
        "trigger": "How much does it cost",
        "response": "It costs nothing to start, would you like to sign up?",
    },
]
# Ring and callback delays a tenth of real (audio is always real time; AMD is async).
TIME_SCALE = 0.1
CALL_LIMIT_SECONDS = 120.0  # a call still live after this counts as stuck
START_TIMEOUT_SECONDS = 90.0
SERVER_STAGES = (
    ("endpoint_ms", "endpoint (server)"),
    ("stt_final_ms", "recognition final (server)"),
    ("agent_first_token_ms", "first token (server)"),
    ("tts_first_audio_ms", "first TTS audio (server)"),
    ("first_frame_ms", "first frame sent (server)"),
)
HEARD = ("heard_ms", "reply heard (caller)")
FIRST_AUDIO = ("first_audio_ms", "any agent audio heard (caller)")
GREETING_STAGES = (
    ("greeting_first_frame_ms", "greeting: first frame sent (server)"),
    ("greeting_heard_ms", "greeting: opening heard (caller)"),
)
PIPELINE_ERROR_ENDS = frozenset({"stt_failed", "tts_failed", "agent_error"})
# Targets (issue 14): end of speech → first agent audio heard.
TARGETS = {1: {"p50": 800.0, "p95": 1200.0}, 5: {"p95": 2000.0}}


# --- reading one call ---------------------------------------------------------------------------
# A reply's first audible frame is looked for from this long before the moment the server's
# stream clock places its first frame (that estimate is a lower bound, see `caller_view`) ...
HEARD_EARLY_SECONDS = 0.05
# ... to this long after: later, its audio ran on from earlier agent audio (no 600 ms of
# silence between), and the estimate itself stands for when it was heard.
HEARD_LATE_SECONDS = 1.0


@dataclass
class CallerView:
    """One call as the persona heard it (ms from the end of its line's speech)."""

    greeting_ms: float | None = None
    replies_ms: list[float] = field(default_factory=list)  # to the agent's reply
    first_audio_ms: list[float] = field(default_factory=list)  # to any agent audio
    unanswered: int = 0  # a persona line the agent never replied to
    talked_over: int = 0  # agent speech that started while the persona was still talking
    estimated: int = 0  # replies whose audio ran on from earlier agent audio


def caller_view(log: Sequence[dict[str, Any]], replies_start_ms: Sequence[int]) -> CallerView:
    """From the simulator's call log and the stream times the server's replies started at.

    Persona lines end at `persona_said.speech_end_t` (the last non-silent frame sent; the
    clip's trailing silence is not speech). The persona hears agent speech begin at
    `agent_utterance.start_t` (the first non-silent frame played after 600 ms of silence: the
    simulator's `Ears`). The first line is the greeting ("Hello?"): the opening answers it.

    Not every agent utterance is a reply: under load the agent may say "Are you still
    there?" or "Sorry, I didn't catch that" first. Replies are the server's agent turns timed
    from the caller's speech end (`since == "speech_end"`), whose `start_ms` is stream time:
    inbound frames the server had read when it sent the reply's first frame. The simulator sent
    inbound frame k at the stream's start + k * 20 ms, so the reply left no earlier than that;
    the first agent speech the persona heard from then on is the reply.
    `first_audio_ms` keeps the other reading (any agent audio after the line), for comparison.
    """
    view = CallerView()
    said = [entry for entry in log if entry["kind"] == "persona_said" and "done_t" in entry]
    starts = sorted(float(entry["start_t"]) for entry in log if entry["kind"] == "agent_utterance")
    stream_start = next(
        (float(e["t"]) for e in log if e["kind"] == "ws_sent" and e.get("event") == "start"), None
    )

    def speech_end(line: dict[str, Any]) -> float:
        return float(line.get("speech_end_t", line["done_t"]))

    for index, line in enumerate(said):
        end = speech_end(line)
        until = float(said[index + 1]["t"]) if index + 1 < len(said) else float("inf")
        view.talked_over += sum(1 for start in starts if float(line["t"]) < start < end)
        heard = next((start for start in starts if end <= start < until), None)
        if heard is None:
            continue
        if index == 0:
            view.greeting_ms = round((heard - end) * 1000, 1)
        else:
            view.first_audio_ms.append(round((heard - end) * 1000, 1))

    answered: set[int] = set()
    for start_ms in sorted(replies_start_ms) if stream_start is not None else []:
        assert stream_start is not None
        sent = stream_start + start_ms / 1000
        # The line it answers: the last one whose speech had ended by then (not "Hello?").
        index = max((i for i, line in enumerate(said) if speech_end(line) <= sent), default=0)
        if index == 0 or index in answered:
            continue
        answered.add(index)
        heard = next((t for t in starts if t >= sent - HEARD_EARLY_SECONDS), None)
        if heard is None or heard > sent + HEARD_LATE_SECONDS:
            heard = sent
            view.estimated += 1
        view.replies_ms.append(round((heard - speech_end(said[index])) * 1000, 1))
    view.unanswered = len(said) - 1 - len(answered) if said else 0
    return view


@dataclass
class LevelResult:
    concurrency: int
    calls: int = 0
    seconds: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    server_cpu_share: float = 0.0  # of one core, over the level
    simulator_cpu_share: float = 0.0
    samples: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # One row per call, for reading a failure in the JSON: persona, status, end reasons, outcome.
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)

    def count(self, key: str, by: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + by

    def stats(self, key: str) -> dict[str, float | int]:
        values = self.samples.get(key, [])
        return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}


COUNTED = (
    "stt_timeout",
    "tts_timeout",
    "other_pipeline_errors",
    "ended_by_pipeline_error",
    "ended_otherwise",
    "not_finished",
    "wrong_outcome",
    "unanswered_lines",
    "agent_talked_over_caller",
    "replies_heard_estimated",
    "trigger_lines",
    "barge_ins",
)


def read_server_side(result: LevelResult, session: Any, expected_outcome: str) -> None:
    """The pipeline's latency dicts and the call's events, from the database."""
    from sessions.models import CallStatus

    for turn in session.turns.all():
        if turn.speaker != "agent":
            continue
        since = turn.latency.get("since")
        if since == "speech_end":
            for key, _label in SERVER_STAGES:
                if key in turn.latency:
                    result.add(key, float(turn.latency[key]))
        elif since == "greeting_end" and "first_frame_ms" in turn.latency:
            result.add("greeting_first_frame_ms", float(turn.latency["first_frame_ms"]))
        elif since == "trigger":
            result.count("trigger_lines")
    for event in session.events.all():
        if event.kind in ("pipeline.stt_error", "pipeline.tts_error", "pipeline.agent_error"):
            code = str(event.data.get("code", ""))
            result.count(
                code if code in ("stt_timeout", "tts_timeout") else "other_pipeline_errors"
            )
        elif event.kind == "pipeline.barge_in":
            result.count("barge_ins")
    pipeline_end = (session.extracted or {}).get("pipeline_end_reason")
    if pipeline_end in PIPELINE_ERROR_ENDS:
        result.count("ended_by_pipeline_error")
    elif session.status != CallStatus.COMPLETED or pipeline_end != "agent_ended":
        result.count("ended_otherwise")
    if session.outcome != expected_outcome:
        result.count("wrong_outcome")


def read_caller_side(result: LevelResult, session: Any, log: Sequence[dict[str, Any]]) -> None:
    replies = [
        turn.start_ms
        for turn in session.turns.all()
        if turn.speaker == "agent" and turn.latency.get("since") == "speech_end"
    ]
    view = caller_view(log, replies)
    if view.greeting_ms is not None:
        result.add("greeting_heard_ms", view.greeting_ms)
    for ms in view.replies_ms:
        result.add(HEARD[0], ms)
    for ms in view.first_audio_ms:
        result.add(FIRST_AUDIO[0], ms)
    result.count("unanswered_lines", view.unanswered)
    result.count("agent_talked_over_caller", view.talked_over)
    result.count("replies_heard_estimated", view.estimated)


# --- the system under test ----------------------------------------------------------------------
def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class System:
    """Server (uvicorn) and simulator processes on a fresh embedded default in a temp folder."""

    def __init__(self) -> None:
        self.var_dir = Path(tempfile.mkdtemp(prefix="anvil-bench-live-"))
        self.port = free_port()
        self.simulator_port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            ANVIL_VAR_DIR=str(self.var_dir),
            PORT=str(self.port),
            TWILIO_SIMULATOR_PORT=str(self.simulator_port),
            TWILIO_API_BASE_URL=f"http://{HOST}:{self.simulator_port}",
            PUBLIC_BASE_URL=f"http://{HOST}:{self.port}",
            SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-live-calls-secret-key-" + "x" * 40,
            HTTPS_ONLY="0",
            CALL_PIPELINE="1",
            SPEECH_PROVIDER="local",
            LOG_LEVEL="WARNING",
            # Scaled by the simulator's time scale: the agent ends every call long before.
            TWILIO_TIME_LIMIT_SECONDS="3000",
            CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND="50",
            # The benchmark chooses how many calls are live; the deployment's capacity (which
            # `make run` enforces: the local default is printed with the results) must not
            # refuse the test calls of the higher levels.
            LIVE_CALL_CAPACITY_PER_PROCESS="1000",
        )
        for name in ("DATABASE_URL", "REDIS_URL", "CARRIER_BACKEND", "DJANGO_SETTINGS_MODULE"):
            self.env.pop(name, None)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[Any] = []

    def __enter__(self) -> System:
        """Start the server and the simulator, and meanwhile set the database up here (the
        processes import Django for seconds on a busy box; neither touches the database
        before the first call)."""
        python = sys.executable
        from anvil_voice.run_embedded import asgi_server_command

        commands = {
            "server": asgi_server_command("uvicorn", python, self.port),
            "simulator": [
                python, "manage.py", "twilio_simulator", "--port", str(self.simulator_port),
                "--cps", "50", "--time-scale", str(TIME_SCALE),
            ],
        }  # fmt: skip
        for name, command in commands.items():
            log = (self.var_dir / f"{name}.log").open("wb")
            self._logs.append(log)
            self.processes[name] = subprocess.Popen(  # noqa: S603 - fixed argv
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._setup_django()
            self._wait_until_listening()
        except BaseException as error:
            self.__exit__(type(error), error, None)
            raise
        return self

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        ports = {"server": self.port, "simulator": self.simulator_port}
        while not all(_listening(port) for port in ports.values()):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"the {name} exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("the server and simulator did not start")
            time.sleep(0.2)

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        for process in self.processes.values():
            stop_process(process)
        for log in self._logs:
            log.close()
        if exc_info and exc_info[0] is not None:
            for name in self.processes:
                path = self.var_dir / f"{name}.log"
                print(f"--- {name} log (tail) ---", file=sys.stderr)
                print(path.read_text(errors="replace")[-3000:], file=sys.stderr)
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def cpu(self, name: str) -> float:
        return cpu_seconds(self.processes[name].pid)

    def simulator_logs(self) -> dict[str, list[dict[str, Any]]]:
        """Every call's log, by call SID (the simulator's `GET /_sim/calls`)."""
        url = f"http://{HOST}:{self.simulator_port}/_sim/calls"
        with urllib.request.urlopen(url, timeout=30) as response:
            calls = json.loads(response.read())["calls"]
        return {call["sid"]: call["log"] for call in calls}

    def _setup_django(self) -> None:
        """This process reads and writes the same SQLite file as the server: migrated and
        seeded as `make run` does (`migrate`, `seed_demo`)."""
        os.environ.update(self.env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "anvil_voice.settings"
        # Placement runs right here (what a Celery worker would do), not through the broker.
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo", stdout=io.StringIO())


# --- placing calls ------------------------------------------------------------------------------
@dataclass
class Caller:
    """What this process needs to place test calls: the demo organization's rows."""

    organization: Any
    script_id: int
    voice_id: int


def prepare() -> Caller:
    from anvil_voice.accounts.models import Organization
    from scripts import services as scripts
    from voices.models import Voice, VoiceStatus

    organization = Organization.objects.get(slug="demo")
    script = scripts.script_create(
        organization=organization, fields=SCRIPT, objection_responses=OBJECTIONS
    )
    voice = Voice.objects.filter(organization=organization, status=VoiceStatus.READY).first()
    assert voice is not None, "seed_demo made no ready voice"
    return Caller(organization, script.pk, voice.pk)


def place(caller: Caller, digits: str) -> int:
    """One test call to the persona `digits`; placed before this returns (eager task)."""
    from campaigns.services.test_calls import session_test_call_create

    first_name, _outcome = PERSONAS[digits]
    session = session_test_call_create(
        organization=caller.organization,
        to=f"+121255501{digits}",
        script_id=caller.script_id,
        voice_id=caller.voice_id,
        variables={"first_name": first_name},
        # The simulator's personas answer at any hour; the benchmark runs whenever it is run.
        override_calling_window=True,
        override_reason="benchmark against the Twilio simulator's personas",
    )
    return int(session.pk)


def finished(session_id: int) -> bool:
    """The call is over and the conversation stored (or it never got a conversation)."""
    from sessions.models import TERMINAL_CALL_STATUSES, CallEvent, CallSession, CallStatus

    status = CallSession.objects.filter(pk=session_id).values_list("status", flat=True).first()
    if status not in TERMINAL_CALL_STATUSES:
        return False
    if status != CallStatus.COMPLETED:
        return True
    return CallEvent.objects.filter(session_id=session_id, kind="conversation_ended").exists()


def run_calls(caller: Caller, concurrency: int, personas: Sequence[str]) -> dict[int, str]:
    """Keep `concurrency` calls live until every persona in `personas` has been called;
    returns session id → persona digits (calls still live after the limit are left)."""
    waiting = list(personas)
    live: dict[int, float] = {}
    placed: dict[int, str] = {}
    stuck: set[int] = set()
    while waiting or live:
        while waiting and len(live) < concurrency:
            digits = waiting.pop(0)
            session_id = place(caller, digits)
            placed[session_id] = digits
            live[session_id] = time.monotonic()
        time.sleep(0.25)
        for session_id, started in list(live.items()):
            if finished(session_id):
                del live[session_id]
            elif time.monotonic() - started > CALL_LIMIT_SECONDS:
                stuck.add(session_id)
                del live[session_id]
    if stuck:
        print(f"   {len(stuck)} call(s) still live after {CALL_LIMIT_SECONDS:.0f} s", flush=True)
    return placed


def measure_level(system: System, caller: Caller, concurrency: int, calls: int) -> LevelResult:
    from sessions.models import CallSession

    personas = list(itertools.islice(itertools.cycle(PERSONAS), calls))
    result = LevelResult(concurrency=concurrency, calls=calls)
    result.load_before = os.getloadavg()
    cpu = {name: system.cpu(name) for name in system.processes}
    started = time.monotonic()
    placed = run_calls(caller, concurrency, personas)
    result.seconds = round(time.monotonic() - started, 1)
    result.server_cpu_share = (system.cpu("server") - cpu["server"]) / result.seconds
    result.simulator_cpu_share = (system.cpu("simulator") - cpu["simulator"]) / result.seconds
    result.load_after = os.getloadavg()
    logs = system.simulator_logs()
    sessions = CallSession.objects.filter(pk__in=placed).prefetch_related("turns", "events")
    for session in sessions:
        if not finished(session.pk):
            result.count("not_finished")
        read_server_side(result, session, PERSONAS[placed[session.pk]][1])
        result.sessions.append(
            {
                "persona": placed[session.pk],
                "status": session.status,
                "end_reason": session.end_reason,
                "pipeline_end_reason": (session.extracted or {}).get("pipeline_end_reason"),
                "outcome": session.outcome,
            }
        )
        read_caller_side(result, session, logs.get(session.carrier_call_sid or "", []))
    for key in COUNTED:
        result.counts.setdefault(key, 0)
    return result


# --- reporting ----------------------------------------------------------------------------------
def _ms(value: float | int) -> str:
    return "-" if value != value else f"{value:,.0f}".replace(",", " ")  # NaN: no samples


def report(result: LevelResult) -> list[str]:
    load = " ".join(f"{x:.2f}" for x in result.load_before)
    after = " ".join(f"{x:.2f}" for x in result.load_after)
    lines = [
        f"{result.concurrency} concurrent call(s): {result.calls} calls in {result.seconds} s; "
        f"load {load} → {after}; server CPU {result.server_cpu_share:.0%} of a core, "
        f"simulator {result.simulator_cpu_share:.0%}",
        f"   {'from the end of caller speech':42s} {'n':>3s} {'p50 ms':>8s} {'p95 ms':>8s}",
    ]
    for key, label in (*SERVER_STAGES, HEARD, FIRST_AUDIO, *GREETING_STAGES):
        stats = result.stats(key)
        lines.append(
            f"   {label:42s} {stats['n']:3d} {_ms(stats['p50']):>8s} {_ms(stats['p95']):>8s}"
        )
    lines.append("   " + ", ".join(f"{key} {result.counts.get(key, 0)}" for key in COUNTED))
    return lines


def verdicts(results: Sequence[LevelResult]) -> list[str]:
    """The issue's targets against this run (the caller's end of speech → first audio heard)."""
    lines = []
    for result in results:
        target = TARGETS.get(result.concurrency)
        if target is None:
            continue
        stats = result.stats(HEARD[0])
        parts = [
            f"{name} no samples (≤ {limit:.0f}: NOT met)"
            if stats[name] != stats[name]  # NaN: no reply was heard
            else f"{name} {_ms(stats[name])} ms (≤ {limit:.0f}: "
            f"{'met' if stats[name] <= limit else 'NOT met'})"
            for name, limit in target.items()
        ]
        if result.concurrency > 1:
            errors = sum(
                result.counts[key]
                for key in ("stt_timeout", "tts_timeout", "ended_by_pipeline_error")
            )
            parts.append(
                f"timeouts + pipeline-error ends {errors} (0: {'met' if not errors else 'NOT met'})"
            )
        lines.append(f"target, {result.concurrency} call(s): " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", help="concurrency levels, comma-separated (default 1,3,5)")
    parser.add_argument("--quick", action="store_true", help="levels 1,5, N calls per level")
    parser.add_argument("--rounds", type=int, help="calls per level = rounds * N (default 2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    default = "1,5" if args.quick else "1,3,5"
    levels = [int(n) for n in (args.calls or default).split(",") if n]
    rounds = args.rounds or (1 if args.quick else 2)
    began = time.monotonic()
    print(
        f"live calls end to end: levels {levels}, {rounds} round(s); server (uvicorn) and "
        f"simulator in their own processes; local Whisper + Piper; load {os.getloadavg()}",
        flush=True,
    )
    results: list[LevelResult] = []
    with System() as system:
        caller = prepare()
        print(f"started in {time.monotonic() - began:.0f} s", flush=True)
        warm = time.monotonic()
        run_calls(caller, len(PERSONAS), list(PERSONAS))
        print(f"warm-up: one unmeasured call per persona, {time.monotonic() - warm:.0f} s")
        for concurrency in levels:
            # At one call, every persona at least once (a single call gives too few replies).
            calls = max(rounds * concurrency, 1 if args.quick else len(PERSONAS))
            result = measure_level(system, caller, concurrency, calls)
            results.append(result)
            print("\n".join(report(result)), flush=True)
    for line in verdicts(results):
        print(line)
    print(f"total {time.monotonic() - began:.0f} s", flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "levels": [
                        {
                            **asdict(result),
                            # No samples is null (NaN is not JSON).
                            "stats": {
                                key: {
                                    name: None if value != value else value
                                    for name, value in result.stats(key).items()
                                }
                                for key in result.samples
                            },
                        }
                        for result in results
                    ],
                    "targets": verdicts(results),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
