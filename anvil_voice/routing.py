"""Websocket routes (Twilio Media Streams, the live monitor)."""

from typing import Any

websocket_urlpatterns: list[Any] = []
