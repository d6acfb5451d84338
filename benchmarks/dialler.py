"""Dialler throughput and pacing against the Twilio simulator.

`uv run python -m benchmarks.dialler [--quick] [--contacts N] [--seconds S] [--workers W]`

The Twilio simulator runs in its own process (it is the carrier, not our code: it must not
share our interpreter lock) and stamps every REST request it receives with its own wall clock.
A throw-away test database (SQLite file by default; PostgreSQL as `test_<name>` when
DATABASE_URL is set) holds campaigns over persona numbers that end at once (`busy`, `failed`).
The real dispatcher (`campaigns.dialling.dispatch.dispatch_due`) ticks once a second on a fixed
schedule, as Celery beat does, and its `transaction.on_commit` hands each claimed session to a
pool of worker threads running the real placement task (`session_place_call_task`, the Twilio SDK
posting `Calls.json` to the simulator), as a Celery worker with W threads would.

(a) CPS cap lifted: campaigns at the 100 CPS maximum (the account cap raised to match),
    simulator CPS high: placed calls per second counted on the simulator's side, and the
    dispatcher's cost per claimed call (time inside `dispatch_due` / claims).
(b) Capped at 5 and 20 CPS for S seconds: creates received by the simulator per 1-second
    window (wall-clock seconds, and the worst sliding 1-second window), max against the cap
    and mean over the busy seconds against the cap.

Status callbacks go nowhere (no web server runs); between ticks, outside the timing, placed
sessions are marked ended so the concurrency limit never holds the dialler back: the figures
are the claim and the placement, not call lengths.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from anvil_voice.telephony.simulator.personas import persona_for
from benchmarks.support import (
    bench_organization,
    contact_list_of,
    create_test_database,
    destroy_test_database,
)

ACCOUNT_SID = "AC" + "8" * 32
AUTH_TOKEN = "dialler-bench-token"
CALLER = "+15005550006"
NOWHERE = "http://127.0.0.1:9"  # nothing listens on the discard port: callbacks fail fast
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
# Two-digit endings whose persona is busy or failed (`persona_for`: 11 and 21 have their own
# personas, the rest answer as their last digit).
FAST_ENDINGS = [
    f"{n:02d}" for n in range(100) if persona_for(f"+155501{n:02d}").key in ("busy", "failed")
]


# --- the simulator process ------------------------------------------------------------------
class _StampedLog(list[dict[str, Any]]):
    """The simulator's request log, each entry stamped with the moment it was received."""

    def append(self, entry: dict[str, Any]) -> None:
        entry["at"] = time.time()
        super().append(entry)


def serve_simulator(cps: float, time_scale: float) -> None:
    """Child process: run the simulator until stdin closes; print its base URL first."""
    from anvil_voice.telephony.simulator import TwilioSimulator, audio

    simulator = TwilioSimulator(
        ACCOUNT_SID,
        AUTH_TOKEN,
        speak=lambda text: audio.babble("x" * 6),
        time_scale=time_scale,
        cps=cps,
    )
    simulator.requests = _StampedLog()

    async def run() -> None:
        await simulator.start()
        print(simulator.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await simulator.stop()

    logging.disable(logging.WARNING)
    asyncio.run(run())


class SimulatorProcess:
    def __init__(self, cps: float = 10_000.0, time_scale: float = 0.01) -> None:
        self.args = [
            sys.executable,
            "-m",
            "benchmarks.dialler",
            "--serve-simulator",
            "--sim-cps",
            str(cps),
            "--sim-time-scale",
            str(time_scale),
        ]
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> SimulatorProcess:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("the simulator did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.communicate(timeout=30)

    def creates(self) -> list[dict[str, Any]]:
        """Every successful `POST Calls.json` so far, with the simulator's receive time."""
        import httpx

        log = httpx.get(f"{self.base_url}/_sim/requests", timeout=30).json()["requests"]
        return [
            entry
            for entry in log
            if entry["method"] == "POST"
            and entry["path"].endswith("/Calls.json")
            and entry.get("status") == 201
        ]


# --- Django side ----------------------------------------------------------------------------
def _point_settings_at(base_url: str) -> None:
    from django.conf import settings

    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.TWILIO_API_BASE_URL = base_url
    settings.CARRIER_BACKEND = "anvil_voice.telephony.twilio.TwilioCarrier"
    settings.PUBLIC_BASE_URL = NOWHERE
    settings.TWILIO_HTTP_TIMEOUT_SECONDS = 10.0
    settings.CAMPAIGNS_CALLER_ID_CHECK = "simulator"
    # The dialler's own pace is measured, not the machine's live-call capacity.
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 1_000_000
    settings.CELERY_TASK_ALWAYS_EAGER = True


def persona_numbers(count: int, offset: int = 0) -> list[str]:
    """`count` distinct numbers reaching fast-ending personas: `+1{area}55501{suffix}`."""
    areas = [a for a in range(201, 990) if a % 100 != 11 and (a // 10) % 10 != 9]
    numbers = []
    for n in range(offset, offset + count):
        area, suffix = divmod(n, len(FAST_ENDINGS))
        numbers.append(f"+1{areas[area % len(areas)]}55501{FAST_ENDINGS[suffix]}")
    if len(set(numbers)) != count:
        raise ValueError("too many contacts for distinct persona numbers")
    return numbers


def make_campaign(numbers: list[str], *, cps: float, name: str) -> Any:
    from campaigns import services
    from campaigns.factories import CallerIdFactory, CampaignFactory
    from campaigns.models import CallerId

    organization = bench_organization()
    contact_list = contact_list_of(name, numbers)
    caller_id = CallerId.objects.filter(organization=organization, phone_number=CALLER).first()
    campaign = CampaignFactory.create(
        organization=organization,
        name=name,
        contact_list=contact_list,
        caller_id=caller_id or CallerIdFactory(organization=organization, phone_number=CALLER),
        max_concurrent_calls=500,
        calls_per_second=cps,
        max_attempts=1,
    )
    services.campaign_start(campaign=campaign, actor=services.Actor.named("bench"))
    return campaign


class PlacementPool:
    """W worker threads running the real placement task, fed by the dialler's `.delay()`."""

    def __init__(self, workers: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="placement")
        self.futures: list[Future[Any]] = []
        self.outcomes: dict[str, int] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        from sessions.tasks import session_place_call_task

        # What a broker and worker would do with `.delay(pk)`: run the task in another thread.
        session_place_call_task.delay = self.submit  # type: ignore[method-assign,assignment]

    def submit(self, session_id: int) -> None:
        self.futures.append(self.executor.submit(self._place, session_id))

    def _place(self, session_id: int) -> None:
        from sessions.tasks import session_place_call_task

        result = session_place_call_task.apply((session_id,))
        outcome = str(result.result) if result.successful() else f"error:{result.result!r}"
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def wait(self) -> None:
        for future in list(self.futures):
            future.result()

    def close(self) -> None:
        from django.db import connections

        workers = self.executor._max_workers
        barrier = threading.Barrier(workers)

        def close_connections() -> None:
            barrier.wait(30)  # one task per worker thread: none can take two
            connections.close_all()

        # Each worker thread holds its own connection: close them on the threads themselves.
        for future in [self.executor.submit(close_connections) for _ in range(workers)]:
            future.result()
        self.executor.shutdown(wait=True)


@dataclass
class Run:
    contacts: int
    ticks: int = 0
    claimed: int = 0
    dispatch_seconds: float = 0.0
    dispatch_cpu_seconds: float = 0.0  # the dispatcher thread's own CPU (no lock or GIL waits)
    wall_seconds: float = 0.0
    tick_claims: list[int] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)


def run_dialler(campaigns: list[Any], contacts: int, pool: PlacementPool, limit: float) -> Run:
    """Tick `dispatch_due` once a second (fixed schedule) until every contact is claimed."""
    from campaigns.dialling.dispatch import dispatch_due
    from sessions.models import CallSession, CallStatus

    run = Run(contacts=contacts)
    pool.outcomes.clear()
    ids = [campaign.pk for campaign in campaigns]
    started = time.monotonic()
    while run.claimed < contacts and time.monotonic() - started < limit:
        due = started + run.ticks
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        tick_started, cpu_started = time.perf_counter(), time.thread_time()
        claimed = dispatch_due()
        run.dispatch_seconds += time.perf_counter() - tick_started
        run.dispatch_cpu_seconds += time.thread_time() - cpu_started
        run.ticks += 1
        run.claimed += claimed
        run.tick_claims.append(claimed)
        # Outside the timing: calls the simulator has ended would be ended by their status
        # callbacks; mark placed ones ended so concurrency never holds the dialler back.
        CallSession.objects.filter(
            campaign_id__in=ids, status=CallStatus.INITIATED, carrier_call_sid__isnull=False
        ).update(status=CallStatus.BUSY)
    pool.wait()
    run.wall_seconds = time.monotonic() - started
    # Whatever is left must not be claimed by the next scenario's ticks.
    from campaigns.models import Campaign, CampaignStatus

    Campaign.objects.filter(pk__in=ids).update(status=CampaignStatus.STOPPED)
    run.outcomes = dict(pool.outcomes)
    return run


# --- figures --------------------------------------------------------------------------------
@dataclass
class Pacing:
    creates: int
    span: float  # first to last create, seconds
    rate: float  # creates / span
    window_max: int  # most creates in one wall-clock second
    window_mean: float  # mean over the full wall-clock seconds between the first and last
    busy_seconds: int
    sliding_max: int  # most creates in any 1-second interval


def pacing_of(stamps: list[float]) -> Pacing:
    stamps = sorted(stamps)
    if not stamps:
        return Pacing(0, 0.0, 0.0, 0, 0.0, 0, 0)
    counts: dict[int, int] = {}
    for at in stamps:
        counts[math.floor(at)] = counts.get(math.floor(at), 0) + 1
    first, last = math.floor(stamps[0]), math.floor(stamps[-1])
    # The first and last seconds are partial (the run starts and ends inside them).
    full = [counts.get(second, 0) for second in range(first + 1, last)]
    sliding, j = 0, 0
    for i, at in enumerate(stamps):
        while j < len(stamps) and stamps[j] < at + 1.0:
            j += 1
        sliding = max(sliding, j - i)
    span = stamps[-1] - stamps[0]
    return Pacing(
        creates=len(stamps),
        span=span,
        rate=(len(stamps) - 1) / span if span > 0 else 0.0,
        window_max=max(counts.values()),
        window_mean=sum(full) / len(full) if full else float("nan"),
        busy_seconds=len(full),
        sliding_max=sliding,
    )


def scenario(
    sim: SimulatorProcess,
    pool: PlacementPool,
    *,
    name: str,
    contacts: int,
    campaigns: int,
    cps: float,
    offset: int,
) -> tuple[Run, Pacing]:
    numbers = persona_numbers(contacts, offset)
    share = math.ceil(contacts / campaigns)
    made = [
        make_campaign(numbers[k * share : (k + 1) * share], cps=cps, name=f"{name} {k}")
        for k in range(campaigns)
    ]
    expected = contacts / (cps * campaigns)
    run = run_dialler(made, contacts, pool, limit=max(60.0, 3 * expected + 60))
    wanted = set(numbers)
    stamps = [entry["at"] for entry in sim.creates() if entry["params"].get("To") in wanted]
    return run, pacing_of(stamps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer contacts, shorter runs")
    parser.add_argument("--contacts", type=int, help="contacts with the cap lifted (2000)")
    parser.add_argument("--campaigns", type=int, default=1, help="campaigns with the cap lifted")
    parser.add_argument("--seconds", type=float, help="length of each capped run (60)")
    parser.add_argument("--caps", default="5,20", help="capped runs, CPS (comma-separated)")
    parser.add_argument("--workers", type=int, default=8, help="placement worker threads")
    parser.add_argument("--serve-simulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sim-cps", type=float, default=10_000.0, help=argparse.SUPPRESS)
    parser.add_argument("--sim-time-scale", type=float, default=0.01, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_simulator:
        serve_simulator(args.sim_cps, args.sim_time_scale)
        return
    contacts = args.contacts or (300 if args.quick else 2000)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    caps = [float(cap) for cap in args.caps.split(",") if cap]

    connection = create_test_database("dialler-bench-")
    import time_machine
    from django.conf import settings

    logging.disable(logging.INFO)
    print(f"database: {connection.vendor}; placement workers: {args.workers}", flush=True)
    pool = PlacementPool(args.workers)
    try:
        # The travelled clock keeps the real clock's fraction of a second: placement allots
        # dial moments per (our) wall-clock second, and the simulator counts per real second.
        aligned = NOW + timedelta(seconds=time.time() % 1)
        with SimulatorProcess() as sim, time_machine.travel(aligned, tick=True):
            _point_settings_at(sim.base_url)
            pool.install()
            settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 100 * args.campaigns
            run, pacing = scenario(
                sim,
                pool,
                name="lifted",
                contacts=contacts,
                campaigns=args.campaigns,
                cps=100,
                offset=0,
            )
            report_lifted(run, pacing, args.campaigns)
            offset = contacts
            for cap in caps:
                settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 1000
                count = round(cap * seconds)
                run, pacing = scenario(
                    sim,
                    pool,
                    name=f"cap {cap:g}",
                    contacts=count,
                    campaigns=1,
                    cps=cap,
                    offset=offset,
                )
                offset += count
                report_capped(run, pacing, cap)
    finally:
        pool.close()
        destroy_test_database(connection)


def _outcomes(run: Run) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(run.outcomes.items()))


def report_lifted(run: Run, pacing: Pacing, campaigns: int) -> None:
    per_call = 1000 * run.dispatch_seconds / max(run.claimed, 1)
    cpu_per_call = 1000 * run.dispatch_cpu_seconds / max(run.claimed, 1)
    print(
        f"(a) cap lifted ({campaigns} campaign(s) at 100 CPS, simulator 10 000 CPS): "
        f"{run.claimed}/{run.contacts} claimed in {run.ticks} ticks; placements: {_outcomes(run)}",
        flush=True,
    )
    print(
        f"    simulator received {pacing.creates} creates in {pacing.span:.1f} s = "
        f"{pacing.rate:.1f} placed calls/s (max {pacing.window_max} in one wall-clock second, "
        f"mean {pacing.window_mean:.1f} over {pacing.busy_seconds} full seconds)",
        flush=True,
    )
    print(
        f"    dispatch_due: {run.dispatch_seconds:.2f} s for {run.claimed} claims = "
        f"{per_call:.2f} ms per claimed call, of which the dispatcher thread's own CPU "
        f"{cpu_per_call:.2f} ms (the rest: waits for locks and for the placement threads "
        f"sharing the interpreter); claims per tick: max {max(run.tick_claims)}",
        flush=True,
    )


def report_capped(run: Run, pacing: Pacing, cap: float) -> None:
    deviation = 100 * (pacing.window_mean - cap) / cap
    print(
        f"(b) cap {cap:g} CPS: {run.claimed}/{run.contacts} claimed in {run.ticks} ticks; "
        f"placements: {_outcomes(run)}",
        flush=True,
    )
    print(
        f"    simulator creates per wall-clock second: max {pacing.window_max} "
        f"({'within' if pacing.window_max <= cap else 'ABOVE'} the cap), mean "
        f"{pacing.window_mean:.2f} over {pacing.busy_seconds} busy seconds = {deviation:+.1f} % "
        f"against the cap; worst sliding 1 s window {pacing.sliding_max}; overall "
        f"{pacing.rate:.2f}/s",
        flush=True,
    )


if __name__ == "__main__":
    main()
