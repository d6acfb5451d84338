"""Benchmark: `GET /api/v1/voice/voices` throughput with N concurrent clients.

`uv run python -m benchmarks.voices_list [--quick] [--clients 1,4,16,64] [--seconds S]
[--voices N] [--server uvicorn|daphne]`

Seeds an organization with 50 voices (a few with samples) and an API key, serves the real ASGI
app (`anvil_voice.asgi:application`, one process) under uvicorn or Daphne in a subprocess, and
drives it over HTTP with N concurrent keep-alive clients (httpx, one event loop in this
process) for a fixed time per level. Reports requests/s and p50/p99 latency for the voice list
and, as the baseline in the same run and the same server, for `/api/v1/voice/health` (no
authentication; one database, cache, channel-layer and broker round trip), and the ratio.

The API's rate limit (200/min per key and per organization) is raised for the server through
`API_RATE_LIMIT` and `API_ORGANIZATION_RATE_LIMIT`, so
the limiter still counts every request but never refuses one. The embedded default (SQLite,
in-memory cache) is used unless DATABASE_URL points at PostgreSQL, in which case a throw-away
`bench_voices` database is created there and dropped at the end. The server runs with DEBUG
off, as in production. The load generator shares the 2-core box with the server, so the
figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.support import (
    api_key_for,
    free_port,
    percentile,
    setup_bench_environment,
    stop_process,
    teardown_bench_environment,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VOICES = "/api/v1/voice/voices"
HEALTH = "/api/v1/voice/health"


def seed(*, voices: int) -> str:
    """An organization with `voices` voices (every fifth with two samples); returns an API key."""
    from anvil_voice.accounts.factories import OrganizationFactory
    from voices.factories import VoiceFactory, VoiceSampleFactory

    organization = OrganizationFactory.create(slug="bench-voices", name="Bench voices")
    other = OrganizationFactory.create(slug="bench-voices-other", name="Other")
    for n in range(voices):
        voice = VoiceFactory.create(organization=organization)
        if n % 5 == 0:
            VoiceSampleFactory.create_batch(2, voice=voice)
    VoiceFactory.create_batch(voices // 5, organization=other)
    return api_key_for(organization)


def start_server(
    *,
    server: str,
    port: int,
    conn_max_age: int | None = None,
    settings_dir: Path | None = None,
    tree: Path = BASE_DIR,
) -> subprocess.Popen[bytes]:
    """The ASGI app in a subprocess with this process's environment (database, settings).

    `tree` is the source tree served: this checkout, or for a baseline in the same run an
    older commit's files (`git archive <commit> | tar -x -C DIR`) with this checkout's venv.

    `conn_max_age` overrides the database's CONN_MAX_AGE through a settings module that wraps
    the project's: Django documents persistent connections as unsuitable under ASGI (every
    request context opens its own), which the product's default of 60 s turns into one idle
    connection per request for a minute.
    """
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    if conn_max_age is not None:
        wrapper = settings_dir or Path(tempfile.mkdtemp(prefix="bench-settings-"))
        (wrapper / "bench_server_settings.py").write_text(
            "from anvil_voice.settings import *  # noqa: F403\n"
            f'DATABASES["default"]["CONN_MAX_AGE"] = {conn_max_age}  # noqa: F405\n'
        )
        env["PYTHONPATH"] = os.pathsep.join([str(wrapper), str(tree)])
        env["DJANGO_SETTINGS_MODULE"] = "bench_server_settings"
    else:
        env["PYTHONPATH"] = str(tree)
    if server == "daphne":
        command = [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
    else:
        command = [
            sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--lifespan", "off",
        ]  # fmt: skip
    command.append("anvil_voice.asgi:application")
    return subprocess.Popen(command, cwd=tree, env=env)  # noqa: S603


def wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(base_url + HEALTH, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become healthy")


async def drive(
    *, base_url: str, path: str, headers: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    """`clients` concurrent loops of GET `path` for `seconds`; throughput and latency."""
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        for _ in range(2):  # open the connections, warm the server's code paths
            await asyncio.gather(*(client.get(path, headers=headers) for _ in range(clients)))
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(path, headers=headers)
                except httpx.HTTPError:  # a reset or timeout under overload counts, not stops
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


def run(
    *,
    base_url: str,
    api_key: str,
    levels: list[int],
    seconds: float,
    report: Any = print,
    baseline_url: str | None = None,
) -> list[dict[str, Any]]:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"}
    body = httpx.get(base_url + VOICES, headers=headers, timeout=30).json()
    if not body.get("data"):
        raise RuntimeError(f"GET /voices answered no voices: {body}")
    results = []
    for clients in levels:
        voices = asyncio.run(
            drive(base_url=base_url, path=VOICES, headers=headers, clients=clients, seconds=seconds)
        )
        health = asyncio.run(
            drive(base_url=base_url, path=HEALTH, headers={}, clients=clients, seconds=seconds)
        )
        row = {
            "clients": clients,
            "voices": voices,
            "health": health,
            "ratio": health["rps"] / voices["rps"] if voices["rps"] else float("inf"),
        }
        results.append(row)
        report(
            f"{clients:>3} clients: GET /voices {voices['rps']:7.1f} req/s "
            f"p50 {voices['p50']:7.1f} ms p99 {voices['p99']:7.1f} ms ({voices['errors']:.0f} "
            f"errors) | health {health['rps']:7.1f} req/s p50 {health['p50']:7.1f} ms "
            f"p99 {health['p99']:7.1f} ms | health/voices throughput {row['ratio']:.2f}"
        )
        if baseline_url is not None:
            # The baseline server right after, at the same level: the box's load drifts slowly.
            old = asyncio.run(
                drive(
                    base_url=baseline_url,
                    path=VOICES,
                    headers=headers,
                    clients=clients,
                    seconds=seconds,
                )
            )
            row["baseline"] = old
            row["speedup"] = voices["rps"] / old["rps"] if old["rps"] else float("inf")
            report(
                f"{clients:>3} clients: GET /voices {old['rps']:7.1f} req/s p50 {old['p50']:7.1f}"
                f" ms p99 {old['p99']:7.1f} ms ({old['errors']:.0f} errors) on the baseline tree"
                f" | this tree / baseline {row['speedup']:.2f}"
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", default=None, help="levels, comma-separated (1,4,16,64)")
    parser.add_argument("--seconds", type=float, default=None, help="per level and endpoint (8)")
    parser.add_argument("--voices", type=int, default=50)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--quick", action="store_true", help="1,4,16 clients, 2 s each")
    parser.add_argument("--database", default="bench_voices")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        default=None,
        help="also serve this source tree (e.g. `git archive <old commit> | tar -x -C DIR`) "
        "from the same database with the same venv, and drive it right after this tree at "
        "every level: the before/after throughput in one run",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="the server's CONN_MAX_AGE on PostgreSQL (0, as Django advises under ASGI; the "
        "product's 60 opens a connection per request and exhausts a 100-connection server)",
    )
    parser.add_argument(
        "--pg-max-clients",
        type=int,
        default=16,
        help="on PostgreSQL, skip levels above this: every in-flight request holds a connection",
    )
    args = parser.parse_args(argv)
    levels = [
        int(n) for n in (args.clients or ("1,4,16" if args.quick else "1,4,16,64")).split(",")
    ]
    seconds = args.seconds or (2.0 if args.quick else 8.0)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    # Production-like server: DEBUG off (no query log), even on the embedded default.
    os.environ.setdefault("DEBUG", "0")
    admin_url, _ = setup_bench_environment(database=args.database, reuse=False)
    from django.db import connection

    server = None
    baseline = None
    settings_dir = None
    try:
        api_key = seed(voices=args.voices)
        vendor = connection.vendor
        connection.close()
        conn_max_age = None
        if vendor == "postgresql":
            conn_max_age = args.conn_max_age
            skipped = [n for n in levels if n > args.pg_max_clients]
            levels = [n for n in levels if n <= args.pg_max_clients]
            if skipped:
                print(f"PostgreSQL: skipping {skipped} clients (--pg-max-clients)")
        port = free_port()
        if conn_max_age is not None:
            settings_dir = Path(tempfile.mkdtemp(prefix="bench-settings-"))
        server = start_server(
            server=args.server, port=port, conn_max_age=conn_max_age, settings_dir=settings_dir
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, server)
        baseline_url = None
        if args.baseline_tree is not None:
            baseline_port = free_port()
            baseline = start_server(
                server=args.server,
                port=baseline_port,
                conn_max_age=conn_max_age,
                settings_dir=settings_dir,
                tree=args.baseline_tree.resolve(),
            )
            baseline_url = f"http://127.0.0.1:{baseline_port}"
            wait_ready(baseline_url, baseline)
        setting = "" if conn_max_age is None else f" (CONN_MAX_AGE={conn_max_age})"
        print(
            f"{args.server}, one process, database {vendor}{setting}; {args.voices} voices; "
            f"{seconds} s per level and endpoint"
        )
        run(
            base_url=base_url,
            api_key=api_key,
            levels=levels,
            seconds=seconds,
            baseline_url=baseline_url,
        )
    finally:
        if server is not None:
            stop_process(server)
        if baseline is not None:
            stop_process(baseline)
        if settings_dir is not None:
            shutil.rmtree(settings_dir, ignore_errors=True)
        teardown_bench_environment(admin_url=admin_url, database=args.database, keep=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
