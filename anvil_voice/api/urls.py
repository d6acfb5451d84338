"""Everything under /api/v1/voice/: resources, schema, docs (Swagger UI, ReDoc), health, and a
404 catch-all."""

from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from anvil_voice.api.health import HealthView
from anvil_voice.api.middleware import api_not_found

urlpatterns = [
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path(
        "redoc/",
        # Our template drops drf-spectacular's Google Fonts links (offline, one origin).
        SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    path("", include("anvil_voice.api.routes")),
    # [\s\S]: an id with a newline in it must land here too, not on Django's HTML 404.
    re_path(r"^[\s\S]*$", api_not_found),
]
