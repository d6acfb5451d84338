"""Everything under /api/v1/voice/: resources, schema, docs (Swagger UI, ReDoc), health, and a
404 catch-all."""

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from anvil_voice.api.health import HealthView, LiveView
from anvil_voice.api.middleware import api_not_found

# The docs pages may load nothing from another origin. Their own assets are local (sidecar), but
# ReDoc's bundle always shows a "Redocly" logo from cdn.redoc.ly: the browser blocks it (the
# image hides itself when it fails). Inline script and style: Swagger UI's page is built so.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def same_origin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response

    return wrapped


urlpatterns = [
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^live/?$", LiveView.as_view(), name="live"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        same_origin_only(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "redoc/",
        # Our template drops drf-spectacular's Google Fonts links (offline, one origin).
        same_origin_only(
            SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html")
        ),
        name="redoc",
    ),
    path("", include("anvil_voice.routes")),
    # [\s\S]: an id with a newline in it must land here too, not on Django's HTML 404.
    re_path(r"^[\s\S]*$", api_not_found),
]
