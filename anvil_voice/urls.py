from django.contrib import admin
from django.urls import include, path

from sessions.live.monitor_page import live_monitor

urlpatterns = [
    path("admin/live/", live_monitor, name="live-monitor"),
    path("admin/", admin.site.urls),
    path("api/v1/voice/", include(("anvil_voice.api.urls", "api"), namespace="api")),
    path("telephony/", include("sessions.carrier.urls")),
]
