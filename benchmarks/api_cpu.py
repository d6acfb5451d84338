"""Benchmark: server CPU per API request, in process, against bare views in the same run.

`uv run python -m benchmarks.api_cpu [--quick] [--requests N] [--rounds R]
[--handler asgi|django-asgi|wsgi|all]`

Seeds one organization like a small real tenant (50 voices, 20 scripts, 10 campaigns, 200
sessions, some with a scheduled callback) and an API key, then sends requests through Django's
own handlers with no network: the ASGI handler (what Daphne and Uvicorn call) through
`AsyncClient`, and the WSGI handler through `Client`. The figure is process CPU time (every
thread: the ASGI handler's sync-to-async hops run in executor threads) per request, so the shared
box's load mostly cancels out; each endpoint is measured in R rounds, the handlers interleaved,
and the least disturbed (minimum) round is kept. Baselines in the same run: a bare Django
`JsonResponse` view and a bare DRF `APIView`, both routed beside the real API with no
authentication.

Issue 18's targets: `/voices` ≤ 25 times the bare Django view, `/sessions?limit=50` ≤ 50 times.
Runs on the embedded default (SQLite) unless DATABASE_URL points at PostgreSQL, where a
throw-away `bench_api_cpu` database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from benchmarks.support import api_key_for, setup_bench_environment, teardown_bench_environment

DATABASE = "bench_api_cpu"
ENDPOINTS = {
    "bare django": "/bare/django/",
    "bare drf": "/bare/drf/",
    "voices": "/api/v1/voice/voices",
    "scripts": "/api/v1/voice/scripts",
    "campaigns": "/api/v1/voice/campaigns",
    "sessions?limit=50": "/api/v1/voice/sessions?limit=50",
}


def bare_django(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"success": True, "data": {"ok": True}})


def _bare_drf() -> Callable[..., Any]:
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Bare(APIView):
        authentication_classes: list[Any] = []
        permission_classes: list[Any] = []

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    return Bare.as_view()


# This module is the benchmark's URLconf: the bare views beside the whole product.
urlpatterns: list[Any] = []


def _install_urls() -> None:
    from django.conf import settings
    from django.urls import clear_url_caches

    urlpatterns[:] = [
        path("bare/django/", bare_django),
        path("bare/drf/", _bare_drf()),
        path("", include("anvil_voice.urls")),
    ]
    settings.ROOT_URLCONF = __name__
    clear_url_caches()


def seed() -> str:
    from django.utils import timezone

    from anvil_voice.accounts.factories import OrganizationFactory
    from campaigns.factories import CampaignFactory, ContactFactory
    from scripts.factories import ScriptFactory
    from sessions.factories import CallSessionFactory
    from sessions.models import CallStatus, Outcome, ScheduledCallback
    from voices.factories import VoiceFactory

    organization = OrganizationFactory.create(slug="bench-api-cpu", name="Bench API CPU")
    voices = VoiceFactory.create_batch(50, organization=organization)
    scripts = ScriptFactory.create_batch(20, organization=organization)
    campaigns = [
        CampaignFactory.create(
            organization=organization, script=scripts[n], voice=voices[n], name=f"Campaign {n}"
        )
        for n in range(10)
    ]
    contacts = ContactFactory.create_batch(40, contact_list=campaigns[0].contact_list)
    now = timezone.now()
    for n in range(200):
        campaign = campaigns[n % len(campaigns)]
        contact = contacts[n % len(contacts)]
        session = CallSessionFactory.create(
            organization=organization,
            campaign=campaign,
            contact=contact,
            voice=campaign.voice,
            status=CallStatus.COMPLETED,
            outcome=Outcome.INTERESTED if n % 3 else Outcome.NOT_INTERESTED,
            answered_at=now - timedelta(minutes=n),
            duration_seconds=30 + n % 90,
        )
        if n % 7 == 0:
            ScheduledCallback.objects.create(
                organization=organization,
                source_session=session,
                campaign=campaign,
                contact=contact,
                at=now + timedelta(days=1, hours=n % 5),
                requested_at=now,
            )
    return api_key_for(organization)


def _wsgi_sampler(key: str) -> Callable[[str, int], float]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    wsgi = WSGIHandler()
    factory = RequestFactory()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        assert status.startswith("200"), status

    def sample(url: str, requests: int) -> float:
        environ = factory.get(url, headers={"Authorization": f"Bearer {key}"}).environ
        started = time.process_time()
        for _ in range(requests):
            response = wsgi(dict(environ), start_response)
            b"".join(response)
            response.close()
        return (time.process_time() - started) / requests * 1e6

    return sample


def _asgi_sampler(
    key: str, handler: str, loop: asyncio.AbstractEventLoop
) -> Callable[[str, int], float]:
    """Calls the ASGI app as a server does: scope, receive, send (no test client)."""
    from django.core.handlers.asgi import ASGIHandler

    from anvil_voice.http_handler import SyncChainASGIHandler

    asgi = ASGIHandler() if handler == "django-asgi" else SyncChainASGIHandler()

    async def get(url: str) -> None:
        route, _, query = url.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": route,
            "raw_path": route.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {key}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        body_sent = False
        done = asyncio.Event()
        status = 0

        async def receive() -> Mapping[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # the client stays connected until the response is read
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif not message.get("more_body"):
                done.set()

        await asgi(scope, receive, send)
        assert status == 200, (url, status)

    async def batch(url: str, requests: int) -> float:
        started = time.process_time()
        for _ in range(requests):
            await get(url)
        return (time.process_time() - started) / requests * 1e6

    def sample(url: str, requests: int) -> float:
        return loop.run_until_complete(batch(url, requests))

    return sample


def measure(
    *, handlers: tuple[str, ...], key: str, requests: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Median CPU µs per request for each handler and endpoint, the handlers interleaved in
    every round so that a busy moment of the shared box lands on all of them."""
    loop = asyncio.new_event_loop()
    samplers = {
        handler: _wsgi_sampler(key) if handler == "wsgi" else _asgi_sampler(key, handler, loop)
        for handler in handlers
    }
    samples: dict[str, dict[str, list[float]]] = {
        handler: {name: [] for name in ENDPOINTS} for handler in handlers
    }
    try:
        for _ in range(rounds):
            for name, url in ENDPOINTS.items():
                for handler, sample in samplers.items():
                    sample(url, 1)  # warm
                    samples[handler][name].append(sample(url, requests))
    finally:
        loop.close()
    # The least disturbed round: other work on the shared box only ever adds CPU time (cache
    # misses, frequency), so the minimum is the closest to what the request itself costs.
    return {
        handler: {name: min(values) for name, values in figures.items()}
        for handler, figures in samples.items()
    }


HANDLERS = {
    "asgi": "ours: SyncChainASGIHandler (anvil_voice/http_handler.py), what the servers run",
    "django-asgi": "Django's ASGIHandler (before issue 18)",
    "wsgi": "Django's WSGIHandler (the reference: Django with no ASGI cost)",
}


def report(handler: str, figures: dict[str, float], reference: float | None) -> None:
    bare = figures["bare django"]
    print(f"\n{handler}: {HANDLERS[handler]} — CPU per request, best of rounds")
    print(f"{'endpoint':<20}{'µs':>10}{'x bare (same handler)':>24}{'x bare WSGI':>14}")
    for name, value in figures.items():
        versus = f"{value / reference:>14.1f}" if reference else f"{'':>14}"
        print(f"{name:<20}{value:>10.0f}{value / bare:>24.1f}{versus}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few requests (smoke test)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--handler", choices=(*HANDLERS, "all"), default="all")
    args = parser.parse_args(argv)
    requests, rounds = (5, 1) if args.quick else (args.requests, args.rounds)
    admin_url, _ = setup_bench_environment(database=DATABASE, reuse=False)
    try:
        _install_urls()
        key = seed()
        handlers = ("wsgi", "django-asgi", "asgi") if args.handler == "all" else (args.handler,)
        from django.db import connection

        print(f"database: {connection.vendor}; {requests} requests x {rounds} rounds")
        results = measure(handlers=handlers, key=key, requests=requests, rounds=rounds)
        reference = results["wsgi"]["bare django"] if "wsgi" in results else None
        for handler, figures in results.items():
            report(handler, figures, reference)
    finally:
        teardown_bench_environment(admin_url=admin_url, database=DATABASE, keep=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
