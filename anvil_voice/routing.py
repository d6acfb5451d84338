"""Websocket routes (Twilio Media Streams, the live monitor)."""

from typing import Any

from sessions.routing import websocket_urlpatterns as session_websocket_urlpatterns

websocket_urlpatterns: list[Any] = [*session_websocket_urlpatterns]
