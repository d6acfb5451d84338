"""Reads for a campaign's control room (issue 17): everything the page shows, as one snapshot.

The admin page renders the snapshot once and its script fetches it again as JSON (`<id>/
control-room/state/`) whenever the live monitor's websocket reports a call event, and every
few seconds regardless, so the page follows the campaign without a reload. The snapshot is
built from the campaign's counters (O(1)) plus its live calls (bounded by its concurrency) and
its last few finished calls: a million contacts cost no more than ten.

Tenant scoping is the caller's (the admin reads the campaign through its scoped queryset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from campaigns import next_dial, selectors
from campaigns.models import Campaign
from campaigns.phones import mask
from sessions.models import (
    LIVE_CALL_STATUSES,
    CallSession,
    CallStatus,
    Outcome,
    TranscriptTurn,
)

# Live calls listed at most (a campaign's concurrency is at most 500; the page shows the first).
LIVE_CALLS_SHOWN = 50
RECENT_CALLS_SHOWN = 10
TURN_TEXT_MAX = 200


@dataclass(frozen=True)
class RoomCall:
    """One call of the campaign as the control room lists it (never a full phone number)."""

    session_id: int
    contact_name: str
    number: str
    status: str
    status_label: str
    elapsed_seconds: int
    last_speaker: str
    last_text: str
    outcome: str
    outcome_label: str


def _with_last_turn(queryset: Any) -> Any:
    last = TranscriptTurn.objects.filter(session_id=OuterRef("pk")).order_by("-start_ms", "-index")
    return queryset.annotate(
        last_speaker=Subquery(last.values("speaker")[:1]),
        last_text=Subquery(last.values("text")[:1]),
    )


def _room_call(session: CallSession, *, now: datetime) -> RoomCall:
    contact = session.contact
    name = contact.full_name if contact is not None else ""
    # How long: since it was answered, else since it was placed (ringing), else queued.
    began = session.answered_at or session.placed_at or session.queued_at
    ended = session.ended_at or now
    text = getattr(session, "last_text", None) or ""
    if len(text) > TURN_TEXT_MAX:
        text = text[: TURN_TEXT_MAX - 1] + "…"
    return RoomCall(
        session_id=session.pk,
        contact_name=name or "Unnamed contact",
        number=mask(session.to_number),
        status=session.status,
        status_label=str(CallStatus(session.status).label),
        elapsed_seconds=max(0, int((ended - began).total_seconds())) if began else 0,
        last_speaker=getattr(session, "last_speaker", None) or "",
        last_text=text,
        outcome=session.outcome,
        outcome_label=str(Outcome(session.outcome).label) if session.outcome else "",
    )


def campaign_live_calls(*, campaign: Campaign, now: datetime) -> list[RoomCall]:
    sessions = _with_last_turn(
        CallSession.objects.filter(campaign=campaign, status__in=LIVE_CALL_STATUSES)
        .select_related("contact")
        .order_by("id")
    )[:LIVE_CALLS_SHOWN]
    return [_room_call(session, now=now) for session in sessions]


def campaign_recent_calls(*, campaign: Campaign, now: datetime) -> list[RoomCall]:
    sessions = _with_last_turn(
        CallSession.objects.filter(campaign=campaign)
        .exclude(status__in=LIVE_CALL_STATUSES)
        .select_related("contact")
        # Newest sessions first, not latest ended: the primary key's index read backwards
        # stops after a few rows (a running campaign's sessions are the newest), where an
        # order on ended_at would sort every session of a large campaign at each refresh.
        .order_by("-id")
    )[:RECENT_CALLS_SHOWN]
    return [_room_call(session, now=now) for session in sessions]


def control_room_snapshot(*, campaign: Campaign, now: datetime | None = None) -> dict[str, Any]:
    """What the control room shows now, JSON-ready (camelCase keys, like the API)."""
    moment = now or timezone.now()
    stats = selectors.campaign_stats(campaign)
    contacts = stats["contacts"]
    done = contacts["completed"] + contacts["failed"] + contacts["doNotCall"]
    done += contacts["exhausted"]
    line = next_dial.campaign_dialling_line(campaign, now=moment)
    local = line.next_dial if line is not None else None
    return {
        "campaignId": campaign.pk,
        "status": campaign.status,
        "statusLabel": str(campaign.get_status_display()),
        "progress": {
            "done": done,
            "pending": contacts["pending"],
            "inProgress": contacts["inProgress"],
            "total": contacts["total"],
            "percent": stats["progressPercent"],
        },
        "calls": stats["calls"],
        "outcomes": [
            asdict(item) for item in selectors.campaign_outcome_breakdown(campaign=campaign)
        ],
        "answerRatePercent": round(100 * stats["answerRate"], 1),
        "averageTalkSeconds": stats["talkTime"]["averageSeconds"],
        "dialling": {
            "state": line.state if line is not None else "idle",
            "reason": line.reason if line is not None else None,
            "text": line.text
            if line is not None
            else f"Not dialling: the campaign is {campaign.get_status_display().lower()}.",
            "nextDialLocal": (
                {"time": local.local.isoformat(), "timeZone": local.time_zone}
                if local is not None
                else None
            ),
        },
        "liveCalls": [
            _camel_call(call) for call in campaign_live_calls(campaign=campaign, now=moment)
        ],
        "recentCalls": [
            _camel_call(call) for call in campaign_recent_calls(campaign=campaign, now=moment)
        ],
        "at": moment.isoformat(),
    }


def _camel_call(call: RoomCall) -> dict[str, Any]:
    camel = {}
    for key, value in asdict(call).items():
        head, *rest = key.split("_")
        camel[head + "".join(part.title() for part in rest)] = value
    return camel
