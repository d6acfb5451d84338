"""`make run-cluster`: the production topology (docs/operations.md) on this one machine.

PostgreSQL and Redis must already run here (`DATABASE_URL`, default
postgres://postgres@127.0.0.1:5432/anvil_cluster, created if missing; `REDIS_URL`, default
redis://127.0.0.1:6379/12). This starts SeaweedFS from the virtualenv's `weed` as the S3
server (its bucket created), migrates, collects static files and seeds the demo organization,
then runs, under one supervisor:

- `CLUSTER_WEB_PROCESSES` web processes (default 2; Uvicorn, or `ASGI_SERVER=daphne`) on
  PORT+1, PORT+2, ... behind a TCP round-robin load balancer on PORT (default 8000,
  anvil_voice/load_balancer.py), which passes websockets through;
- `CLUSTER_WORKERS` Celery workers (default 2) on the Redis broker, and one beat;
- the Twilio simulator on PORT+10, reaching the web processes through the load balancer.

Settings are production's (DEBUG off, manifest static files, S3 media) except plain HTTP on
127.0.0.1; the secret key and the Twilio token are generated once and kept in the state folder
(`var/cluster/`). A web process, worker or beat that crashes is restarted (the load balancer
skips a web process that is down); Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

from anvil_voice.process_supervisor import ProcessSupervisor
from anvil_voice.run_embedded import (
    ASGI_SERVERS,
    BASE_DIR,
    DEFAULT_ASGI_SERVER,
    DEFAULT_PORT,
    DEMO_KEY_ARGS,
    HOST,
    SIMULATOR_PORT_OFFSET,
    START_TIMEOUT_SECONDS,
    _answers,
    _listening,
    _manage,
    asgi_server_command,
    lock_var_dir,
    port_is_free,
    serve,
    wait_until_ready,
    worker_env,
)
from anvil_voice.seaweed import SeaweedS3

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/anvil_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
DEFAULT_WEB_PROCESSES = 2
DEFAULT_WORKERS = 2
DEFAULT_S3_PORT = 8333
S3_BUCKET = "anvil-voice"
# Threads per worker: calls are I/O bound (carrier API, webhooks), the speech models run in
# the web processes that hold the Media Streams.
WORKER_CONCURRENCY = 4
HEALTH_PATH = "/api/v1/voice/health"


@dataclass(frozen=True)
class ClusterPlan:
    """Where each process of the cluster listens, and how many of each there are."""

    port: int = DEFAULT_PORT
    web_processes: int = DEFAULT_WEB_PROCESSES
    workers: int = DEFAULT_WORKERS
    s3_port: int = DEFAULT_S3_PORT
    server_kind: str = DEFAULT_ASGI_SERVER
    # The simulator's account limit (Twilio's default: 1 call a second) and its ring/answer
    # delays' scale: the cluster test dials faster and answers sooner (docs/operations.md).
    simulator_cps: float = 1.0
    simulator_time_scale: float = 1.0

    @property
    def web_ports(self) -> list[int]:
        return [self.port + number for number in range(1, self.web_processes + 1)]

    @property
    def simulator_port(self) -> int:
        return self.port + SIMULATOR_PORT_OFFSET

    def ports(self) -> dict[str, int]:
        named = {"load balancer": self.port, "simulator": self.simulator_port, "S3": self.s3_port}
        named.update({f"web-{n}": port for n, port in enumerate(self.web_ports, start=1)})
        return named

    def problems(self, *, is_free: Callable[[int], bool] = port_is_free) -> list[str]:
        found: list[str] = []
        if self.server_kind not in ASGI_SERVERS:
            found.append(
                f"ASGI_SERVER must be one of {', '.join(ASGI_SERVERS)}, not {self.server_kind!r}."
            )
        if not 1 <= self.web_processes < SIMULATOR_PORT_OFFSET:
            found.append(f"CLUSTER_WEB_PROCESSES must be 1 to {SIMULATOR_PORT_OFFSET - 1}.")
        if self.workers < 1:
            found.append("CLUSTER_WORKERS must be at least 1.")
        if self.simulator_cps <= 0 or self.simulator_time_scale <= 0:
            found.append("CLUSTER_SIMULATOR_CPS and CLUSTER_SIMULATOR_TIME_SCALE must be positive.")
        if found:
            return found
        ports = self.ports()
        if len(set(ports.values())) != len(ports):
            return [f"Two processes would share a port: {ports}."]
        return [
            f"Port {port} for the {name} is already in use on {HOST}."
            for name, port in ports.items()
            if not is_free(port)
        ]


def plan_from_env(env: Mapping[str, str]) -> ClusterPlan:
    return ClusterPlan(
        port=int(env.get("PORT") or DEFAULT_PORT),
        web_processes=int(env.get("CLUSTER_WEB_PROCESSES") or DEFAULT_WEB_PROCESSES),
        workers=int(env.get("CLUSTER_WORKERS") or DEFAULT_WORKERS),
        s3_port=int(env.get("CLUSTER_S3_PORT") or DEFAULT_S3_PORT),
        server_kind=env.get("ASGI_SERVER") or DEFAULT_ASGI_SERVER,
        simulator_cps=float(env.get("CLUSTER_SIMULATOR_CPS") or 1.0),
        simulator_time_scale=float(env.get("CLUSTER_SIMULATOR_TIME_SCALE") or 1.0),
    )


def cluster_commands(plan: ClusterPlan, python: str, var_dir: Path) -> dict[str, list[str]]:
    """Every long-running process of the cluster, by name (the supervisor's spawners)."""
    celery = str(Path(python).parent / "celery")
    commands: dict[str, list[str]] = {
        f"web-{n}": asgi_server_command(plan.server_kind, python, port)
        for n, port in enumerate(plan.web_ports, start=1)
    }
    commands["load-balancer"] = [
        python, "-m", "anvil_voice.load_balancer", "--host", HOST, "--port", str(plan.port),
        *(f"{HOST}:{port}" for port in plan.web_ports),
    ]  # fmt: skip
    for n in range(1, plan.workers + 1):
        commands[f"worker-{n}"] = [
            celery, "-A", "anvil_voice", "worker", "--pool=threads",
            f"--concurrency={WORKER_CONCURRENCY}", "--loglevel=WARNING",
            "--hostname", f"worker-{n}@%h",
        ]  # fmt: skip
    # Exactly one beat, as its own process (never `worker --beat`, which would start one per
    # worker): the scheduler sends the dispatcher's tick every second and the sweeps.
    commands["beat"] = [
        celery, "-A", "anvil_voice", "beat", "--loglevel=WARNING",
        "--schedule", str(var_dir / "celerybeat-schedule"),
    ]  # fmt: skip
    commands["simulator"] = [
        python, "manage.py", "twilio_simulator", "--port", str(plan.simulator_port),
        "--cps", str(plan.simulator_cps), "--time-scale", str(plan.simulator_time_scale),
    ]  # fmt: skip
    return commands


# Restarted when they crash: none holds state another process needs (web processes' calls end
# with a recorded reason, tasks are acked late, beat's schedule is on disk). The load balancer
# and the simulator dying is a problem worth seeing, as in `make run`.
def restartable(commands: Mapping[str, list[str]]) -> set[str]:
    return {name for name in commands if name.split("-")[0] in {"web", "worker", "beat"}}


def cluster_secrets(var_dir: Path) -> dict[str, str]:
    """The secret key and the Twilio token, generated on the first run and kept (0600)."""
    path = var_dir / "cluster-secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    values = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TWILIO_AUTH_TOKEN": secrets.token_urlsafe(24),
        "S3_SECRET_KEY": secrets.token_urlsafe(24),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(values))
    return values


def cluster_env(
    env: Mapping[str, str], plan: ClusterPlan, var_dir: Path, secret: Mapping[str, str]
) -> dict[str, str]:
    """What every process of the cluster sees; anything already set in `env` wins."""
    child = dict(env)
    base = f"http://{HOST}:{plan.port}"
    defaults = {
        "DATABASE_URL": DEFAULT_DATABASE_URL,
        "REDIS_URL": DEFAULT_REDIS_URL,
        "DATABASE_POOL": "1",  # psycopg's pool, as in production (docs/operations.md)
        "DEBUG": "0",
        "HTTPS_ONLY": "0",  # plain HTTP on 127.0.0.1; production terminates TLS at the LB
        "SECRET_KEY": secret["SECRET_KEY"],
        "TWILIO_AUTH_TOKEN": secret["TWILIO_AUTH_TOKEN"],
        "PUBLIC_BASE_URL": base,
        "TWILIO_API_BASE_URL": f"http://{HOST}:{plan.simulator_port}",
        "WEBHOOKS_ALLOW_HTTP_LOCALHOST": "1",
        "AWS_STORAGE_BUCKET_NAME": S3_BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://{HOST}:{plan.s3_port}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "anvil-cluster",
        "AWS_SECRET_ACCESS_KEY": secret["S3_SECRET_KEY"],
        # The dialler's capacity counts every process that serves Media Streams.
        "LIVE_CALL_PROCESSES": str(plan.web_processes),
    }
    for name, value in defaults.items():
        child.setdefault(name, value)
    # Always this instance's: the ports and the state folder were planned and checked above.
    child["PORT"] = str(plan.port)
    child["ANVIL_VAR_DIR"] = str(var_dir)
    child["TWILIO_SIMULATOR_PORT"] = str(plan.simulator_port)
    return child


def ensure_database(database_url: str) -> bool:
    """Create the database `database_url` names if it is missing; True when it was created."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def check_redis(redis_url: str) -> None:
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()


def start_s3(plan: ClusterPlan, var_dir: Path, env: Mapping[str, str]) -> SeaweedS3:
    workdir = var_dir / "seaweedfs"
    workdir.mkdir(parents=True, exist_ok=True)
    server = SeaweedS3(
        workdir=workdir,
        bucket=env["AWS_STORAGE_BUCKET_NAME"],
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        s3_port=plan.s3_port,
    )
    server.start(timeout=60)  # ready once a signed write and read in the bucket succeed
    return server


def main() -> int:
    python = sys.executable
    plan = plan_from_env(os.environ)
    var_dir = Path(os.environ.get("ANVIL_VAR_DIR") or BASE_DIR / "var" / "cluster")
    problems = plan.problems()
    lock = lock_var_dir(var_dir) if not problems else None
    if not problems and lock is None:
        problems = [f"Another `make run-cluster` is using {var_dir} (set ANVIL_VAR_DIR)."]
    if problems or lock is None:
        print("\n".join(["The cluster cannot start:", *problems]), file=sys.stderr)
        return 1
    env = cluster_env(os.environ, plan, var_dir, cluster_secrets(var_dir))
    s3: SeaweedS3 | None = None
    supervisor: ProcessSupervisor | None = None
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            if ensure_database(env["DATABASE_URL"]):
                print(f"Created the database of {env['DATABASE_URL']}.", flush=True)
            check_redis(env["REDIS_URL"])
            s3 = start_s3(plan, var_dir, env)
            for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v0"]):
                _manage(python, command, env)
            _manage(python, ["seed_demo"], env)
        except Exception as error:  # any of them: say which and stop
            print(f"The cluster cannot start: {error!r}", file=sys.stderr)
            return 1

        commands = cluster_commands(plan, python, var_dir)
        restart = restartable(commands)

        def spawner(name: str, command: list[str]) -> Callable[[], subprocess.Popen[bytes]]:
            celery = name.startswith(("worker", "beat"))
            child = worker_env(env) if celery else env
            return lambda: subprocess.Popen(  # noqa: S603 - fixed argv
                command, cwd=BASE_DIR, env=child, start_new_session=name in restart
            )

        supervisor = ProcessSupervisor(
            {name: spawner(name, command) for name, command in commands.items()},
            restartable=restart,
        )
        processes = supervisor.start()
        base = f"http://{HOST}:{plan.port}"
        ready: dict[str, Callable[[], bool]] = {
            f"web on {port}": (lambda url: lambda: _answers(url))(
                f"http://{HOST}:{port}{HEALTH_PATH}"
            )
            for port in plan.web_ports
        }
        ready["load balancer"] = lambda: _answers(base + HEALTH_PATH)
        ready["simulator"] = lambda: _listening(plan.simulator_port)
        if problem := wait_until_ready(processes, ready, timeout=START_TIMEOUT_SECONDS):
            print(f"The cluster did not start: {problem}", file=sys.stderr)
            return 1
        api_key = _manage(python, DEMO_KEY_ARGS, env, capture=True).strip().splitlines()[-1]
        webs = ", ".join(str(port) for port in plan.web_ports)
        return serve(
            supervisor,
            [
                f"Anvil Voice cluster is running ({plan.web_processes} {plan.server_kind} "
                f"web processes on {webs}, {plan.workers} workers, 1 beat).",
                f"  Load balancer: {base}/admin/  (admin / anvil-demo)",
                f"  Health:        {base}{HEALTH_PATH}   Liveness: {base}/api/v1/voice/live",
                f"  API key:       {api_key}",
                f"  Database:      {env['DATABASE_URL']}   Redis: {env['REDIS_URL']}",
                f"  S3:            {env['AWS_S3_ENDPOINT_URL']} (bucket {S3_BUCKET})",
                f"  Simulator:     http://{HOST}:{plan.simulator_port}   State: {var_dir}",
            ],
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()
        if s3 is not None:
            s3.stop()
        lock.close()


if __name__ == "__main__":
    raise SystemExit(main())
