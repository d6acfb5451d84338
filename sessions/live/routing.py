"""Every websocket route: Twilio's Media Stream (one per answered call), the live monitor and
its listen-in socket.

The stream's consumer is `settings.MEDIA_STREAM_CONSUMER` (the live speech pipeline,
`LiveCallConsumer`, unless a deployment or a benchmark names a subclass of it).
"""

from __future__ import annotations

import re
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
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


media_stream_urlpatterns: list[Any] = [
    re_path(MEDIA_STREAM_PATH, media_stream_consumer().as_asgi(), name="twilio-media-stream"),
]
# The pages' sockets: the admin's session cookie says who is watching.
monitor_urlpatterns: list[Any] = [
    re_path(r"^ws/monitor/$", LiveMonitorConsumer.as_asgi(), name="live-monitor-socket"),
    re_path(
        r"^ws/monitor/listen/(?P<session_id>[0-9]{1,18})/$",
        ListenConsumer.as_asgi(),
        name="live-monitor-listen",
    ),
]
websocket_urlpatterns: list[Any] = [*media_stream_urlpatterns, *monitor_urlpatterns]
_MEDIA_STREAM = re.compile(MEDIA_STREAM_PATH)


class WebsocketRouter:
    """Twilio's Media Stream straight to its consumer; every other socket through Channels'
    auth stack. The stream authenticates by Twilio's signature and the session's token, never
    by cookie, and the auth stack (session middleware, user lookup) was ~9 µs of every frame
    it wrapped (issue 18)."""

    def __init__(self) -> None:
        self.media = URLRouter(media_stream_urlpatterns)
        self.others = AuthMiddlewareStack(URLRouter(monitor_urlpatterns))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", "")).lstrip("/")
        app = self.media if _MEDIA_STREAM.match(path) else self.others
        await app(scope, receive, send)
