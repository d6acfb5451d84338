"""`make run-cluster`'s launcher: the processes it runs, the ports it checks, what they see."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from anvil_voice.run_cluster import (
    ClusterPlan,
    cluster_commands,
    cluster_env,
    cluster_secrets,
    ensure_database,
    plan_from_env,
    restartable,
)

PYTHON = "/venv/bin/python"


def test_the_default_cluster_runs_two_web_two_workers_one_beat_behind_one_balancer(
    tmp_path: Path,
) -> None:
    commands = cluster_commands(ClusterPlan(), PYTHON, tmp_path)

    assert sorted(commands) == [
        "beat", "load-balancer", "simulator", "web-1", "web-2", "worker-1", "worker-2",
    ]  # fmt: skip
    assert commands["web-1"][:3] == [PYTHON, "-m", "uvicorn"]
    assert commands["web-1"][commands["web-1"].index("--port") + 1] == "8001"
    assert commands["web-2"][commands["web-2"].index("--port") + 1] == "8002"
    balancer = commands["load-balancer"]
    assert balancer[balancer.index("--port") + 1] == "8000"
    assert balancer[-2:] == ["127.0.0.1:8001", "127.0.0.1:8002"]
    # Beat runs once, on its own: no worker embeds one.
    assert commands["beat"][:4] == ["/venv/bin/celery", "-A", "anvil_voice", "beat"]
    assert not any("--beat" in argv for argv in commands.values())
    assert commands["worker-1"][commands["worker-1"].index("--hostname") + 1] == "worker-1@%h"
    simulator = commands["simulator"]
    assert simulator[simulator.index("--port") + 1] == "8010"
    assert restartable(commands) == {"web-1", "web-2", "worker-1", "worker-2", "beat"}


def test_the_plan_follows_the_environment(tmp_path: Path) -> None:
    plan = plan_from_env(
        {
            "PORT": "9000",
            "CLUSTER_WEB_PROCESSES": "3",
            "CLUSTER_WORKERS": "1",
            "ASGI_SERVER": "daphne",
        }
    )
    commands = cluster_commands(plan, PYTHON, tmp_path)

    assert plan.web_ports == [9001, 9002, 9003]
    assert [name for name in commands if name.startswith("worker")] == ["worker-1"]
    assert commands["web-3"][:3] == [PYTHON, "-m", "anvil_voice.daphne_server"]
    assert commands["load-balancer"][-3:] == [f"127.0.0.1:{p}" for p in (9001, 9002, 9003)]


def test_ports_in_use_and_bad_counts_are_reported_before_anything_starts() -> None:
    taken = {8002, 8333}
    problems = ClusterPlan().problems(is_free=lambda port: port not in taken)

    assert problems == [
        "Port 8333 for the S3 is already in use on 127.0.0.1.",
        "Port 8002 for the web-2 is already in use on 127.0.0.1.",
    ]
    assert ClusterPlan(web_processes=10).problems(is_free=lambda _: True) == [
        "CLUSTER_WEB_PROCESSES must be 1 to 9."
    ]
    assert ClusterPlan(server_kind="gunicorn").problems(is_free=lambda _: True)


def test_processes_see_production_settings_on_local_services(tmp_path: Path) -> None:
    secret = cluster_secrets(tmp_path)
    env = cluster_env({"REDIS_URL": "redis://127.0.0.1:6379/13"}, ClusterPlan(), tmp_path, secret)

    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/anvil_cluster"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/13"  # what is set wins
    assert env["DEBUG"] == "0"
    assert env["SECRET_KEY"] == secret["SECRET_KEY"]
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"  # the balancer, not a web process
    assert env["AWS_S3_ENDPOINT_URL"] == "http://127.0.0.1:8333"
    assert env["LIVE_CALL_PROCESSES"] == "2"
    # Generated once, then the same on every run (sessions and signatures survive a restart).
    assert cluster_secrets(tmp_path) == secret
    assert (tmp_path / "cluster-secrets.json").stat().st_mode & 0o077 == 0


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL"
)
def test_the_database_is_created_when_missing() -> None:
    import psycopg
    from psycopg import sql

    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"anvil_cluster_probe_{uuid.uuid4().hex[:8]}"
    try:
        assert ensure_database(f"{server}/{name}") is True
        assert ensure_database(f"{server}/{name}") is False
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
