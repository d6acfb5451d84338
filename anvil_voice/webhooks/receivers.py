"""Turns domain signals into customer webhook events."""

from __future__ import annotations

from typing import Any

from anvil_voice.webhooks.models import WebhookEvent
from anvil_voice.webhooks.services import webhook_emit


def session_completed_payload(session: Any) -> dict[str, Any]:
    from sessions.api.serializers import SessionSerializer

    return {
        **SessionSerializer(session).data,
        "summary": session.summary,
        "extracted": session.extracted,
    }


def on_session_finished(sender: Any, session: Any, **kwargs: Any) -> None:
    webhook_emit(
        organization=session.organization,
        event=WebhookEvent.SESSION_COMPLETED,
        payload=session_completed_payload(session),
    )
