"""Bookkeeping both agents share, so they record turns, events and actions identically."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from scripts.engine.intents import Intent, detect_intent
from scripts.engine.tools import DigitSender
from scripts.engine.types import (
    AgentAction,
    CallContext,
    EndCall,
    EndReason,
    EngineEvent,
    EventKind,
    KeypadAction,
    MarkDoNotCall,
    Outcome,
    ScheduleCallback,
    Stance,
    TransferCall,
    TransferReason,
    TransferSpec,
)

# Utterances that say nothing about the offer: a hello, "who is this?", "yes, speaking".
_NOT_A_STANCE = frozenset(
    {Intent.GREETING, Intent.ASKS_WHO, Intent.ASKS_IF_AI, Intent.REPEAT_REQUEST}
)
_NEGATIVE = frozenset({Intent.REFUSAL, Intent.OPT_OUT})
_NEGATIVE_KEYS = frozenset({KeypadAction.OPT_OUT.value, KeypadAction.END.value})


def contact_stance(events: Iterable[EngineEvent]) -> Stance:
    """What the contact expressed, read from a call's engine events (either agent's): a refusal,
    an opt-out or a matched objection is negative; anything else they said beyond a hello or
    asking who is calling is engaged; otherwise none."""
    stance = Stance.NONE
    for event in events:
        if event.kind is EventKind.OBJECTION_MATCHED:
            return Stance.NEGATIVE
        if event.kind is EventKind.KEYPAD_ENTRY:
            stance = Stance.ENGAGED  # they typed what we asked for
            continue
        if event.kind is EventKind.KEYPAD:
            if event.data.get("action") in _NEGATIVE_KEYS:
                return Stance.NEGATIVE
            stance = Stance.ENGAGED
            continue
        if event.kind is not EventKind.HEARD:
            continue
        intent = detect_intent(str(event.data.get("text", ""))).intent
        if intent in _NEGATIVE:
            return Stance.NEGATIVE
        if intent not in _NOT_A_STANCE:
            stance = Stance.ENGAGED
    return stance


class AgentFinishedError(RuntimeError):
    """The call already ended; the pipeline must stop asking for replies."""


class Conversation:
    def __init__(self, context: CallContext) -> None:
        self.context = context
        self.events: list[EngineEvent] = []
        self.actions: list[AgentAction] = []
        self.turn = 0
        self.outcome: Outcome | None = None
        self.caller_spoke = False
        self.silences = 0
        self._ending: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def emit(self, kind: EventKind, /, **data: Any) -> None:
        self.events.append(EngineEvent(seq=len(self.events), turn=self.turn, kind=kind, data=data))

    def begin_turn(self, heard: str | None) -> str | None:
        """Start a caller turn; returns the utterance, or None for silence."""
        if self.finished:
            raise AgentFinishedError("The call has ended; no further replies.")
        self.turn += 1
        text = (heard or "").strip()
        if not text:
            self.silences += 1
            self.emit(EventKind.SILENCE, count=self.silences)
            return None
        self.silences = 0
        self.caller_spoke = True
        self.emit(EventKind.HEARD, text=text)
        return text

    def press_key(
        self,
        digit: str,
        action: KeypadAction,
        *,
        closing: str,
        last_line: str,
        transfer: TransferSpec | None = None,
    ) -> str:
        """Decide a caller turn that is a key the script maps; the line to say back (recorded).
        A key does what the words it stands for would, with no guessing at intent, and the
        same in both agents: the script's map decides, not the model."""
        if self.finished:
            raise AgentFinishedError("The call has ended; no further replies.")
        self.turn += 1
        self.silences = 0
        self.caller_spoke = True
        self.emit(EventKind.KEYPAD, digit=digit, action=action.value)
        phrases = self.context.phrases
        if action is KeypadAction.INTERESTED:
            self.end(EndReason.AGREED, Outcome.INTERESTED)
            line = closing
        elif action is KeypadAction.OPT_OUT:
            self.mark_do_not_call()
            self.end(EndReason.OPTED_OUT, Outcome.DO_NOT_CALL)
            line = phrases.opt_out_confirmation
        elif action is KeypadAction.CALLBACK:
            line = phrases.ask_callback_time  # the answer, in words, names the time
        elif action is KeypadAction.END:
            self.end(EndReason.KEYPAD_ENDED, Outcome.NOT_INTERESTED)
            line = phrases.polite_close
        elif action is KeypadAction.TRANSFER and transfer is not None:
            line = self.transfer(transfer, TransferReason.KEYPAD)
        else:  # REPEAT
            line = last_line
        if not self.finished and self.at_turn_limit:
            line = self.end_at_turn_limit()
        self.said(line)
        return line

    def enter_digits(self, name: str, digits: str) -> None:
        """A caller turn that is a number they typed (`KeypadEntry`)."""
        if self.finished:
            raise AgentFinishedError("The call has ended; no further replies.")
        self.turn += 1
        self.silences = 0
        self.caller_spoke = True
        self.emit(EventKind.KEYPAD_ENTRY, name=name, digits=digits)

    def said(self, text: str) -> None:
        """Record what the agent said this turn; a pending end is recorded right after it."""
        if text:
            self.emit(EventKind.SAID, text=text)
        if self._ending is not None:
            self.emit(EventKind.ENDED, **self._ending)
            self._ending = None

    def end(self, reason: str, outcome: Outcome, **extra: Any) -> None:
        """Decide the end of the call. The ``ended`` event follows the goodbye (`said`), so the
        stored transcript reads in the order things happened on the line."""
        reason = str(reason)  # an EndReason member is stored as its plain value
        self.outcome = outcome
        self.actions.append(EndCall(reason=reason, outcome=outcome))
        self._ending = {"reason": reason, "outcome": outcome.value, **extra}

    def mark_do_not_call(self) -> None:
        self.actions.append(MarkDoNotCall())
        self.emit(EventKind.OPTED_OUT)

    def schedule_callback(self, at: datetime | None) -> None:
        self.actions.append(ScheduleCallback(at=at))
        self.emit(EventKind.CALLBACK_REQUESTED, at=at.isoformat() if at else None)

    def transfer(self, spec: TransferSpec, reason: TransferReason) -> str:
        """Decide to hand the caller to the script's person; the line to say before it."""
        self.actions.append(
            TransferCall(
                number=spec.number,
                mode=spec.mode,
                timeout_seconds=spec.timeout_seconds,
                reason=reason,
                target_kind=spec.target_kind,
            )
        )
        self.emit(
            EventKind.TRANSFER_REQUESTED,
            mode=spec.mode.value,
            target=spec.number,
            reason=reason.value,
        )
        self.end(EndReason.TRANSFERRED, Outcome.TRANSFERRED)
        return self.context.phrases.transfer_line

    def silence_reply(self) -> str:
        """The line for a silent turn; ends the call once the silences run out."""
        phrases = self.context.phrases
        if self.silences < self.context.max_silences:
            return phrases.still_there
        self.end("silence", self.unfinished_outcome())
        return phrases.silence_goodbye

    @property
    def at_turn_limit(self) -> bool:
        return self.turn >= self.context.max_turns

    def end_at_turn_limit(self) -> str:
        self.end("max_turns", self.unfinished_outcome())
        return self.context.phrases.max_turns_close

    def unfinished_outcome(self) -> Outcome:
        """The outcome when the agent gives up without a decision (silence, turn limit): someone
        who took part and then fell silent is not interested (no retry); a call where nobody
        spoke, or only said hello or asked who was calling, had no conversation (retried like an
        unanswered one)."""
        if contact_stance(self.events) is Stance.NONE:
            return Outcome.NO_CONVERSATION
        return Outcome.NOT_INTERESTED


class ConversationView:
    """The read side of the Agent protocol, shared by both agents: they differ in how they
    decide, not in how a call's state is kept."""

    _conversation: Conversation
    # Presses keys on the call (`SendsKeys`): bound by the pipeline; None off a live call.
    _digit_sender: DigitSender | None = None

    def bind_digit_sender(self, sender: DigitSender) -> None:
        self._digit_sender = sender

    @property
    def finished(self) -> bool:
        return self._conversation.finished

    @property
    def outcome(self) -> Outcome | None:
        return self._conversation.outcome

    @property
    def events(self) -> list[EngineEvent]:
        return self._conversation.events

    @property
    def actions(self) -> list[AgentAction]:
        return self._conversation.actions
