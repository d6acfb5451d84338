"""Websocket routes of call sessions: Twilio's Media Stream, one per answered call."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from sessions.live_call import LiveCallConsumer

# The token is `secrets.token_urlsafe(32)`; the pattern only keeps junk out of the lookup.
websocket_urlpatterns: list[Any] = [
    re_path(
        r"^ws/twilio/media/(?P<token>[A-Za-z0-9_-]{16,64})/$",
        LiveCallConsumer.as_asgi(),
        name="twilio-media-stream",
    ),
]
