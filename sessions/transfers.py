"""Transfers to a person (issue 16): the agent hands the caller over instead of hanging up.

The agent decides (`scripts.engine.TransferCall`, from the script's transfer rules, a keypad key
or the LLM's `transfer` tool) and says its line; where the pipeline would hang up, the live call
asks `session_transfer_start` instead. That validates the target again (E.164, not on the
organization's do-not-call list: the dial gate's `check_transfer`), records a `Transfer` row and
asks the carrier to move the call (`Carrier.transfer_cold`: Twilio's call update with
`<Dial action=…>`). The media stream then stops; the conversation closes with the outcome
`transferred`.

The carrier reports the leg once, to the `<Dial>` action URL (`session_transfer_dial_result`):
answered and talked → `completed` with its talk time, and the call ends when they hang up;
busy, no answer or failed → the caller hears that nobody could take the call and that we will
call back, the session's outcome becomes `callback_requested` (the campaign's outcome handler
schedules it) and the call ends. A transfer that cannot even start says the same through
`Carrier.end_with_message`: the caller is never dropped in silence.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from anvil_voice.state_machine import transition
from anvil_voice.telephony.carrier import ColdTransfer, OutboundCall, TransferError, get_carrier
from anvil_voice.telephony.twiml import public_url, say_and_hang_up_twiml, say_twiml
from scripts.engine import TransferCall, TransferTargetKind
from sessions.carrier.calls import outbound_call
from sessions.carrier.dial_gate import get_dial_gate
from sessions.models import (
    TRANSFER_STATES,
    TRANSFER_UNANSWERED_STATES,
    CallEvent,
    CallEventKind,
    CallSession,
    Outcome,
    Speaker,
    TranscriptTurn,
    Transfer,
    TransferMode,
    TransferState,
)

logger = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TRANSFER_ACTION_PATH = "/telephony/twilio/transfer/{transfer_id}/"
TRANSFER_BRIEFING_PATH = "/telephony/twilio/transfer/{transfer_id}/briefing/"
# The briefing quotes the last few turns, kept short: the caller is waiting.
BRIEFING_TURNS = 4
BRIEFING_MAX_CHARS = 900
_WHY = {
    "agreement": "They said yes to the offer.",
    "request": "They asked to talk to a person.",
    "objection": "They raised a question the script hands to you.",
    "keypad": "They pressed the key to talk to a person.",
    "tool": "The agent is handing them over to you.",
}
# Said when nobody took the call (or the transfer could not start): never silence.
TRANSFER_FAILED_LINE = (
    "I'm sorry, nobody could take your call right now. We'll call you back soon. Goodbye."
)
HANG_UP_TWIML = "<Response><Hangup/></Response>"

# Twilio's `DialCallStatus` → the state the leg ends in.
_DIAL_STATES = {
    "completed": TransferState.COMPLETED,
    "answered": TransferState.COMPLETED,
    "busy": TransferState.BUSY,
    "no-answer": TransferState.NO_ANSWER,
    "failed": TransferState.FAILED,
    "canceled": TransferState.FAILED,
}


class TransferCarrier(Protocol):
    """The part of `Carrier` a transfer uses."""

    def transfer_cold(self, call: OutboundCall, transfer: ColdTransfer) -> None: ...
    def end_with_message(self, call: OutboundCall, text: str) -> None: ...
    def hang_up(self, call: OutboundCall) -> None: ...


def transfer_target_problem(*, session: CallSession, number: str, person: bool = True) -> str:
    """Why `number` may not receive `session`'s caller ("" when it may). The target comes from
    the organization's own script or campaign, so it belongs to the organization by
    construction; it is checked again here because the do-not-call list changes, and a
    person's number (`person`, the default) only inside its calling window."""
    if not E164.match(number):
        return "The transfer target is not an E.164 phone number."
    if number == session.to_number:
        return "The transfer target is the number being called."
    decision = get_dial_gate().check_transfer(session, number, person=person)
    if not decision.allowed:
        return f"The transfer target may not be called ({decision.reason})."
    return ""


def session_transfer_start(
    *, session_id: int, action: TransferCall, carrier: TransferCarrier | None = None
) -> Transfer | None:
    """Move the live call to the transfer target; None when there is no call to move."""
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None or session.is_finished or not session.carrier_call_sid:
        return None
    carrier = carrier or get_carrier()
    transfer = Transfer.objects.create(
        organization_id=session.organization_id,
        session=session,
        mode=action.mode.value,
        target_number=action.number,
        reason=action.reason.value,
        timeout_seconds=action.timeout_seconds,
    )
    CallEvent.objects.create(
        session=session,
        kind=CallEventKind.TRANSFER_REQUESTED,
        data={"transfer": transfer.pk, "mode": transfer.mode, "reason": transfer.reason},
    )
    call = outbound_call(session)
    person = action.target_kind is not TransferTargetKind.BUSINESS
    if problem := transfer_target_problem(session=session, number=action.number, person=person):
        _fail_start(transfer, problem)
        carrier.end_with_message(call, TRANSFER_FAILED_LINE)
        transfer.refresh_from_db()
        return transfer
    transition(
        Transfer.objects.filter(pk=transfer.pk), machine=TRANSFER_STATES, to=TransferState.DIALLING
    )
    # Warm: the person is briefed when they answer, before the caller is connected (Twilio's
    # `<Number url>` whisper). Hold audio and the agent coming back on no answer (a conference)
    # are not built yet: docs/decisions.md.
    warm = action.mode.value == TransferMode.WARM
    request = ColdTransfer(
        target=action.number,
        caller_id=session.from_number,
        timeout_seconds=action.timeout_seconds,
        action_url=public_url(
            TRANSFER_ACTION_PATH.format(transfer_id=transfer.pk), session_token=session.token
        ),
        briefing_url=(
            public_url(
                TRANSFER_BRIEFING_PATH.format(transfer_id=transfer.pk),
                session_token=session.token,
            )
            if warm
            else ""
        ),
    )
    try:
        carrier.transfer_cold(call, request)
    except TransferError as error:
        _fail_start(transfer, error.message, carrier_code=error.carrier_code)
        if not error.call_ended:
            try:
                carrier.end_with_message(call, TRANSFER_FAILED_LINE)
            except Exception:
                logger.exception("event=transfer_apology_failed session=%s", session_id)
                carrier.hang_up(call)
    logger.info(
        "event=transfer_started session=%s transfer=%s mode=%s",
        session_id,
        transfer.pk,
        action.mode,
    )
    transfer.refresh_from_db()
    return transfer


def _fail_start(transfer: Transfer, message: str, *, carrier_code: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        transition(
            Transfer.objects.filter(pk=transfer.pk),
            machine=TRANSFER_STATES,
            to=TransferState.FAILED,
            updates={
                "ended_at": now,
                "error_message": message[:500],
                "carrier_status": carrier_code,
            },
        )
        _not_taken(transfer.session_id, TransferState.FAILED)


def _not_taken(session_id: int, state: str) -> None:
    """Nobody took the caller: we will call them back (the campaign's retry delay decides when,
    as for a callback request with no time)."""
    session = CallSession.objects.select_for_update().get(pk=session_id)
    CallSession.objects.filter(pk=session_id).update(
        outcome=Outcome.CALLBACK_REQUESTED,
        end_reason=f"transfer_{state}",
        extracted={**(session.extracted or {}), "callback_at": None, "transfer_state": state},
    )


@dataclass(frozen=True)
class DialResult:
    status: str  # the carrier's `DialCallStatus`
    duration_seconds: int | None
    leg_sid: str


def session_transfer_dial_result(
    *, transfer_id: int, session_token: str, result: DialResult
) -> str:
    """The carrier's report of the transferred leg; returns the TwiML the caller hears next.
    Applied once: a repeated report changes nothing and gets the same answer."""
    state = _DIAL_STATES.get(result.status, TransferState.FAILED)
    now = timezone.now()
    with transaction.atomic():
        transfer = (
            Transfer.objects.select_for_update()
            .filter(pk=transfer_id, session__token=session_token)
            .first()
        )
        if transfer is None:
            return HANG_UP_TWIML
        updates: dict[str, object] = {
            "ended_at": now,
            "carrier_status": result.status[:32],
            "carrier_leg_sid": result.leg_sid[:64],
        }
        if state == TransferState.COMPLETED:
            talk = max(int(result.duration_seconds or 0), 0)
            updates["talk_seconds"] = talk
            if transfer.answered_at is None:
                # No briefing told us (cold): the carrier counts whole seconds, rounded up, so
                # never before we asked.
                updates["answered_at"] = max(transfer.requested_at, now - timedelta(seconds=talk))
        moved = transition(
            Transfer.objects.filter(pk=transfer.pk),
            machine=TRANSFER_STATES,
            to=state,
            updates=updates,
            audit=lambda _: CallEvent.objects.create(
                session_id=transfer.session_id,
                kind=CallEventKind.TRANSFER_ENDED,
                data={
                    "transfer": transfer.pk,
                    "state": state,
                    "carrier_status": result.status,
                    "talk_seconds": updates.get("talk_seconds"),
                },
            ),
        )
        if moved and state in TRANSFER_UNANSWERED_STATES:
            _not_taken(transfer.session_id, state)
        transfer.refresh_from_db()
    logger.info(
        "event=transfer_ended transfer=%s state=%s talk_seconds=%s",
        transfer_id,
        transfer.state,
        transfer.talk_seconds,
    )
    if transfer.state in TRANSFER_UNANSWERED_STATES:
        return say_and_hang_up_twiml(TRANSFER_FAILED_LINE)
    return HANG_UP_TWIML


def transfer_briefing(transfer: Transfer) -> str:
    """What the person hears before they are connected: who, why, and what was said last
    (the stored transcript: redacted when the organization redacts)."""
    session = transfer.session
    variables = session.variables or {}
    who = " ".join(
        str(variables.get(key, "")).strip() for key in ("first_name", "last_name")
    ).strip()
    parts = [
        f"Transfer from the calling agent: {who or 'a contact'}.",
        _WHY.get(transfer.reason, ""),
    ]
    turns = list(
        TranscriptTurn.objects.filter(session=session)
        .exclude(text="")
        .order_by("-index")[:BRIEFING_TURNS]
    )
    for turn in reversed(turns):
        speaker = "They said" if turn.speaker == Speaker.CONTACT else "We said"
        parts.append(f"{speaker}: {turn.text.strip()}")
    text = " ".join(part for part in parts if part)
    if len(text) > BRIEFING_MAX_CHARS:
        text = text[: BRIEFING_MAX_CHARS - 3].rsplit(" ", 1)[0] + "..."
    return text + " Connecting you now."


def session_transfer_answered(*, transfer_id: int, session_token: str) -> str:
    """The person picked up (the carrier asks for their briefing): record the moment, and
    answer the briefing's TwiML. A repeated request is answered the same and moves nothing."""
    transfer = (
        Transfer.objects.select_related("session")
        .filter(pk=transfer_id, session__token=session_token)
        .first()
    )
    if transfer is None:
        return say_twiml("Connecting you now.")
    transition(
        Transfer.objects.filter(pk=transfer.pk),
        machine=TRANSFER_STATES,
        to=TransferState.ANSWERED,
        updates={"answered_at": timezone.now()},
    )
    return say_twiml(transfer_briefing(transfer))


def talk_seconds_of(duration: str | None) -> int | None:
    """The carrier's `DialCallDuration` as whole seconds, None when absent or unreadable."""
    try:
        return math.ceil(float(duration)) if duration else None
    except ValueError:
        return None
