"""`GET /api/v1/voice/health`: can this process reach what it needs? (readiness)

`GET /api/v1/voice/live`: is this process serving at all? (liveness: no I/O, so a database or
Redis outage never makes an orchestrator restart every healthy web process at once; the load
balancer takes a process out of rotation on `health`, docs/operations.md.)
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.errors import ErrorCode, error_body
from anvil_voice.api.schema import error_response
from anvil_voice.api.views import ApiView

logger = logging.getLogger("anvil_voice.health")


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "health.ping":
            raise RuntimeError("channel layer returned another message")

    async_to_sync(round_trip)()


def check_broker() -> None:
    from anvil_voice.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "channelLayer": check_channel_layer,
    "broker": check_broker,
}


def run_checks() -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure means "unreachable"
            logger.warning("health_check_failed component=%s error=%s", name, type(exc).__name__)
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results


class HealthView(ApiView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    # Never limited: load balancers and monitors poll it from addresses that may share a bucket
    # with anyone's failed authentications, and a 429 there would take a healthy server out.
    rate_limit_exempt = True

    @extend_schema(
        auth=[],
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(),
                    "components": serializers.DictField(child=serializers.DictField()),
                },
            ),
            503: error_response(
                "SERVICE_UNAVAILABLE: a component is down; error.details.components says which."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        components = run_checks()
        if all(result["ok"] for result in components.values()):
            return Response({"status": "ok", "components": components})
        body = error_body(
            ErrorCode.SERVICE_UNAVAILABLE,
            "One or more components are unreachable.",
            {"components": components},
        )
        response = Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response.enveloped = True  # type: ignore[attr-defined]
        return response


class LiveView(ApiView):
    """Answers as long as the process serves requests; touches nothing outside it."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    rate_limit_exempt = True  # polled by orchestrators, as `health` is

    @extend_schema(
        auth=[],
        responses={200: inline_serializer("Live", {"status": serializers.CharField()})},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
