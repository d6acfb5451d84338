"""The `GET /voices` throughput benchmark still drives a real server (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from django.db import connections

from benchmarks import voices_list


@pytest.fixture
def server_url(transactional_db: None, settings: Any) -> Iterator[str]:
    from anvil_voice.asgi import application

    settings.API_RATE_LIMIT = "100000/m"
    settings.API_ORGANIZATION_RATE_LIMIT = "100000/m"
    # Under ASGI every request context opens its own connection; persistent ones would outlive
    # the test and keep PostgreSQL from dropping the test database (Django: off under ASGI).
    database = connections.settings["default"]
    conn_max_age = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(application, lifespan="off", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    listener.close()
    database["CONN_MAX_AGE"] = conn_max_age


def test_the_voice_list_benchmark_reports_throughput_against_the_health_baseline(
    server_url: str,
) -> None:
    api_key = voices_list.seed(voices=6)
    lines: list[str] = []

    results = voices_list.run(
        base_url=server_url, api_key=api_key, levels=[1, 2], seconds=0.3, report=lines.append
    )

    assert [row["clients"] for row in results] == [1, 2]
    assert len(lines) == 2
    for row in results:
        for endpoint in ("voices", "health"):
            figures = row[endpoint]
            assert figures["requests"] > 0
            assert figures["errors"] == 0
            assert figures["rps"] > 0
            assert figures["p99"] >= figures["p50"] > 0
        assert row["ratio"] > 0
