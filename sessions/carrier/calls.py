"""A session as the carrier sees it: the carrier-neutral `OutboundCall` built from the model.

Telephony never imports the product apps, so the carrier protocol takes an `OutboundCall`;
this is where a session (and its campaign's recording and voicemail choices) becomes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from anvil_voice.telephony.carrier import HeldElsewhere, OutboundCall
from scripts.engine.placeholders import render
from sessions.models import CallSession, SessionKind

# `campaigns.VoicemailBehaviour.HANG_UP`: sessions never import campaigns (one direction only).
HANG_UP_ON_MACHINES = "hang_up"
LEAVE_MESSAGE_ON_MACHINES = "leave_message"


class RecordingMode(StrEnum):
    """How a call records (`sessions.carrier.recording` has the whole story)."""

    NONE = "none"  # campaigns that do not record; test calls asked not to
    FROM_ANSWER = "from_answer"  # the carrier records from the answer: no disclosure required
    AFTER_DISCLOSURE = "after_disclosure"  # recorded only once the disclosure was heard


@dataclass(frozen=True, slots=True)
class RecordingPlan:
    mode: RecordingMode
    disclosure_text: str = ""  # as this contact hears it (placeholders filled)


def recording_plan(session: CallSession) -> RecordingPlan:
    """How `session`'s call records: never (campaigns that do not record, test calls asked not
    to), from the answer, or only after its script's disclosure was heard. A test call that
    records follows its script's disclosure rule exactly as a campaign call does."""
    campaign = session.campaign
    if campaign is not None:
        records = campaign.record_calls
    else:
        records = session.kind == SessionKind.TEST and session.test_call_recorded
    if not records:
        return RecordingPlan(RecordingMode.NONE)
    snapshot = session.script_version.snapshot if session.script_version is not None else {}
    if not snapshot.get("recording_disclosure_required"):
        return RecordingPlan(RecordingMode.FROM_ANSWER)
    # Required with no text cannot be saved; were it to happen, nothing is said, so nothing is
    # recorded (never a recording without the disclosure it requires).
    text = str(snapshot.get("recording_disclosure") or "").strip()
    # The same values the agent's lines are rendered with (`session_conversation_open`).
    variables = {"business_name": session.organization.name, **(session.variables or {})}
    return RecordingPlan(RecordingMode.AFTER_DISCLOSURE, render(text, variables) if text else "")


class RehearsalNeverDials(RuntimeError):
    """A campaign rehearsal's session reached a carrier path: a bug, never a call."""


def outbound_call(session: CallSession) -> OutboundCall:
    if session.rehearsal_id is not None:
        # Every carrier request (place, cancel, hang up, look up) is built here: a rehearsal's
        # simulated call can never become a real one, whatever finds it (issue 19).
        raise RehearsalNeverDials(f"session {session.pk} is a rehearsal's and is never dialled")
    # Test calls have no campaign: recorded when asked (`recording_plan`), hang up on machines.
    campaign = session.campaign
    return OutboundCall(
        reference=session.pk,
        token=session.token,
        to_number=session.to_number,
        from_number=session.from_number,
        # A disclosure first: the call is placed unrecorded and recording starts after it.
        record=recording_plan(session).mode is RecordingMode.FROM_ANSWER,
        leave_voicemail_message=(
            campaign is not None and campaign.voicemail_behaviour == LEAVE_MESSAGE_ON_MACHINES
        ),
        placed_at=session.placed_at,
        call_sid=session.carrier_call_sid or "",
    )


def held_by_other_sessions(session: CallSession) -> HeldElsewhere:
    """For `Carrier.find_call`: which of these call ids other sessions already hold."""

    def held(sids: Sequence[str]) -> set[str]:
        found = (
            CallSession.objects.filter(carrier_call_sid__in=list(sids))
            .exclude(pk=session.pk)
            .values_list("carrier_call_sid", flat=True)
        )
        return {sid for sid in found if sid}

    return held
