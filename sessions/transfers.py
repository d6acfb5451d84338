"""Transfers to a person (issue 16): the agent hands the caller over instead of hanging up.

The agent decides (`scripts.engine.TransferCall`, from the script's transfer rules, a keypad key
or the LLM's `transfer` tool) and says its line; where the pipeline would hang up, the live call
asks `session_transfer_start` instead. That validates the target again (E.164, not on the
organization's do-not-call list: the dial gate's `check_transfer`), records a `Transfer` row and
asks the carrier to move the call. The media stream then stops; the conversation closes with
the outcome `transferred`.

Cold (`Carrier.transfer_cold`: Twilio's call update with `<Dial action=…>`): the carrier reports
the leg once, to the `<Dial>` action URL (`session_transfer_dial_result`): answered and talked →
`completed` with its talk time, and the call ends when they hang up; busy, no answer or failed →
the caller hears that nobody could take the call and that we will call back, the session's
outcome becomes `callback_requested` (the campaign's outcome handler schedules it) and the call
ends.

Warm (`Carrier.transfer_warm`): the caller waits in a conference hearing our hold audio
(`transfer_hold_twiml`, the conference's `waitUrl`) while the person is called on a leg of their
own; when they answer, their TwiML (`session_transfer_answered`) is the briefing (who, why, the
last turns) and then the conference, which connects the two. The leg's status callbacks
(`session_transfer_leg_status`) are kept as they come, record the answer and the talk time, and
when the leg ends unanswered send the caller back to a new media stream of the session
(`session_transfer_return`), marked with `RETURN_PARAMETER`: the consumer accepts that stream
once (`session_transfer_resume` reopens the conversation) and the agent offers a callback
(`scripts.engine.TransferReturnAgent`). If the carrier cannot move the caller back, or the
return stream is refused, the cold transfer's apology and hang-up are the fallback.

A transfer that cannot even start says the same apology through `Carrier.end_with_message`:
the caller is never dropped in silence.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from anvil_voice.state_machine import transition
from anvil_voice.telephony.carrier import (
    ColdTransfer,
    OutboundCall,
    ReturnToAgent,
    TransferError,
    WarmTransfer,
    get_carrier,
)
from anvil_voice.telephony.twiml import (
    EMPTY_TWIML,
    conference_join_twiml,
    play_loop_twiml,
    public_url,
    say_and_hang_up_twiml,
    say_twiml,
)
from scripts.engine import TransferCall, TransferTargetKind
from sessions.carrier.calls import outbound_call
from sessions.carrier.dial_gate import get_dial_gate
from sessions.models import (
    CONVERSATION_RESUME,
    TRANSFER_FINAL_STATES,
    TRANSFER_STATES,
    TRANSFER_UNANSWERED_STATES,
    CallEvent,
    CallEventKind,
    CallSession,
    ConversationState,
    Outcome,
    Speaker,
    TranscriptTurn,
    Transfer,
    TransferMode,
    TransferState,
)
from sessions.tasks import session_transfer_timeout_task

logger = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TRANSFER_ACTION_PATH = "/telephony/twilio/transfer/{transfer_id}/"
TRANSFER_BRIEFING_PATH = "/telephony/twilio/transfer/{transfer_id}/briefing/"
# Warm transfers: the conference's `waitUrl` (hold audio TwiML), the person's leg's status
# callbacks, and the hold audio itself (the same for every call, no secret in it).
TRANSFER_HOLD_PATH = "/telephony/twilio/transfer/{transfer_id}/hold/"
TRANSFER_LEG_PATH = "/telephony/twilio/transfer/{transfer_id}/leg/"
HOLD_AUDIO_PATH = "/telephony/twilio/hold-audio.wav"
# The `<Parameter>` on the stream that brings a caller back from a transfer nobody took.
RETURN_PARAMETER = "transfer_return"
# Past the ring timeout, how long we wait for the leg's own end before ending it ourselves:
# Twilio adds a few seconds to a created call's timeout, and its callback takes a moment.
LEG_TIMEOUT_GRACE_SECONDS = 15
# The leg status we record when we ended a leg that never reported its end (not Twilio's).
LEG_TIMED_OUT = "timeout"
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
    def transfer_warm(self, call: OutboundCall, transfer: WarmTransfer) -> str: ...
    def return_to_stream(self, call: OutboundCall, back: ReturnToAgent) -> None: ...
    def cancel_leg(self, leg_sid: str) -> None: ...
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
    if action.mode.value == TransferMode.WARM:
        _start_warm(session, transfer, call, carrier)
    else:
        _start_cold(session, transfer, call, carrier)
    logger.info(
        "event=transfer_started session=%s transfer=%s mode=%s",
        session_id,
        transfer.pk,
        action.mode,
    )
    transfer.refresh_from_db()
    return transfer


def _start_cold(
    session: CallSession, transfer: Transfer, call: OutboundCall, carrier: TransferCarrier
) -> None:
    request = ColdTransfer(
        target=transfer.target_number,
        caller_id=session.from_number,
        timeout_seconds=transfer.timeout_seconds,
        action_url=public_url(
            TRANSFER_ACTION_PATH.format(transfer_id=transfer.pk), session_token=session.token
        ),
    )
    try:
        carrier.transfer_cold(call, request)
    except TransferError as error:
        _fail_start(transfer, error.message, carrier_code=error.carrier_code)
        if not error.call_ended:
            _apologise(call, carrier, session.pk)


def conference_name(transfer: Transfer) -> str:
    return f"anvil-transfer-{transfer.pk}"


def _start_warm(
    session: CallSession, transfer: Transfer, call: OutboundCall, carrier: TransferCarrier
) -> None:
    """The caller waits in a conference hearing our hold audio; the person is called on a leg
    of their own, briefed when they answer, then joins. Their leg's status callbacks
    (`session_transfer_leg_status`) record how it goes and bring the caller back to the agent
    when nobody takes the call."""

    def url(path: str) -> str:
        return public_url(path.format(transfer_id=transfer.pk), session_token=session.token)

    request = WarmTransfer(
        target=transfer.target_number,
        caller_id=session.from_number,
        timeout_seconds=transfer.timeout_seconds,
        conference=conference_name(transfer),
        hold_url=url(TRANSFER_HOLD_PATH),
        briefing_url=url(TRANSFER_BRIEFING_PATH),
        leg_status_url=url(TRANSFER_LEG_PATH),
    )
    try:
        leg_sid = carrier.transfer_warm(call, request)
    except TransferError as error:
        _fail_start(transfer, error.message, carrier_code=error.carrier_code)
        if not error.call_ended:
            # On hold already, or still on our stream: either way told, never left waiting.
            _apologise(call, carrier, session.pk)
        return
    Transfer.objects.filter(pk=transfer.pk, carrier_leg_sid="").update(carrier_leg_sid=leg_sid)
    # Our own clock too: a leg whose final callback is lost must not hold the caller forever.
    countdown = transfer.timeout_seconds + LEG_TIMEOUT_GRACE_SECONDS
    transaction.on_commit(
        lambda: session_transfer_timeout_task.apply_async((transfer.pk,), countdown=countdown)
    )


def _apologise(call: OutboundCall, carrier: TransferCarrier, session_id: int) -> None:
    try:
        carrier.end_with_message(call, TRANSFER_FAILED_LINE)
    except Exception:
        logger.exception("event=transfer_apology_failed session=%s", session_id)
        carrier.hang_up(call)


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
    answer the briefing's TwiML (warm: then join the waiting caller's conference). A repeated
    request is answered the same and moves nothing."""
    transfer = (
        Transfer.objects.select_related("session")
        .filter(pk=transfer_id, session__token=session_token)
        .first()
    )
    if transfer is None:
        return say_and_hang_up_twiml("Sorry, this call is no longer waiting for you.")
    _mark_answered(transfer)
    briefing = transfer_briefing(transfer)
    if transfer.mode == TransferMode.WARM:
        if transfer.state in TRANSFER_FINAL_STATES or transfer.returned_at is not None:
            # The caller is gone, or back with the agent: nobody is waiting in the conference.
            return say_and_hang_up_twiml("Sorry, the caller is no longer waiting. Goodbye.")
        return conference_join_twiml(conference=conference_name(transfer), briefing=briefing)
    return say_twiml(briefing)


def _mark_answered(transfer: Transfer) -> None:
    transition(
        Transfer.objects.filter(pk=transfer.pk),
        machine=TRANSFER_STATES,
        to=TransferState.ANSWERED,
        updates={"answered_at": timezone.now()},
    )
    transfer.refresh_from_db()


def transfer_hold_twiml(*, transfer_id: int, session_token: str) -> str:
    """The conference's `waitUrl`: our hold audio, looped until the person joins."""
    if not Transfer.objects.filter(pk=transfer_id, session__token=session_token).exists():
        return EMPTY_TWIML
    return play_loop_twiml(public_url(HOLD_AUDIO_PATH))


# The person's leg as its status callbacks say it (Twilio's `CallStatus`).
_LEG_UNANSWERED = {
    LEG_TIMED_OUT: TransferState.NO_ANSWER,
    "busy": TransferState.BUSY,
    "no-answer": TransferState.NO_ANSWER,
    "failed": TransferState.FAILED,
    "canceled": TransferState.FAILED,
}


@dataclass(frozen=True)
class LegStatus:
    status: str  # the carrier's `CallStatus` of the person's leg
    leg_sid: str
    sequence: int | None = None
    duration_seconds: int | None = None  # `CallDuration`, on the final callback


def session_transfer_leg_status(
    *,
    transfer_id: int,
    session_token: str,
    leg: LegStatus,
    carrier: TransferCarrier | None = None,
) -> None:
    """A warm transfer's leg to the person reported in: every report is kept (`leg_events`);
    answered moves the transfer to `answered`, completed to `completed` with the talk time;
    an unanswered end (busy, no answer, failed, canceled) brings the caller back to the agent,
    who offers a callback (`sessions.live.consumer`). Reports may repeat or cross: each state
    change is a conditional transition, so it is applied once."""
    now = timezone.now()
    give_back = False
    with transaction.atomic():
        transfer = (
            Transfer.objects.select_for_update()
            .filter(pk=transfer_id, session__token=session_token, mode=TransferMode.WARM)
            .first()
        )
        if transfer is None:
            return
        event = {"status": leg.status[:32], "sequence": leg.sequence, "at": now.isoformat()}
        updates: dict[str, object] = {"leg_events": [*transfer.leg_events, event]}
        if leg.leg_sid and not transfer.carrier_leg_sid:
            updates["carrier_leg_sid"] = leg.leg_sid[:64]
        Transfer.objects.filter(pk=transfer.pk).update(**updates)
        if leg.status == "in-progress" and transfer.answered_at is None:
            _mark_answered(transfer)
        elif leg.status == "completed":
            talk = max(int(leg.duration_seconds or 0), 0)
            transition(
                Transfer.objects.filter(pk=transfer.pk),
                machine=TRANSFER_STATES,
                to=TransferState.COMPLETED,
                updates={
                    "ended_at": now,
                    "talk_seconds": talk,
                    "carrier_status": leg.status,
                    "answered_at": transfer.answered_at
                    or max(transfer.requested_at, now - timedelta(seconds=talk)),
                },
                audit=lambda _: _ended_event(transfer, TransferState.COMPLETED, leg.status, talk),
            )
        elif (state := _LEG_UNANSWERED.get(leg.status)) is not None:
            moved = transition(
                Transfer.objects.filter(pk=transfer.pk),
                machine=TRANSFER_STATES,
                to=state,
                updates={"ended_at": now, "carrier_status": leg.status},
                audit=lambda _: _ended_event(transfer, state, leg.status, None),
            )
            if moved:
                # The default if the caller never gets back to the agent: we call them back.
                _not_taken(transfer.session_id, state)
                give_back = _claim_return(transfer, now)
    logger.info(
        "event=transfer_leg_status transfer=%s status=%s sequence=%s",
        transfer_id,
        leg.status,
        leg.sequence,
    )
    if give_back:
        session_transfer_return(transfer_id=transfer_id, carrier=carrier)


def session_transfer_timed_out(
    *, transfer_id: int, now: datetime | None = None, carrier: TransferCarrier | None = None
) -> bool:
    """The ring time (and a grace) is over: a warm transfer's leg that is still dialling (never
    answered, never reported an end) is cancelled and recorded as not answered, which brings
    the caller back (`session_transfer_leg_status`). True when it acted; a leg that answered or
    ended, or a check that runs early (tasks run eagerly in tests), changes nothing."""
    moment = now or timezone.now()
    transfer = (
        Transfer.objects.select_related("session")
        .filter(pk=transfer_id, mode=TransferMode.WARM, state=TransferState.DIALLING)
        .first()
    )
    if transfer is None:
        return False
    due = transfer.requested_at + timedelta(
        seconds=transfer.timeout_seconds + LEG_TIMEOUT_GRACE_SECONDS
    )
    if moment < due:
        return False
    carrier = carrier or get_carrier()
    try:
        carrier.cancel_leg(transfer.carrier_leg_sid)
    except Exception:
        logger.exception("event=transfer_leg_cancel_failed transfer=%s", transfer_id)
    logger.warning("event=transfer_leg_timed_out transfer=%s", transfer_id)
    session_transfer_leg_status(
        transfer_id=transfer_id,
        session_token=transfer.session.token,
        leg=LegStatus(status=LEG_TIMED_OUT, leg_sid=""),
        carrier=carrier,
    )
    return True


def _ended_event(transfer: Transfer, state: str, status: str, talk: int | None) -> CallEvent:
    return CallEvent.objects.create(
        session_id=transfer.session_id,
        kind=CallEventKind.TRANSFER_ENDED,
        data={
            "transfer": transfer.pk,
            "state": state,
            "carrier_status": status,
            "talk_seconds": talk,
        },
    )


def _claim_return(transfer: Transfer, now: datetime) -> bool:
    """Claim bringing the caller back (once), if they are still on the line; the session's
    stream token admits one more stream (the first one stopped when the call went on hold)."""
    session = CallSession.objects.select_for_update().get(pk=transfer.session_id)
    if session.is_finished:
        return False
    claimed = Transfer.objects.filter(pk=transfer.pk, returned_at__isnull=True).update(
        returned_at=now
    )
    if claimed:
        CallSession.objects.filter(pk=session.pk).update(stream_sid="")
    return bool(claimed)


def session_transfer_return(*, transfer_id: int, carrier: TransferCarrier | None = None) -> None:
    """Move the waiting caller back to a new media stream, marked as the return from this
    transfer; if the carrier refuses, the fallback of a cold transfer: the apology and the
    hang-up (the outcome is already `callback_requested`)."""
    transfer = Transfer.objects.select_related("session").get(pk=transfer_id)
    carrier = carrier or get_carrier()
    call = outbound_call(transfer.session)
    try:
        carrier.return_to_stream(call, ReturnToAgent({RETURN_PARAMETER: str(transfer.pk)}))
    except TransferError as error:
        logger.warning(
            "event=transfer_return_failed transfer=%s code=%s", transfer_id, error.carrier_code
        )
        if not error.call_ended:
            _apologise(call, carrier, transfer.session_id)
        return
    logger.info("event=transfer_returned transfer=%s", transfer_id)


def session_transfer_resume_refused(*, session_id: int) -> None:
    """A stream claimed to bring a caller back from a transfer we did not send back (or sent
    back once already): the apology and the hang-up, never silence."""
    session = CallSession.objects.filter(pk=session_id).first()
    if session is None or session.is_finished:
        return
    _apologise(outbound_call(session), get_carrier(), session_id)


def session_transfer_resume(*, session_id: int, transfer_id: str) -> Transfer | None:
    """A stream that says it brings the caller back from `transfer_id`: accepted once, only for
    that session's warm transfer that nobody took and that we sent back (`returned_at`).
    Reopens the session's closed conversation (the transcript goes on in the same session);
    None when the stream is not such a return."""
    if not transfer_id.isdigit():
        return None
    with transaction.atomic():
        claimed = Transfer.objects.filter(
            pk=int(transfer_id),
            session_id=session_id,
            mode=TransferMode.WARM,
            state__in=TRANSFER_UNANSWERED_STATES,
            returned_at__isnull=False,
            resumed_at__isnull=True,
        ).update(resumed_at=timezone.now())
        if not claimed:
            return None
        reopened = transition(
            CallSession.objects.filter(pk=session_id),
            machine=CONVERSATION_RESUME,
            to=ConversationState.OPEN,
            # The resumed conversation writes its own end reason when it closes.
            updates={"end_reason": ""},
            audit=lambda _: CallEvent.objects.create(
                session_id=session_id,
                kind=CallEventKind.CONVERSATION_STARTED,
                data={"resumed_from_transfer": int(transfer_id)},
            ),
        )
        if not reopened:
            transaction.set_rollback(True)
            return None
    return Transfer.objects.get(pk=int(transfer_id))


def talk_seconds_of(duration: str | None) -> int | None:
    """The carrier's `DialCallDuration` as whole seconds, None when absent or unreadable."""
    try:
        return math.ceil(float(duration)) if duration else None
    except ValueError:
        return None


def on_session_finished(sender: object, *, session: CallSession, **kwargs: object) -> None:
    """The caller's call is over: a warm transfer's leg still ringing (or answered and about
    to join nobody) is ended, so the person is not left with a caller who is gone."""
    legs = Transfer.objects.filter(
        session=session,
        mode=TransferMode.WARM,
        state__in=[TransferState.DIALLING, TransferState.ANSWERED],
    ).exclude(carrier_leg_sid="")
    for transfer in legs:
        try:
            get_carrier().cancel_leg(transfer.carrier_leg_sid)
        except Exception:
            # The leg ends by itself at its ring timeout, or when the person hangs up.
            logger.exception("event=transfer_leg_cancel_failed transfer=%s", transfer.pk)
