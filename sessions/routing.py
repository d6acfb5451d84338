"""Websocket routes of call sessions: Twilio's Media Stream, one per answered call."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from sessions.consumers import MediaStreamConsumer

# The token is `secrets.token_urlsafe(32)`; the pattern only keeps junk out of the lookup.
websocket_urlpatterns: list[Any] = [
    re_path(
        r"^ws/twilio/media/(?P<token>[A-Za-z0-9_-]{16,64})/$",
        MediaStreamConsumer.as_asgi(),
        name="twilio-media-stream",
    ),
]
