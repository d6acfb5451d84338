"""The standard 200/min limit, counted with django-ratelimit on the shared cache.

Counted per API key, per user for session auth and per client IP otherwise (behind the
trusted proxies `TRUSTED_PROXY_COUNT` names, the address they saw), so two web processes
sharing Redis enforce one limit. An authenticated request also counts against its
organization's budget (`API_ORGANIZATION_RATE_LIMIT`, 200/min by default): issuing more keys
buys no more requests (issue 15, item 15). It is a DRF throttle so the 429 flows through the
envelope exception handler with `Retry-After`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from anvil_voice.accounts.principal import Principal
from anvil_voice.api.client_address import client_ip

RATE_LIMIT_GROUP = "api-v1"
ORGANIZATION_RATE_LIMIT_GROUP = "api-v1-organization"


def rate_limit_key(group: str, request: HttpRequest) -> str:
    principal = getattr(request, "anvil_principal", None)
    if isinstance(principal, Principal):
        return principal.rate_limit_key
    return f"ip:{client_ip(request)}"


def organization_rate_limit_key(group: str, request: HttpRequest) -> str:
    principal: Principal = request.anvil_principal  # type: ignore[attr-defined]
    return f"org:{principal.organization.pk}"


class ApiRateLimit(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if getattr(view, "rate_limit_exempt", False):
            return True
        django_request = request._request
        # Authentication has run by now (DRF throttles after it); hand the principal to the key
        # function, which only sees the Django request.
        django_request.anvil_principal = request.auth  # type: ignore[attr-defined]
        if self._limited(django_request, RATE_LIMIT_GROUP, rate_limit_key, settings.API_RATE_LIMIT):
            return False
        # The organization's budget is spent only by requests the key's own limit let through,
        # so a key refused for its own excess does not also drain its siblings' budget.
        return not (
            isinstance(request.auth, Principal)
            and self._limited(
                django_request,
                ORGANIZATION_RATE_LIMIT_GROUP,
                organization_rate_limit_key,
                settings.API_ORGANIZATION_RATE_LIMIT,
            )
        )

    def _limited(self, request: HttpRequest, group: str, key: Any, rate: str) -> bool:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
        if usage is None or not usage["should_limit"]:
            return False
        self._wait = max(1, usage["time_left"])
        return True

    def wait(self) -> float | None:
        return self._wait
