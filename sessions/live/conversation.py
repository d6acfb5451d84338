"""The conversation side of a session: what the live pipeline needs, and what it leaves behind.

The Media Stream consumer (`sessions.live.consumer`) calls these through `database_sync_to_async`:

- `session_conversation_open` when Twilio's `start` arrives: loads everything the agent and the
  voice need (script snapshot, variables, the contact's zone, the voice) in one go, and records
  that a conversation is running.
- `session_conversation_note` right before our own hang-up: the agent has decided by then, so
  its outcome is on the row before Twilio's `completed` callback can finish the session.
- `session_conversation_close` once, when the pipeline has stopped: the final outcome,
  summary and extracted data, one `conversation_ended` event, and (when the carrier already
  ended the call) the deferred `session_finished` signal.

Why the signal waits: Twilio's `completed` callback and the stream's `stop` race. The carrier
alone would finish a talking call as `completed`, and campaigns would act on that before the
pipeline could say "interested" or "do not call". So `session_finish` holds the signal back
while a conversation is open (`CallSession.conversation_state`), and whichever of the two comes
last sends it, exactly once (both run under the session's row lock; the close is a conditional
open → closed move).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anvil_voice.privacy.redaction import redact_text, redact_value
from anvil_voice.state_machine import transition
from scripts.engine import Stance
from sessions.carrier.recording import disclosure_to_say
from sessions.carrier.status import send_finished_on_commit
from sessions.costs import session_usage_record
from sessions.models import (
    CONVERSATION_STATES,
    TERMINAL_CALL_STATUSES,
    AnsweredBy,
    CallEvent,
    CallEventKind,
    CallSession,
    ConversationState,
    Outcome,
    TranscriptTurn,
)

if TYPE_CHECKING:
    from campaigns.models import Campaign

from sessions.privacy import (
    more_redacted,
    organization_redacts_pii,
    redact_events,
    redact_turn_dicts,
)
from sessions.transfers import session_transfer_resume

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallSetup:
    """Everything a live call needs from the database, read once at `start`."""

    session_id: int
    organization_id: int
    campaign_id: int | None
    script: dict[str, Any]  # the ScriptVersion snapshot (ScriptSpec.from_dict reads it)
    variables: dict[str, Any] = field(default_factory=dict)
    time_zone: str = "UTC"
    voice_provider: str = "local"
    voice_id: str = ""
    voicemail_behaviour: str = ""
    # The organization redacts personal data (`sessions.privacy`): turns are stored redacted.
    redact_pii: bool = False
    # Say this right after the opening; recording starts once it was heard in full.
    recording_disclosure: str = ""
    # Signs the script's HTTP tool requests (`scripts.tool_http`).
    tool_secret: str = ""
    # The caller is back from a warm transfer nobody took (`sessions.transfers`): the agent
    # offers a callback; the transfer's reason. None: the call's first conversation.
    transfer_return_reason: str | None = None
    # The resumed conversation's turns follow the stored ones (the pipeline counts from 0).
    turn_offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationResult:
    """The pipeline's result, reduced to what the session stores (no pipeline types here)."""

    outcome: str | None  # None: the agent never decided
    end_reason: str
    contact_spoke: bool
    # What the contact expressed (`scripts.engine.Stance`): decides a call they hung up on.
    contact_stance: str = Stance.NONE.value
    hung_up_by_us: bool
    extracted: dict[str, Any]
    summary: str
    events: list[dict[str, Any]] = field(default_factory=list)
    # Every turn of the call (`Turn.as_dict()`): the sink stores them live; the close stores
    # any the sink could not (it is given a few seconds at the end, then cancelled).
    turns: list[dict[str, Any]] = field(default_factory=list)
    # "ivr" when the pipeline heard a phone menu (it outranks the carrier's guess: AMD calls
    # most menus a machine); "" when it did not.
    answered_by: str = ""
    # What the call used of each provider (`anvil_voice.usage.CallUsage.as_dict()`).
    usage: dict[str, Any] = field(default_factory=dict)


def session_conversation_open(*, session_id: int) -> CallSetup | None:
    """Load the call's setup and mark the conversation open; None when there is nothing to say
    (no script version: the session was made by hand) so the consumer only records the stream."""
    session = (
        CallSession.objects.select_related(
            "script_version__script", "voice", "contact", "campaign", "organization"
        )
        .filter(pk=session_id)
        .first()
    )
    if session is None or session.script_version is None:
        return None
    opened = transition(
        CallSession.objects.filter(pk=session_id),
        machine=CONVERSATION_STATES,
        to=ConversationState.OPEN,
        audit=lambda _: CallEvent.objects.create(
            session_id=session_id, kind=CallEventKind.CONVERSATION_STARTED, data={}
        ),
    )
    if not opened:
        # A conversation ran on this session already: one call, one conversation (the one
        # exception, a caller back from a transfer, is `session_conversation_resume`).
        logger.warning("event=conversation_reopen_refused session=%s", session_id)
        return None
    return _setup(session)


def session_conversation_resume(*, session_id: int, transfer_id: str) -> CallSetup | None:
    """The caller is back from a warm transfer nobody took, on a new stream: reopen the
    session's conversation (once per such transfer) for the agent that offers a callback.
    None when the stream is no such return (then nothing is said on it)."""
    session = (
        CallSession.objects.select_related(
            "script_version__script", "voice", "contact", "campaign", "organization"
        )
        .filter(pk=session_id)
        .first()
    )
    if session is None or session.script_version is None:
        return None
    transfer = session_transfer_resume(session_id=session_id, transfer_id=transfer_id)
    if transfer is None:
        logger.warning("event=conversation_resume_refused session=%s", session_id)
        return None
    last = TranscriptTurn.objects.filter(session_id=session_id).order_by("-index").first()
    return replace(
        _setup(session),
        recording_disclosure="",  # heard at the start of the call
        transfer_return_reason=transfer.reason,
        turn_offset=last.index + 1 if last is not None else 0,
    )


def _setup(session: CallSession) -> CallSetup:
    assert session.script_version is not None
    voice = session.voice
    contact = session.contact
    campaign = session.campaign
    return CallSetup(
        session_id=session.pk,
        organization_id=session.organization_id,
        campaign_id=session.campaign_id,
        script=_with_campaign_transfer(dict(session.script_version.snapshot), campaign),
        # The organization fills `{{business_name}}`, as the script's render preview does.
        variables={"business_name": session.organization.name, **(session.variables or {})},
        time_zone=(contact.time_zone if contact is not None else "") or "UTC",
        voice_provider=voice.provider if voice is not None else "local",
        voice_id=voice.provider_voice_id if voice is not None else "",
        voicemail_behaviour=campaign.voicemail_behaviour if campaign is not None else "",
        redact_pii=session.organization.redact_pii,
        recording_disclosure=disclosure_to_say(session),
        tool_secret=session.script_version.script.tool_secret,
    )


def _with_campaign_transfer(script: dict[str, Any], campaign: Campaign | None) -> dict[str, Any]:
    """The campaign's transfer number overrides the script's (the script's rules stay; a
    script with none transfers when the caller asks for a person), and with it who answers it
    (a person or a business line: the calling window applies to a person)."""
    number = campaign.transfer_number if campaign is not None else ""
    if number and campaign is not None:
        script["transfer"] = {
            **(script.get("transfer") or {}),
            "number": number,
            "target_kind": campaign.transfer_target_kind,
        }
    return script


def _final_outcome(session: CallSession, result: ConversationResult) -> str | None:
    """The outcome to store: the agent's, unless a machine answered or nobody decided."""
    if session.answered_by == AnsweredBy.MACHINE and result.answered_by != AnsweredBy.IVR:
        return Outcome.VOICEMAIL  # whatever the agent made of a greeting
    if result.outcome == Outcome.TRANSFERRED and session.outcome == Outcome.CALLBACK_REQUESTED:
        # The transfer was not taken (`sessions.transfers`) before the stream's close arrived.
        return Outcome.CALLBACK_REQUESTED
    if result.outcome:
        return result.outcome
    if session.outcome == Outcome.TRANSFERRED:
        return Outcome.TRANSFERRED  # a staff member took the call (`sessions.live.controls`)
    if result.contact_spoke and not result.hung_up_by_us:
        # They talked, then hung up before the agent could close: what they had expressed
        # decides (docs/decisions.md). A no or an objection is a no, so the campaign does not
        # ring them again; taking part without a yes or a no is a completed call; only a hello
        # or "who is this?" is no conversation (retried unless a human was known to answer).
        if result.contact_stance == Stance.NEGATIVE:
            return Outcome.NOT_INTERESTED
        if result.contact_stance == Stance.ENGAGED:
            return Outcome.COMPLETED
        return Outcome.NO_CONVERSATION
    return None  # the carrier's preliminary outcome stands (completed / no_conversation)


def _result_updates(
    session: CallSession, result: ConversationResult, *, replace_reasons: tuple[str, ...]
) -> dict[str, Any]:
    """What the conversation's result writes on the session: extracted data, summary, the
    outcome that stands, and its end reason unless one is set (or is in `replace_reasons`)."""
    updates: dict[str, Any] = {
        "extracted": {**(session.extracted or {}), **result.extracted},
        "summary": result.summary,
    }
    outcome = _final_outcome(session, result)
    if outcome:
        updates["outcome"] = outcome
    if result.answered_by == AnsweredBy.IVR:
        # Machine, menu and person are told apart: a menu we heard is a menu, whatever AMD
        # said; the outcome says whether a person was reached after it.
        updates["answered_by"] = AnsweredBy.IVR
    if not session.end_reason or session.end_reason in replace_reasons:
        updates["end_reason"] = result.end_reason[:64]
    return updates


def redact_conversation_result(result: ConversationResult) -> ConversationResult:
    """The result with no personal data left in what it stores: the turns (read as one
    conversation), the summary, the extracted data and the events (the engine's `heard`
    events repeat the caller's words; they take the transcript's redacted version)."""
    turns = redact_turn_dicts(result.turns)
    raw = {str(t["index"]): str(t["text"]) for t in result.turns}
    raw_to_redacted = {
        raw[str(turn["index"])]: str(turn["text"])
        for turn in turns
        if raw[str(turn["index"])] != turn["text"]
    }
    return replace(
        result,
        turns=turns,
        summary=redact_text(result.summary),
        extracted=redact_value(result.extracted),
        events=redact_events(result.events, raw_to_redacted=raw_to_redacted),
    )


def session_conversation_note(*, session_id: int, result: ConversationResult) -> None:
    """Store the agent's decision before we hang up (the carrier's callback follows fast)."""
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            return
        if organization_redacts_pii(session.organization_id):
            result = redact_conversation_result(result)
        updates = _result_updates(session, result, replace_reasons=())
        CallSession.objects.filter(pk=session_id).update(**updates)


# The session's end reason when a machine answered and there was no message to leave.
VOICEMAIL_NO_MESSAGE = "voicemail_no_message"


def session_note_no_voicemail_message(*, session_id: int) -> None:
    """A machine answered, the campaign says "leave the script's voicemail message", and the
    script (edited after the campaign started) has none: say so on the session (an event and
    its end reason) before hanging up, so the call does not end with no hint why."""
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            return
        if not session.end_reason or session.end_reason == "completed":
            CallSession.objects.filter(pk=session_id).update(end_reason=VOICEMAIL_NO_MESSAGE)
        CallEvent.objects.create(
            session_id=session_id,
            kind=CallEventKind.VOICEMAIL_NOT_LEFT,
            data={
                "reason": "The script has no voicemail message; the call was hung up.",
                "voicemail_behaviour": "leave_message",
            },
        )
    logger.warning("event=voicemail_not_left session=%s reason=no_message", session_id)


def session_conversation_close(*, session_id: int, result: ConversationResult) -> bool:
    """The pipeline stopped: store its result once; send the deferred signal if it is due."""
    with transaction.atomic():
        session = CallSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            return False
        # The claim: whoever moves the conversation from open to closed stores the result.
        closed = transition(
            CallSession.objects.filter(pk=session_id),
            machine=CONVERSATION_STATES,
            to=ConversationState.CLOSED,
        )
        if not closed:
            return False
        redacting = organization_redacts_pii(session.organization_id)
        if redacting:
            result = redact_conversation_result(result)
        # "completed" is the carrier's word; ours says why the conversation ended.
        updates = _result_updates(session, result, replace_reasons=("completed",))
        CallSession.objects.filter(pk=session_id).update(**updates)
        if result.turns:
            TranscriptTurn.objects.bulk_create(
                [TranscriptTurn(session_id=session_id, **turn) for turn in result.turns],
                ignore_conflicts=True,  # (session, index) is unique: the sink's rows stay
            )
            if redacting:
                _redact_stored_turns(session_id, result.turns)
        if result.events:
            CallEvent.objects.bulk_create(
                CallEvent(session_id=session_id, kind=str(event["kind"])[:48], data=event)
                for event in result.events
            )
        if result.usage:
            session_usage_record(session_id=session_id, usage=result.usage)
        CallEvent.objects.create(
            session_id=session_id,
            kind=CallEventKind.CONVERSATION_ENDED,
            data={"outcome": updates.get("outcome", session.outcome), "reason": result.end_reason},
        )
        if session.status in TERMINAL_CALL_STATUSES:
            # The carrier finished the session first and held the signal back for us.
            send_finished_on_commit(session_id)
    logger.info(
        "event=conversation_closed session=%s outcome=%s reason=%s",
        session_id,
        updates.get("outcome", session.outcome),
        result.end_reason,
    )
    return True


def _redact_stored_turns(session_id: int, turns: list[dict[str, Any]]) -> None:
    """The whole conversation may show what the live window could not (a number given over
    more turns than it holds): stored rows are redacted further, never less."""
    stored = dict(TranscriptTurn.objects.filter(session_id=session_id).values_list("index", "text"))
    for turn in turns:
        index, text = int(turn["index"]), str(turn["text"])
        if index in stored and more_redacted(text, stored[index]):
            TranscriptTurn.objects.filter(session_id=session_id, index=index).update(text=text)


def session_close_abandoned_conversations(*, now: Any = None) -> int:
    """Close conversations whose consumer died (the carrier ended the call long ago)."""
    moment = now or timezone.now()
    # Only what the carrier ended long ago (a live call's conversation is open too).
    abandoned_after = timedelta(seconds=settings.CALL_CONVERSATION_ABANDONED_SECONDS)
    stale = CallSession.objects.filter(
        conversation_state=ConversationState.OPEN,
        status__in=TERMINAL_CALL_STATUSES,
        ended_at__lt=moment - abandoned_after,
    )
    closed = 0
    # Each close claims its row (open → closed), so several sweepers may run at once.
    for session_id in stale.order_by("ended_at").values_list("pk", flat=True)[:500]:
        # No verdict is invented for a conversation nobody saw end: the carrier's stands.
        result = ConversationResult(
            outcome=None,
            end_reason="conversation_lost",
            contact_spoke=False,
            hung_up_by_us=False,
            extracted={},
            summary="The live call ended without its conversation being closed.",
        )
        closed += session_conversation_close(session_id=session_id, result=result)
    return closed
