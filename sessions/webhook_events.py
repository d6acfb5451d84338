"""A finished session becomes the customer's `session.completed` webhook event.

Here and not in `anvil_voice.webhooks`: the platform delivers events, the product says which."""

from __future__ import annotations

import logging
from typing import Any

from anvil_voice.webhooks.models import WebhookEvent
from anvil_voice.webhooks.services import webhook_emit
from sessions.api.serializers import SessionSerializer
from sessions.models import CallSession

logger = logging.getLogger("anvil_voice.webhooks")


def session_completed_payload(session: CallSession) -> dict[str, Any]:
    return {
        **SessionSerializer(session).data,
        "summary": session.summary,
        "extracted": session.extracted,
    }


def on_session_finished(sender: Any, session: CallSession, **kwargs: Any) -> None:
    # A customer's webhook must never break whoever finished the call (the telephony side).
    try:
        webhook_emit(
            organization=session.organization,
            event=WebhookEvent.SESSION_COMPLETED,
            payload=session_completed_payload(session),
        )
    except Exception:
        logger.exception("webhook_emit_failed event=session.completed session=%s", session.pk)
