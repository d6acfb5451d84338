"""Every websocket route: Twilio's Media Stream (one per answered call), the live monitor and
its listen-in socket.

The stream's consumer is `settings.MEDIA_STREAM_CONSUMER` (the live speech pipeline,
`LiveCallConsumer`, unless a deployment or a benchmark names a subclass of it).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import re_path
from django.utils.module_loading import import_string

from sessions.live.listen import ListenConsumer
from sessions.live.media_stream import MediaStreamConsumer
from sessions.live.monitor import LiveMonitorConsumer

# The token is `secrets.token_urlsafe(32)`; the pattern only keeps junk out of the lookup.
MEDIA_STREAM_PATH = r"^ws/twilio/media/(?P<token>[A-Za-z0-9_-]{16,64})/$"


def media_stream_consumer() -> type[MediaStreamConsumer]:
    """The Media Stream consumer class `settings.MEDIA_STREAM_CONSUMER` names."""
    consumer = import_string(settings.MEDIA_STREAM_CONSUMER)
    if not (isinstance(consumer, type) and issubclass(consumer, MediaStreamConsumer)):
        raise ImproperlyConfigured(
            f"MEDIA_STREAM_CONSUMER={settings.MEDIA_STREAM_CONSUMER!r} is not a "
            "sessions.live.media_stream.MediaStreamConsumer"
        )
    return consumer


websocket_urlpatterns: list[Any] = [
    re_path(MEDIA_STREAM_PATH, media_stream_consumer().as_asgi(), name="twilio-media-stream"),
    re_path(r"^ws/monitor/$", LiveMonitorConsumer.as_asgi(), name="live-monitor-socket"),
    re_path(
        r"^ws/monitor/listen/(?P<session_id>[0-9]{1,18})/$",
        ListenConsumer.as_asgi(),
        name="live-monitor-listen",
    ),
]
