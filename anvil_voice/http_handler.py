"""HTTP over ASGI in one thread hop per request, on threads that keep their database connection.

Django's `ASGIHandler` runs its middleware chain in async mode: every sync middleware (ours,
WhiteNoise, Django's own), the sync view and the request signals' receivers each cross between
the event loop and a thread — 16 hops for one API request, about 2.5 ms of CPU even for a bare
view (issue 18, docs/benchmarks.md "API CPU per request") — and each request gets a fresh thread
(`ThreadSensitiveContext`), so a database connection can never outlive its request.

`SyncChainASGIHandler` reads the body on the event loop, then hands the whole request — the
`request_started` signal, the middleware chain loaded in sync mode, the view, and, for an
ordinary response, `close()` with its `request_finished` signal — to one worker thread in a
single hop, and sends the finished bytes from the loop. Each worker is a thread of its own
(a one-thread executor), so everything Django keeps per thread (the database connection, which
`close_old_connections` ages by `CONN_MAX_AGE` or returns to the pool) stays with the request that
used it: a streaming response is iterated and closed on the thread that produced it. A request
goes to the worker with the fewest requests in flight; the number of workers bounds the
connections a process holds (`HTTP_WORKER_THREADS`).

Websockets are untouched: Channels routes them (anvil_voice/asgi.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import connections
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
_DONE = object()


class _Worker:
    """One thread: the requests it serves share its database connection, one at a time."""

    def __init__(self, index: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"http-{index}")
        self.in_flight = 0

    async def run[T](self, function: Callable[..., T], *args: Any) -> T:
        # Through asgiref, not a bare run_in_executor: code in the request that goes back to
        # async (`async_to_sync`: the channel layer's group_send, the health check's round
        # trip) then runs on the server's own event loop, as under Django's handler, instead
        # of a throw-away loop per call (channels_redis refuses two loops receiving at once).
        call = sync_to_async(function, thread_sensitive=False, executor=self.executor)
        return await call(*args)


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self, *, workers: int | None = None) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        count = workers or settings.HTTP_WORKER_THREADS
        self._workers = [_Worker(n) for n in range(count)]
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    def _pick(self) -> _Worker:
        with self._lock:
            worker = min(self._workers, key=lambda w: w.in_flight)
            worker.in_flight += 1
            return worker

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        worker = self._pick()
        try:
            with body_file:
                response = await worker.run(self._respond, scope, body_file)
                try:
                    await self._send(response, send, worker)
                finally:
                    if response.streaming:
                        await worker.run(response.close)
        finally:
            with self._lock:
                worker.in_flight -= 1

    def _respond(self, scope: Scope, body_file: Any) -> HttpResponseBase:
        """On the worker thread: the request from its signal to (for a plain response) its close."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            response: HttpResponseBase = error_response
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: the connection is aged or returned here
        return response

    async def _send(self, response: HttpResponseBase, send: Send, worker: _Worker) -> None:
        headers = [
            (
                header.encode("ascii") if isinstance(header, str) else bytes(header),
                value.encode("latin1") if isinstance(value, str) else bytes(value),
            )
            for header, value in response.items()
        ]
        headers.extend(
            (b"Set-Cookie", cookie.OutputString().encode("ascii"))
            for cookie in response.cookies.values()
        )
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        if not response.streaming:
            for chunk, last in self.chunk_bytes(response.content):  # type: ignore[attr-defined]
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            return
        if getattr(response, "is_async", False):
            async for part in response:  # type: ignore[attr-defined]
                for chunk, _ in self.chunk_bytes(part):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body"})
            return
        # Streaming content (exports, recordings) is produced on the worker that owns the
        # request's connection, one part per hop: rare responses, so the hops do not matter.
        parts: Iterator[bytes] = iter(response)
        while (part := await worker.run(next, parts, _DONE)) is not _DONE:
            for chunk, _ in self.chunk_bytes(part):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})

    def close_connections(self) -> None:
        """Close every worker's database connections (a server's shutdown, a test's end)."""
        for worker in self._workers:
            worker.executor.submit(connections.close_all).result()
