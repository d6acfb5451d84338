"""Real processes for the process-fault tests: private Redis and PostgreSQL, Celery workers.

Nothing here touches the shared servers other suites use: Redis and PostgreSQL are started
from their binaries on free ports in a temporary folder, and everything started runs in its
own process group, which `stop()` / `kill()` end (the fixtures call them in `finally`).

Run as a script, this module is the Celery launcher the tests start:
`python tests/resilience/process_support.py worker|beat [celery options]`. It applies what the
environment cannot express through our settings before handing over to Celery:
`RESILIENCE_DB_NAME` (the test database pytest-django created), `RESILIENCE_VISIBILITY_TIMEOUT`
(how soon Redis hands an unacknowledged task to another worker) and `RESILIENCE_SWEEP_EVERY`
(beat runs the placement sweep that often, with that age, instead of every minute).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until[T](condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def end_group(process: subprocess.Popen[Any] | None, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to the process's whole group (started with start_new_session) and reap it."""
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(ProcessLookupError):
        # A stopped (SIGSTOP) process must run again to act on anything but SIGKILL.
        os.killpg(process.pid, signal.SIGCONT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


# --- Redis -----------------------------------------------------------------------------------
def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


class PrivateRedis:
    """`redis-server` on a free port, no persistence: a restart loses every queued message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "redis.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        binary = redis_server_binary()
        assert binary is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        command += ["--dir", str(self.folder)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(self.ping, 10, "the private Redis to answer")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)

    def stop(self) -> None:
        end_group(self.process, signal.SIGTERM)
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): clients hang on their next command."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)


# --- PostgreSQL ------------------------------------------------------------------------------
def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PrivatePostgres:
    """A throw-away cluster (`initdb` + `pg_ctl`) on a free port, trust auth, no fsync.

    initdb refuses to run as root: then the cluster belongs to the `postgres` OS user.
    """

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        # Not under pytest's tmp_path: that is private to root, and the server may run as
        # `postgres`.
        self.folder = Path(tempfile.mkdtemp(prefix="anvil-private-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "postgres.log"

    def _run(self, *command: str, timeout: float = 60) -> None:
        assert self.bin is not None
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", "postgres", "--"]
        done = subprocess.run(
            [*prefix, str(self.bin / command[0]), *command[1:]],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode:
            raise AssertionError(
                f"{command[0]} failed ({done.returncode}): {done.stdout!r} {done.stderr!r}"
            )

    def init(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop_quietly(self) -> None:
        """Stop (if running) and delete the cluster."""
        with contextlib.suppress(AssertionError, subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')


# --- Celery and web processes ----------------------------------------------------------------
class ManagedProcess:
    """A subprocess in its own group with its output in a log file (read by the tests)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], folder: Path):
        self.name = name
        self.command = command
        self.env = env
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.name}-{self.runs}.log"

    def start(self) -> ManagedProcess:
        assert self.process is None or self.process.poll() is not None
        self.runs += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.folder,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def all_output(self) -> str:
        runs = [self.folder / f"{self.name}-{run}.log" for run in range(1, self.runs + 1)]
        return "\n".join(path.read_text(errors="replace") for path in runs if path.exists())

    def wait_for_output(self, text: str, timeout: float) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
            return text in self.output()

        wait_until(seen, timeout, f"{text!r} in the {self.name} log")

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown code runs, nothing is acknowledged."""
        end_group(self.process, signal.SIGKILL)
        self._close()

    def stop(self) -> None:
        end_group(self.process, signal.SIGTERM)
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


RECOVERY_MARKERS = {
    "tasks failed": "raised unexpected",
    "broker connection lost": "Connection to broker lost",
    "claims already taken": "event=placement_not_claimed",
    "sessions re-enqueued": "event=placement_requeued",
    "claims given back, never dialled": "event=placement_released_not_dialled",
    "calls looked up after a lost create answer": "how=reconciled",
    "statuses synced after a lost callback": "event=call_status_synced",
}


def recovery_summary(*processes: ManagedProcess) -> dict[str, int]:
    """How often each recovery path shows in the processes' logs (printed by the tests)."""
    output = "\n".join(process.all_output() for process in processes)
    return {name: output.count(marker) for name, marker in RECOVERY_MARKERS.items()}


@contextlib.contextmanager
def logs_on_failure(*processes: ManagedProcess) -> Iterator[None]:
    """A failing assertion carries the tail of each process's log (tmp dirs do not last)."""
    try:
        yield
    except AssertionError as error:
        tails = "\n".join(
            f"--- {process.name} ---\n{process.all_output()[-4000:]}" for process in processes
        )
        raise AssertionError(f"{error}\n{tails}") from error


def celery_process(kind: str, env: dict[str, str], folder: Path) -> ManagedProcess:
    """A Celery worker (solo pool: one task at a time, killed with the process) or beat."""
    command = [PYTHON, str(Path(__file__).resolve()), kind, "--loglevel=INFO"]
    if kind == "worker":
        command += [
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=resilience-{os.getpid()}@%h",
        ]
    else:
        command += ["--schedule", str(folder / "beat-schedule"), "--max-interval=1"]
    return ManagedProcess(kind, command, env, folder)


def web_process(port: int, env: dict[str, str], folder: Path) -> ManagedProcess:
    """Our ASGI app in uvicorn: the simulator's status callbacks land here."""
    command = [
        PYTHON, "-m", "uvicorn", "anvil_voice.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    return ManagedProcess("web", command, env, folder)


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of our child processes: ours minus database and Redis choices."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PYTEST_CURRENT_TEST"}
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="anvil_voice.settings",
        SECRET_KEY=env.get("SECRET_KEY") or "process-fault-tests",
        HTTPS_ONLY="0",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        # These scenarios are about faults, not the live-call capacity (tests/conftest.py).
        LIVE_CALL_CAPACITY_PER_PROCESS="10000",
    )
    env.update(overrides)
    return env


# --- campaign scenarios (Django needed: imported inside, the launcher must not load models) --
def midday_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is about 13:00 now: inside every calling window, hours
    away from its edges, whenever the suite runs (the workers use the real clock)."""
    hour = (now or datetime.now(UTC)).hour
    offset = 13 - hour  # local = UTC + offset, from -10 to +13
    # POSIX sign: Etc/GMT-3 is three hours *ahead* of UTC.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def zoneless_area_codes(count: int) -> list[str]:
    """`count` NANP area codes the plan gives no time zone (see `seed_running_campaign`)."""
    from campaigns import phones

    found = [
        str(area)
        for area in range(620, 1000)
        if area % 100 != 11 and not phones.zones_for_number(f"+1{area}5550100")
    ]
    assert len(found) >= count, f"only {len(found)} zoneless area codes"
    return found[:count]


def seed_running_campaign(organization: Any, numbers: list[str], **fields: Any) -> Any:
    """A running campaign over `numbers` (explicit midday zone), caller ID in the simulator's
    range; `fields` set the campaign (concurrency, CPS, attempts, retry delays).

    The numbers must be in area codes the numbering plan gives no zone (611, 621, 624, 625,
    627, 632, ...): a contact's explicit zone adds to its number's zones (issue 15), so a real
    area code would make the workers' real clock decide whether it may be called."""
    from campaigns import services
    from campaigns.factories import CallerIdFactory, CampaignFactory, ContactListFactory
    from campaigns.models import Contact

    contact_list: Any = ContactListFactory(organization=organization, name="Process faults")
    zone = midday_zone()
    for index, phone_number in enumerate(numbers):
        Contact.objects.create(
            organization=organization,
            contact_list=contact_list,
            phone_number=phone_number,
            first_name=f"Contact {index}",
            time_zone=zone,
        )
    campaign: Any = CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        caller_id=CallerIdFactory(organization=organization, phone_number="+15005550006"),
        **fields,
    )
    return services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))


def dial_ledger(campaign: Any, simulator: Any) -> dict[str, dict[str, Any]]:
    """Per contact number: what the database says was attempted, and what the simulator
    says rang (calls made, `POST Calls.json` received)."""
    from campaigns.models import CampaignContact
    from sessions.models import CallSession

    ledger: dict[str, dict[str, Any]] = {}
    for target in CampaignContact.objects.filter(campaign=campaign).select_related("contact"):
        number = target.contact.phone_number
        sessions = CallSession.objects.filter(target=target).order_by("attempt_number")
        calls = simulator.calls_to(number)
        ledger[number] = {
            "attempts": target.attempts,
            "state": target.state,
            "session_attempts": [session.attempt_number for session in sessions],
            "session_sids": sorted(str(session.carrier_call_sid) for session in sessions),
            "rang": sorted(call.sid for call in calls),
            "creates": len(simulator.creates_to(number)),
        }
    return ledger


def assert_each_attempt_dialled_once(ledger: dict[str, dict[str, Any]], attempts: int) -> None:
    """Every contact: `attempts` attempts, one session each, one call each, our sids = theirs."""
    for number, entry in ledger.items():
        assert entry["attempts"] == attempts, (number, entry)
        assert entry["session_attempts"] == list(range(1, attempts + 1)), (number, entry)
        assert entry["creates"] == attempts, (number, entry)
        assert len(entry["rang"]) == attempts, (number, entry)
        assert entry["session_sids"] == entry["rang"], (number, entry)


def send_task(broker_url: str, name: str, **kwargs: Any) -> None:
    """Publish a task the way beat or another process would (not through the test's eager app)."""
    from celery import Celery

    client = Celery("resilience-client", broker=broker_url, set_as_current=False)
    try:
        client.send_task(name, kwargs=kwargs)
    finally:
        client.close()


# --- the launcher ----------------------------------------------------------------------------
def _launch(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    if name := os.environ.get("RESILIENCE_DB_NAME"):
        # The test database (pytest-django's `test_…` or its SQLite file), not the configured
        # one; read before any connection opens.
        settings.DATABASES["default"]["NAME"] = name
    from anvil_voice.celery import app

    if timeout := os.environ.get("RESILIENCE_VISIBILITY_TIMEOUT"):
        app.conf.broker_transport_options = {
            "visibility_timeout": float(timeout),
            "unacked_restore_interval": 1,
        }
    if every := os.environ.get("RESILIENCE_SWEEP_EVERY"):
        schedule = dict(app.conf.beat_schedule)
        schedule["sessions-reconcile-stuck"] = {
            "task": "sessions.tasks.session_reconcile_stuck_task",
            "schedule": float(every),
            "kwargs": {
                "older_than_seconds": float(every),
                "calls_older_than_seconds": float(os.environ.get("RESILIENCE_CALLS_AGE", every)),
            },
        }
        app.conf.beat_schedule = schedule
    app.start(argv)


if __name__ == "__main__":
    _launch(sys.argv[1:])
