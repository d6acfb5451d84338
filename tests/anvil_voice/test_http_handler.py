"""HTTP over ASGI in one hop (anvil_voice/http_handler.py): what Django's handler guaranteed
still holds — the response, its headers and cookies, streaming, `request_finished` — and each
request's work (the view, its signals, a streamed body) stays on the one worker thread that
owns its database connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from anvil_voice.http_handler import SyncChainASGIHandler

seen: list[tuple[str, int]] = []
gate = threading.Event()


def plain(request: HttpRequest) -> HttpResponse:
    seen.append(("view", threading.get_ident()))
    response = JsonResponse({"ok": True, "query": request.GET.get("q", "")})
    response.set_cookie("flavour", "oat")
    response["X-Extra"] = "yes"
    return response


def with_database(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"thread": threading.get_ident()})


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    def parts() -> Iterator[bytes]:
        for n in range(3):
            seen.append(("part", threading.get_ident()))
            yield f"part{n};".encode()

    return StreamingHttpResponse(parts(), content_type="text/plain")


@csrf_exempt
def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.body[::-1], content_type="application/octet-stream")


def slow(request: HttpRequest) -> HttpResponse:
    seen.append(("slow", threading.get_ident()))
    gate.wait(timeout=30)
    return HttpResponse("done")


urlpatterns = [
    path("plain/", plain),
    path("database/", with_database),
    path("streamed/", streamed),
    path("echo/", echo),
    path("slow/", slow),
]


async def call(
    handler: SyncChainASGIHandler, route: str, *, method: str = "GET", body: bytes = b""
) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    route, _, query = route.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body[:3], "more_body": True}] if body else []
    messages.append({"type": "http.request", "body": body[3:], "more_body": False})
    sent: list[dict[str, Any]] = []
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await handler(scope, receive, send)
    start = sent[0]
    headers: dict[bytes, list[bytes]] = {}
    for name, value in start["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture(autouse=True)
def _routes(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    settings.ROOT_URLCONF = __name__
    seen.clear()
    gate.clear()

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.get_ident()))

    def started(**kwargs: Any) -> None:
        seen.append(("started", threading.get_ident()))

    request_started.connect(started)
    request_finished.connect(finished)
    yield
    request_started.disconnect(started)
    request_finished.disconnect(finished)


def test_a_response_arrives_whole_with_its_headers_and_cookies() -> None:
    handler = SyncChainASGIHandler(workers=2)

    status, headers, body = asyncio.run(call(handler, "/plain/?q=hello"))

    assert status == 200
    assert body == b'{"ok": true, "query": "hello"}'
    assert headers[b"x-extra"] == [b"yes"]
    assert any(cookie.startswith(b"flavour=oat") for cookie in headers[b"set-cookie"])
    assert headers[b"content-type"] == [b"application/json"]


def test_the_request_its_view_and_its_end_run_on_one_worker_thread() -> None:
    handler = SyncChainASGIHandler(workers=2)

    asyncio.run(call(handler, "/plain/"))

    kinds = [kind for kind, _ in seen]
    assert kinds == ["started", "view", "finished"]
    assert len({thread for _, thread in seen}) == 1
    assert seen[0][1] != threading.get_ident()  # not the event loop's thread


def test_a_streamed_body_is_produced_and_closed_on_the_thread_of_its_request() -> None:
    handler = SyncChainASGIHandler(workers=2)

    status, _, body = asyncio.run(call(handler, "/streamed/"))

    assert status == 200
    assert body == b"part0;part1;part2;"
    assert [kind for kind, _ in seen] == ["started", "part", "part", "part", "finished"]
    assert len({thread for _, thread in seen}) == 1


def test_a_body_sent_in_pieces_reaches_the_view() -> None:
    handler = SyncChainASGIHandler(workers=1)

    status, _, body = asyncio.run(call(handler, "/echo/", method="POST", body=b"abcdef"))

    assert (status, body) == (200, b"fedcba")


def test_concurrent_requests_share_the_bounded_workers() -> None:
    handler = SyncChainASGIHandler(workers=2)

    async def run() -> list[int]:
        requests = [asyncio.create_task(call(handler, "/slow/")) for _ in range(6)]
        # Wait (generously) until both workers are busy, then release everyone.
        for _ in range(3000):
            if sum(kind == "slow" for kind, _ in seen) >= 2:
                break
            await asyncio.sleep(0.01)
        running = sum(kind == "slow" for kind, _ in seen)
        gate.set()
        results = await asyncio.gather(*requests)
        assert all(status == 200 for status, _, _ in results)
        return [running]

    (running,) = asyncio.run(run())

    assert running == 2  # the other four waited for a worker
    assert len({thread for kind, thread in seen if kind == "slow"}) == 2


@pytest.mark.django_db(transaction=True)
def test_between_requests_a_worker_keeps_its_connection_or_returns_it_to_the_pool() -> None:
    handler = SyncChainASGIHandler(workers=1)
    (worker,) = handler._workers

    def held() -> bool:
        return connection.connection is not None

    status, _, _ = asyncio.run(call(handler, "/database/"))
    still_held = worker.executor.submit(held).result()
    handler.close_connections()

    assert status == 200
    pooled = bool(connection.settings_dict["OPTIONS"].get("pool"))
    kept = not pooled and connection.settings_dict["CONN_MAX_AGE"] != 0
    # SQLite (the embedded default, CONN_MAX_AGE > 0): kept for the next request on this
    # thread. PostgreSQL: closed, or back in psycopg's pool (DATABASE_POOL=1), on the thread
    # that used it, when the request finished.
    assert still_held is kept
    assert worker.executor.submit(held).result() is False  # closed by close_connections()
