"""The rate limit holds across web processes that share Redis.

Two real ASGI server processes (uvicorn) share the Redis cache; requests alternate between them
and the 201st in the window is refused whichever process receives it. Runs where REDIS_URL and
a PostgreSQL DATABASE_URL are configured (the second half of `.ci/run`); the embedded default
has a per-process cache, where sharing is not a property to test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings

from anvil_voice.accounts import services

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs Redis and PostgreSQL shared by several processes (second .ci/run pass)",
    ),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_servers() -> Iterator[list[str]]:
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        # The child processes must see this test's database, not the configured one.
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        # An hour-long window: the test cannot straddle a window boundary by bad luck.
        "API_RATE_LIMIT": "200/h",
        "HTTPS_ONLY": "0",
        "CACHE_KEY_PREFIX": f"rl-test-{os.getpid()}",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "anvil_voice.asgi:application",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            ],
            env=env,
        )
        for port in ports
    ]  # fmt: skip
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 120
        for url in urls:
            while True:
                try:
                    httpx.get(f"{url}/api/v1/voice/health", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def test_it_refuses_the_201st_request_whichever_process_receives_it(acme, globex, two_servers):
    issued = services.api_key_issue(organization=acme, name="shared")
    sibling = services.api_key_issue(organization=acme, name="sibling")
    other = services.api_key_issue(organization=globex, name="other")
    headers = {"Authorization": f"Bearer {issued.raw_key}"}

    with httpx.Client(timeout=10) as client:
        statuses = [
            client.get(f"{two_servers[i % 2]}/api/v1/voice/api-keys", headers=headers).status_code
            for i in range(200)
        ]
        refused = [
            client.get(f"{url}/api/v1/voice/api-keys", headers=headers) for url in two_servers
        ]
        # The organization's budget is shared by its keys, across processes too (item 15).
        sibling_refused = client.get(
            f"{two_servers[1]}/api/v1/voice/api-keys",
            headers={"Authorization": f"Bearer {sibling.raw_key}"},
        )
        unaffected = client.get(
            f"{two_servers[0]}/api/v1/voice/api-keys",
            headers={"Authorization": f"Bearer {other.raw_key}"},
        )

    assert statuses == [200] * 200
    assert [response.status_code for response in refused] == [429, 429]
    assert all(r.json()["error"]["code"] == "RATE_LIMITED" for r in refused)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert sibling_refused.status_code == 429
    assert unaffected.status_code == 200
