"""Every supported ASGI server answers the API's envelope, with standard reason phrases.

Each server runs as `make run` starts it (`run_embedded.asgi_server_command`), in its own
process on a free port, over a migrated SQLite database in a temporary folder. Requests are
written by hand: a multipart body with no parts (`--b--`) once went out under Daphne as a bare
`400 Bad Request` with no body (Twisted parsed the form before Django ran), and a 429 as
`429 Unknown Status` (Twisted's reason table has no 429).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anvil_voice.run_embedded import ASGI_SERVERS, any_free_port, asgi_server_command

ROOT = Path(__file__).resolve().parents[2]
RATE_LIMIT = 5  # a minute, per key: the rate-limit test's key reaches it, the others do not
EMPTY_MULTIPART = b"--b--\r\n"
START_TIMEOUT = 120.0


def _env(var_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PYTEST_CURRENT_TEST"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="anvil_voice.settings",
        ANVIL_VAR_DIR=str(var_dir),
        API_RATE_LIMIT=f"{RATE_LIMIT}/m",
        # The per-key limit is under test; the organization's (all these keys share one) is not.
        API_ORGANIZATION_RATE_LIMIT="1000/m",
        HTTPS_ONLY="0",
        PYTHONUNBUFFERED="1",
    )
    return env


# Migrating and issuing the keys in one process: each `manage.py` run pays Django's start-up
# (several seconds on two busy cores), so three runs cost twice what one does.
PREPARE = """
import io, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
for name in sys.argv[1:]:
    out = io.StringIO()
    call_command(
        "create_api_key", organization="servers", create=True, name=name, stdout=out
    )
    print("key", name, out.getvalue().strip().splitlines()[-1])
"""


def _prepare_database(env: dict[str, str], names: list[str]) -> dict[str, str]:
    """Migrate the servers' database and issue one key per name (as `create_api_key` does)."""
    done = subprocess.run(
        [sys.executable, "-c", PREPARE, *names],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    keys = dict(line.split()[1:] for line in done.stdout.splitlines() if line.startswith("key "))
    assert list(keys) == names, done.stdout
    return keys


def _request(
    port: int, method: str, path: str, key: str, body: bytes = b"", content_type: str = ""
) -> tuple[int, str, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Authorization": f"Bearer {key}"}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.reason, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class Servers:
    def __init__(self, folder: Path) -> None:
        self.env = _env(folder)
        self.ports: dict[str, int] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = {kind: folder / f"{kind}.log" for kind in ASGI_SERVERS}
        self.keys: dict[str, str] = {}

    def start(self) -> None:
        for kind in ASGI_SERVERS:
            port = any_free_port()
            with self.logs[kind].open("wb") as log:
                self.processes[kind] = subprocess.Popen(
                    asgi_server_command(kind, sys.executable, port),
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.ports[kind] = port
        # The servers import Django while the database is prepared: neither touches the
        # database before its first request, and the first request waits for both.
        self.keys = _prepare_database(self.env, ["envelope", "limited"])
        for kind in ASGI_SERVERS:
            self._wait_until_serving(kind)

    def _wait_until_serving(self, kind: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.processes[kind].poll() is not None:
                raise AssertionError(f"{kind} exited:\n{self.logs[kind].read_text()[-3000:]}")
            connection = http.client.HTTPConnection("127.0.0.1", self.ports[kind], timeout=2)
            try:
                connection.request("GET", "/api/v1/voice/health")
                connection.getresponse().read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{kind} did not start") from None
                time.sleep(0.3)
            finally:
                connection.close()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    running = Servers(tmp_path_factory.mktemp("asgi-servers"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _assert_envelope(status: int, headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert 400 <= status < 500, (status, headers, body)
    assert headers.get("Content-Type", "").startswith("application/json"), (headers, body)
    payload = json.loads(body)
    assert payload["success"] is False, payload
    assert payload["error"]["code"], payload
    return dict(payload)


@pytest.mark.parametrize("kind", ASGI_SERVERS)
@pytest.mark.parametrize("path", ["/api/v1/voice/health", "/api/v1/voice/contact-lists"])
def test_a_multipart_body_with_no_parts_gets_the_envelope(
    servers: Servers, kind: str, path: str
) -> None:
    status, _, headers, body = _request(
        servers.ports[kind],
        "POST",
        path,
        servers.keys["envelope"],
        EMPTY_MULTIPART,
        "multipart/form-data; boundary=b",
    )

    _assert_envelope(status, headers, body)


@pytest.mark.parametrize("kind", ASGI_SERVERS)
def test_a_health_check_answers_on_every_server(servers: Servers, kind: str) -> None:
    status, reason, _, body = _request(
        servers.ports[kind], "GET", "/api/v1/voice/health", servers.keys["envelope"]
    )

    assert (status, reason) == (200, "OK"), body
    assert json.loads(body)["success"] is True


@pytest.mark.parametrize("kind", ASGI_SERVERS)
def test_a_rate_limited_answer_says_too_many_requests(servers: Servers, kind: str) -> None:
    answers = [
        _request(servers.ports[kind], "GET", "/api/v1/voice/api-keys", servers.keys["limited"])
        for _ in range(RATE_LIMIT + 1)
    ]

    assert [status for status, *_ in answers[:RATE_LIMIT]] == [200] * RATE_LIMIT
    status, reason, headers, body = answers[-1]
    assert (status, reason) == (429, "Too Many Requests")
    assert _assert_envelope(status, headers, body)["error"]["code"] == "RATE_LIMITED"  # type: ignore[index]
    assert int(headers["Retry-After"]) >= 1
