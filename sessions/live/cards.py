"""What the live monitor shows per call: one card, built here only.

The page renders its first cards from `monitor_card` (embedded as JSON) and the browser asks
`live_monitor_card` for the same dict when a call it has not seen sends an event over the
websocket, so every card is drawn by one function in `live_monitor.js` from one shape: contact
name and masked number, campaign name or "Test call", status label, when it started (the page
ticks the elapsed time), last turn and the last reply's latency, and the session page's link.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from sessions.models import (
    TERMINAL_CALL_STATUSES,
    CallSession,
    CallStatus,
    SessionKind,
    TranscriptTurn,
)

# The pipeline's "status" events use call statuses, plus "ended" when the conversation closes.
STATUS_LABELS: dict[str, str] = {
    **{status.value: str(status.label) for status in CallStatus},
    "ended": "Ended",
}
# How far a call got (`CallStatus` is declared in that order): events can arrive out of order
# (the stream's "in progress" before the carrier's "ringing" callback), and a card never moves
# back.
STATUS_ORDER: list[str] = [status.value for status in CallStatus] + ["ended"]
# A card with one of these leaves the page (after a short fade).
FINISHED_STATUSES: list[str] = sorted({*map(str, TERMINAL_CALL_STATUSES), "ended"})
LAST_TURNS = 50


def mask_number(number: str) -> str:
    """`+1 ••• ••• 4567`: the country code and the last four digits, enough to tell calls apart
    on a shared screen without showing whole numbers."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 6:
        return "•••"
    # E.164 country codes are 1-3 digits; "+1" covers the demo's NANP numbers, others show
    # their first digit (a display hint, not a parse).
    country = "1" if digits.startswith("1") else digits[:2]
    return f"+{country} ••• ••• {digits[-4:]}"


def contact_name(session: CallSession) -> str:
    variables = session.variables or {}
    name = " ".join(
        str(variables.get(key, "")).strip() for key in ("first_name", "last_name")
    ).strip()
    contact = session.contact if session.contact_id is not None else None
    if not name and contact is not None:
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part).strip()
    return name or "Unknown contact"


def reply_latency_ms(turns: list[TranscriptTurn]) -> float | None:
    """The last agent reply's time from the caller's last word to its first frame sent."""
    for turn in reversed(turns):
        latency = turn.latency or {}
        if turn.speaker == "agent" and latency.get("since") == "speech_end":
            value = latency.get("first_frame_ms")
            if isinstance(value, int | float):
                return round(float(value))
    return None


def turn_line(turn: TranscriptTurn) -> dict[str, Any]:
    """The websocket's turn message shape (`sessions.live.consumer.turn_message`), so the page
    draws stored and live turns with the same code."""
    return {
        "index": turn.index,
        "speaker": turn.speaker,
        "text": turn.text,
        "startMs": turn.start_ms,
        "interrupted": turn.interrupted,
        "recognized": turn.recognized,
        "latency": turn.latency or {},
    }


def monitor_card(session: CallSession) -> dict[str, Any]:
    turns = sorted(session.turns.all(), key=lambda turn: (turn.start_ms, turn.index))
    started = session.answered_at or session.placed_at or session.queued_at
    if session.kind == SessionKind.TEST:
        campaign = "Test call"
    else:
        campaign = session.campaign.name if session.campaign is not None else "No campaign"
    return {
        "sessionId": session.pk,
        "url": reverse("admin:call_sessions_callsession_change", args=[session.pk]),
        "contactName": contact_name(session),
        "maskedNumber": mask_number(session.to_number),
        "campaign": campaign,
        "test": session.kind == SessionKind.TEST,
        "status": session.status,
        "statusLabel": STATUS_LABELS.get(session.status, session.status),
        "startedAt": started.isoformat() if started else None,
        "answered": session.answered_at is not None,
        "turns": [turn_line(turn) for turn in turns[-LAST_TURNS:]],
        "replyLatencyMs": reply_latency_ms(turns),
    }


def live_sessions(queryset: QuerySet[CallSession]) -> QuerySet[CallSession]:
    """Unfinished calls of an (already scoped) queryset, with what their cards read."""
    return (
        queryset.exclude(status__in=TERMINAL_CALL_STATUSES)
        .select_related("campaign", "contact")
        .prefetch_related(Prefetch("turns", queryset=TranscriptTurn.objects.order_by("index")))
        .order_by("-id")
    )
