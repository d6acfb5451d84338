"""`make run`: the whole system on the embedded default, in one terminal.

Starts the ASGI server (HTTP + websockets: Uvicorn, or Daphne with `ASGI_SERVER=daphne`), a
Celery worker with beat on the filesystem broker, and the Twilio simulator; prints the admin
login and a fresh demo API key; stops everything on Ctrl-C.

`PORT` alone is enough to run a second instance beside the first: every helper's port is
derived from it (the simulator listens on PORT + 10 unless that is taken, then on any free
port), and an instance on another port keeps its state (SQLite file, media, broker folders,
beat schedule) in `var/port-<PORT>/` so two instances never share a broker or a database.
Ports and the state folder are checked before anything starts, and a process that exits
during start-up is reported before the banner. Once running, a crashed worker is restarted
(anvil_voice/process_supervisor.py) while the server and the simulator keep serving.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from anvil_voice.process_supervisor import ProcessSupervisor

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8000
# The simulator's port for PORT=8000 stays 8010, the settings' default.
SIMULATOR_PORT_OFFSET = 10
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 90.0
# Each `make run` revokes the keys the previous ones printed (same organization, same name)
# before issuing a fresh one: a key is stored hashed, so it cannot be printed again.
DEMO_KEY_NAME = "make-run"
DEMO_KEY_ARGS = ["create_api_key", "--organization", "demo", "--name", DEMO_KEY_NAME, "--replace"]
# Celery warns whenever a worker runs as root (containers, CI). The warning guards against
# pickle: a root worker that accepts pickled messages runs whatever the broker hands it, which
# is why Celery *refuses* pickle as root unless C_FORCE_ROOT is set. We accept JSON only
# (CELERY_ACCEPT_CONTENT) and the embedded broker is a folder only this user can write, so the
# risk does not apply; setting C_FORCE_ROOT would be wrong (it re-enables pickle as root and
# does not even silence the warning). Only the embedded worker's warning is filtered, by text.
CELERY_ROOT_WARNING_FILTER = "ignore:You're running the worker with superuser privileges"
ASGI_APPLICATION = "anvil_voice.asgi:application"
# `ASGI_SERVER` picks the server; both are supported and tested (tests/anvil_voice/
# test_asgi_servers.py). Uvicorn is the default: it spends less CPU per media frame
# (docs/benchmarks.md). Daphne runs through our entry point, which leaves form bodies to Django
# and names every status (anvil_voice/daphne_server.py). Docs: docs/decisions.md.
ASGI_SERVERS = ("uvicorn", "daphne")
DEFAULT_ASGI_SERVER = "uvicorn"


@dataclass(frozen=True)
class Ports:
    server: int
    simulator: int

    def named(self) -> dict[str, int]:
        return {"server": self.server, "simulator": self.simulator}


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on `port` now (SO_REUSEADDR, as Daphne and aiohttp bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def any_free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def plan_ports(
    server_port: int,
    env: Mapping[str, str],
    *,
    is_free: Callable[[int], bool] = port_is_free,
    pick_free: Callable[[], int] = any_free_port,
) -> Ports:
    """The server's port and the simulator's: `TWILIO_SIMULATOR_PORT` if set (it must then be
    free), else PORT + 10 if that is free, else whatever free port the system gives."""
    if env.get("TWILIO_SIMULATOR_PORT"):
        return Ports(server_port, int(env["TWILIO_SIMULATOR_PORT"]))
    derived = server_port + SIMULATOR_PORT_OFFSET
    if derived <= 65535 and is_free(derived):
        return Ports(server_port, derived)
    # Another instance (or anything else) has it: PORT=8000 beside PORT=8010, for example.
    while (picked := pick_free()) == server_port:
        pass
    return Ports(server_port, picked)


def port_problems(ports: Ports, *, is_free: Callable[[int], bool] = port_is_free) -> list[str]:
    """Why the processes could not listen where planned (empty when they can)."""
    if ports.server == ports.simulator:
        return [f"The server and the simulator would both listen on port {ports.server}."]
    hints = {"server": "choose another PORT", "simulator": "unset or change TWILIO_SIMULATOR_PORT"}
    return [
        f"Port {port} for the {name} is already in use on {HOST} ({hints[name]})."
        for name, port in ports.named().items()
        if not is_free(port)
    ]


def var_dir_for(server_port: int, env: Mapping[str, str]) -> Path:
    """`ANVIL_VAR_DIR` if set; `var/` for the default port; `var/port-<PORT>/` otherwise."""
    if env.get("ANVIL_VAR_DIR"):
        return Path(env["ANVIL_VAR_DIR"])
    if server_port == DEFAULT_PORT:
        return BASE_DIR / "var"
    return BASE_DIR / "var" / f"port-{server_port}"


def lock_var_dir(var_dir: Path) -> IO[str] | None:
    """Hold `var_dir/make-run.lock` while running; None when another instance holds it."""
    var_dir.mkdir(parents=True, exist_ok=True)
    handle = (var_dir / "make-run.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def child_env(env: Mapping[str, str], ports: Ports, var_dir: Path) -> dict[str, str]:
    """What every child process sees: the planned ports and this instance's state folder."""
    child = dict(env)
    child["PORT"] = str(ports.server)
    child["ANVIL_VAR_DIR"] = str(var_dir)
    child["TWILIO_SIMULATOR_PORT"] = str(ports.simulator)
    child.setdefault("TWILIO_API_BASE_URL", f"http://{HOST}:{ports.simulator}")
    child.setdefault("PUBLIC_BASE_URL", f"http://{HOST}:{ports.server}")
    return child


def asgi_server_command(kind: str, python: str, port: int, host: str = HOST) -> list[str]:
    """The command that serves our ASGI app (HTTP and websockets) on `host:port` with `kind`.

    Uvicorn: websockets through the `websockets` library's sans-I/O protocol (the one the
    benchmarks and the live-call tests use); Django has no lifespan events, so lifespan is off.
    """
    if kind == "uvicorn":
        return [
            python, "-m", "uvicorn", "--host", host, "--port", str(port),
            "--ws", "websockets-sansio", "--lifespan", "off",
            "--log-level", "warning", "--no-access-log",
            ASGI_APPLICATION,
        ]  # fmt: skip
    if kind == "daphne":
        return [
            python, "-m", "anvil_voice.daphne_server", "-b", host, "-p", str(port),
            ASGI_APPLICATION,
        ]  # fmt: skip
    raise ValueError(f"ASGI_SERVER must be one of {', '.join(ASGI_SERVERS)}, not {kind!r}.")


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    worker = dict(env)
    if os.geteuid() == 0:
        worker["PYTHONWARNINGS"] = ",".join(
            filter(None, [env.get("PYTHONWARNINGS"), CELERY_ROOT_WARNING_FILTER])
        )
    return worker


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local URL
            return True
    except OSError:
        return False


def wait_until_ready(
    processes: Mapping[str, subprocess.Popen[bytes]],
    ready: Mapping[str, Callable[[], bool]],
    *,
    timeout: float,
    interval: float = 0.3,
) -> str | None:
    """Wait until every check in `ready` passes while every process keeps running.

    Returns None when all are ready, else why not: the first process that exited (with its
    code), or the checks still failing at the deadline.
    """
    deadline = time.monotonic() + timeout
    pending = dict(ready)
    while True:
        for name, process in processes.items():
            if (code := process.poll()) is not None:
                return f"The {name} exited with code {code} during start-up; see its log above."
        pending = {name: check for name, check in pending.items() if not check()}
        if not pending:
            return None
        if time.monotonic() >= deadline:
            return f"Not ready after {timeout:.0f} s: {', '.join(pending)}; see the log above."
        time.sleep(interval)


def _manage(python: str, args: list[str], env: Mapping[str, str], *, capture: bool = False) -> str:
    completed = subprocess.run(  # noqa: S603 - fixed argv, our own command
        [python, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        text=True,
        capture_output=capture,
    )
    return str(completed.stdout or "")


def serve(supervisor: ProcessSupervisor, banner: list[str]) -> int:
    """Print the banner, then keep the processes up until one cannot be kept (exit 1);
    Ctrl-C reaches the caller, which stops everything in its `finally`."""
    print("\n".join(["", *banner, "Press Ctrl-C to stop.", ""]), flush=True)
    reason = supervisor.run()
    print(f"Stopped: {reason}", file=sys.stderr)
    return 1


def main() -> int:
    python = sys.executable
    bin_dir = Path(python).parent
    server_port = int(os.environ.get("PORT") or DEFAULT_PORT)
    ports = plan_ports(server_port, os.environ)
    var_dir = var_dir_for(server_port, os.environ)
    problems = port_problems(ports)
    server_kind = os.environ.get("ASGI_SERVER") or DEFAULT_ASGI_SERVER
    if server_kind not in ASGI_SERVERS:
        problems.append(
            f"ASGI_SERVER must be one of {', '.join(ASGI_SERVERS)}, not {server_kind!r}."
        )
    lock = lock_var_dir(var_dir) if not problems else None
    if not problems and lock is None:
        problems = [f"Another `make run` is using {var_dir} (set ANVIL_VAR_DIR or PORT)."]
    if problems or lock is None:
        print("\n".join(["Anvil Voice cannot start:", *problems]), file=sys.stderr)
        return 1
    env = child_env(os.environ, ports, var_dir)
    try:
        _manage(python, ["migrate", "--noinput"], env)
        _manage(python, ["seed_demo"], env)
    except subprocess.CalledProcessError as error:
        print(f"Anvil Voice cannot start: {error}", file=sys.stderr)
        return 1

    commands = {
        "server": asgi_server_command(server_kind, python, ports.server),
        "worker": [
            str(bin_dir / "celery"), "-A", "anvil_voice", "worker", "--beat",
            "--pool=threads", "--concurrency=4", "--loglevel=WARNING",
            "--schedule", str(var_dir / "celerybeat-schedule"),
        ],
    }  # fmt: skip
    ready: dict[str, Callable[[], bool]] = {}
    simulator = BASE_DIR / "anvil_voice/telephony/management/commands/twilio_simulator.py"
    if simulator.exists():
        commands["simulator"] = [
            python, "manage.py", "twilio_simulator", "--port", str(ports.simulator)
        ]  # fmt: skip
        ready["simulator"] = lambda: _listening(ports.simulator)
    health = f"http://{HOST}:{ports.server}/api/v1/voice/health"
    ready["server"] = lambda: _answers(health)

    # Only the worker is restarted: its crash loses no state (tasks are acked late and the
    # sweeps catch up), while a server or simulator that dies has a problem worth seeing. It
    # leads its own process group, so a restart can first kill an orphaned embedded beat.
    def spawner(name: str, command: list[str]) -> Callable[[], subprocess.Popen[bytes]]:
        worker = name == "worker"
        child = worker_env(env) if worker else env
        return lambda: subprocess.Popen(  # noqa: S603 - fixed argv
            command, cwd=BASE_DIR, env=child, start_new_session=worker
        )

    supervisor = ProcessSupervisor(
        {name: spawner(name, command) for name, command in commands.items()},
        restartable={"worker"},
    )
    processes = supervisor.start()

    def stop(*_: object) -> None:
        supervisor.terminate()

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C stops everything even when started from a script in the background (where SIGINT
    # is inherited as ignored, and only the simulator, which installs its own handler, stopped).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if problem := wait_until_ready(processes, ready, timeout=START_TIMEOUT_SECONDS):
            print(f"Anvil Voice did not start: {problem}", file=sys.stderr)
            return 1
        api_key = _manage(python, DEMO_KEY_ARGS, env, capture=True).strip()
        api_key = api_key.splitlines()[-1]
        if problem := wait_until_ready(processes, {}, timeout=0):
            print(f"Anvil Voice did not start: {problem}", file=sys.stderr)
            return 1
        base = f"http://{HOST}:{ports.server}"
        return serve(
            supervisor,
            [
                f"Anvil Voice is running (embedded default, served by {server_kind}).",
                f"  Admin:     {base}/admin/  (admin / anvil-demo)",
                f"  API docs:  {base}/api/v1/voice/docs/  ({base}/api/v1/voice/redoc/)",
                f"  Health:    curl -H 'Authorization: Bearer {api_key}' {health}",
                f"  API key:   {api_key}  (the previous `make run` keys are revoked)",
                f"  Simulator: http://{HOST}:{ports.simulator}  State: {var_dir}",
            ],
        )
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop()
        lock.close()


if __name__ == "__main__":
    raise SystemExit(main())
