"""ASGI entry point: HTTP through Django, websockets through Channels routing."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
# Django must be set up before anything imports models (the websocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from sessions.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session middleware only reads the admin's cookie for the live monitor; Twilio's
        # media stream authenticates by signature and token, never by cookie.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
