"""Every websocket route: Twilio's Media Stream (one per answered call) and the live monitor."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from sessions.live.consumer import LiveCallConsumer
from sessions.live.monitor import LiveMonitorConsumer

websocket_urlpatterns: list[Any] = [
    # The token is `secrets.token_urlsafe(32)`; the pattern only keeps junk out of the lookup.
    re_path(
        r"^ws/twilio/media/(?P<token>[A-Za-z0-9_-]{16,64})/$",
        LiveCallConsumer.as_asgi(),
        name="twilio-media-stream",
    ),
    re_path(r"^ws/monitor/$", LiveMonitorConsumer.as_asgi(), name="live-monitor-socket"),
]
