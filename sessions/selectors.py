"""Reads for call sessions: the scoped list every listing starts from, transcripts, events."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, F, IntegerField, Max, Min, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from anvil_voice.accounts.models import Organization
from anvil_voice.api.search import phone_search_digits
from sessions.models import (
    LIVE_CALL_STATUSES,
    CallbackStatus,
    CallEvent,
    CallSession,
    ConversationState,
    ScheduledCallback,
    TranscriptTurn,
    Transfer,
)


def session_list(*, organization: Organization | None = None) -> QuerySet[CallSession]:
    """Sessions with what a list row needs; scoped when an organization is given.

    The API's base viewset adds the organization filter itself, so views pass none.
    """
    queryset = CallSession.objects.all()
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    return queryset


def session_with_duration_key(queryset: QuerySet[CallSession]) -> QuerySet[CallSession]:
    """Adds `duration_key`, the keyset-friendly duration: unfinished calls sort as 0 s."""
    return queryset.annotate(
        duration_key=Coalesce(F("duration_seconds"), Value(0), output_field=IntegerField())
    )


def session_detail_queryset() -> QuerySet[CallSession]:
    return CallSession.objects.select_related("script_version", "script_version__script")


def session_search(queryset: QuerySet[CallSession], text: str) -> QuerySet[CallSession]:
    """Sessions with a turn containing `text` (EXISTS, so a session matching twice is one row),
    or, when `text` is a phone number or part of one, whose number holds its digits."""
    turns = TranscriptTurn.objects.filter(session=OuterRef("pk"), text__icontains=text)
    matches = Q(Exists(turns))
    if digits := phone_search_digits(text):
        matches |= Q(to_number__contains=digits)
    return queryset.filter(matches)


def session_turns(*, session: CallSession) -> list[TranscriptTurn]:
    """The session's turns as they were spoken: by start time (speakers overlap, and a turn is
    numbered when it ends), then by number."""
    return list(TranscriptTurn.objects.filter(session=session).order_by("start_ms", "index"))


# The engine's tool-call events, stored with the conversation's other engine events when it
# closes (`sessions.live.conversation.session_conversation_close`).
TOOL_CALL_EVENT = "engine.tool_called"


def session_transfers(*, session: CallSession) -> list[Transfer]:
    """The session's transfers to a person, oldest first."""
    return list(Transfer.objects.filter(session=session).order_by("id"))


def session_tool_calls(*, session: CallSession) -> list[dict[str, Any]]:
    """Every tool the agent called on the call, in order: name, kind, arguments, the result or
    the error, and how long it took. ``turn`` is the agent's turn (0 the opening, then one
    per thing the contact said)."""
    calls = []
    for event in CallEvent.objects.filter(session=session, kind=TOOL_CALL_EVENT).order_by("id"):
        data = event.data or {}
        calls.append(
            {
                "id": str(data.get("id", "")),
                "turn": data.get("turn"),
                "name": str(data.get("name", "")),
                "kind": str(data.get("tool_kind", "")),
                "arguments": data.get("arguments") or {},
                "ok": bool(data.get("ok", True)),
                "result": data.get("result"),
                "error": str(data.get("error", "")),
                "latencyMs": data.get("latency_ms"),
                "at": event.at,
            }
        )
    return calls


def session_events_summary(*, session: CallSession) -> dict[str, Any]:
    """How many events of each kind, and when the first and last happened."""
    events = CallEvent.objects.filter(session=session)
    by_kind = {
        row["kind"]: row["count"]
        for row in events.values("kind").annotate(count=Count("id")).order_by("kind")
    }
    bounds = events.aggregate(first_at=Min("at"), last_at=Max("at"))
    return {
        "total": sum(by_kind.values()),
        "byKind": by_kind,
        "firstAt": bounds["first_at"],
        "lastAt": bounds["last_at"],
    }


# --- Scheduled callbacks -----------------------------------------------------------------
def callback_pending_for_contact(*, campaign_id: int, contact_id: int) -> ScheduledCallback | None:
    return ScheduledCallback.objects.filter(
        campaign_id=campaign_id, contact_id=contact_id, status=CallbackStatus.PENDING
    ).first()


def callback_latest_for(*, session: CallSession) -> ScheduledCallback | None:
    """The newest callback scheduled from `session` (any status), or None."""
    return ScheduledCallback.objects.filter(source_session=session).order_by("-id").first()


def sessions_with_callback_scheduled(
    queryset: QuerySet[CallSession], scheduled: bool
) -> QuerySet[CallSession]:
    """`?callbackScheduled=`: a callback is pending from the session (a `ScheduledCallback`),
    whoever asked for it: a person, or the callee on the call (the outcome handler schedules
    those). The engine's `extracted["callback_at"]` alone is not enough: the request may have
    been refused (do-not-call, a test call), cancelled or placed already."""
    pending = ScheduledCallback.objects.filter(
        source_session=OuterRef("pk"), status=CallbackStatus.PENDING
    )
    return queryset.filter(Exists(pending)) if scheduled else queryset.exclude(Exists(pending))


def live_call_count() -> int:
    """Calls holding (or about to hold) speech right now, across every organization: sessions
    in a live status, and finished ones whose conversation is still closing (the pipeline
    still runs for a few seconds after a hang-up: `CALL_HANGUP_GRACE_SECONDS`)."""
    return CallSession.objects.filter(
        Q(status__in=LIVE_CALL_STATUSES) | Q(conversation_state=ConversationState.OPEN)
    ).count()
