"""Live-call events on the channel layer, for the monitor page and any other subscriber.

Every event goes to three groups: the session's, its campaign's and its organization's. The
monitor subscribes to the organization group only, so one organization never sees another's
calls (groups are named by id and joined only after the membership check).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def session_group(session_id: int) -> str:
    return f"call-session.{session_id}"


def campaign_group(campaign_id: int) -> str:
    return f"call-campaign.{campaign_id}"


def organization_group(organization_id: int) -> str:
    return f"call-organization.{organization_id}"


def control_group(session_id: int) -> str:
    """Where the call's own consumer listens for instructions (not monitor events)."""
    return f"call-control.{session_id}"


def send_control(*, session_id: int, message: dict[str, Any]) -> None:
    """Tell the consumer holding `session_id`'s Media Stream something (from sync code)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(control_group(session_id), message)


def groups_for(*, organization_id: int, session_id: int, campaign_id: int | None) -> list[str]:
    groups = [session_group(session_id), organization_group(organization_id)]
    if campaign_id is not None:
        groups.append(campaign_group(campaign_id))
    return groups


async def abroadcast(
    *, organization_id: int, session_id: int, campaign_id: int | None, event: dict[str, Any]
) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "call.event", "event": {**event, "sessionId": session_id}}
    for group in groups_for(
        organization_id=organization_id, session_id=session_id, campaign_id=campaign_id
    ):
        await layer.group_send(group, message)


def broadcast(
    *, organization_id: int, session_id: int, campaign_id: int | None, event: dict[str, Any]
) -> None:
    async_to_sync(abroadcast)(
        organization_id=organization_id,
        session_id=session_id,
        campaign_id=campaign_id,
        event=event,
    )
