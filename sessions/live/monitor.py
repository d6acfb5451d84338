"""The live monitor's websocket: staff members watch their organization's calls as they happen.

Authentication is the admin's Django session (AuthMiddlewareStack); the browser's Origin must be
one of ALLOWED_HOSTS so another site cannot open it with the user's cookie.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from anvil_voice.accounts.selectors import membership_for
from sessions.live.groups import organization_group

FORBIDDEN = 4403


def _origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return False
    host = urlparse(origin).hostname or ""
    return validate_host(host, settings.ALLOWED_HOSTS)


@database_sync_to_async
def _organization_id_for(user: Any, slug: str | None) -> int | None:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_staff", False):
        return None
    membership = membership_for(user=user, organization_slug=slug)
    return membership.organization_id if membership else None


class LiveMonitorConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        if not _origin_allowed(self.scope):
            await self.close(code=FORBIDDEN)
            return
        query = dict(
            part.split("=", 1)
            for part in self.scope.get("query_string", b"").decode().split("&")
            if "=" in part
        )
        organization_id = await _organization_id_for(
            self.scope.get("user"), query.get("organization")
        )
        if organization_id is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = organization_group(organization_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "subscribed", "organizationId": organization_id})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The monitor only listens: what the page sends is ignored unread (parsing it as JSON
        let 400 000 nested "[" kill the socket with RecursionError)."""

    async def call_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
