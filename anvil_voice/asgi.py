"""ASGI entry point: HTTP through Django, websockets through Channels routing."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
# Django must be set up before anything imports models (the websocket routes do).
django.setup(set_prefix=False)

from anvil_voice.http_handler import SyncChainASGIHandler  # noqa: E402

# HTTP in one thread hop per request (not Django's async-mode middleware chain): see
# anvil_voice/http_handler.py and docs/benchmarks.md "API CPU per request".
django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from sessions.live.routing import WebsocketRouter  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session middleware only reads the admin's cookie for the live monitor; Twilio's
        # media stream authenticates by signature and token, never by cookie, and skips it.
        "websocket": WebsocketRouter(),
    }
)
