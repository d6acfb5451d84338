"""Bookkeeping both agents share, so they record turns, events and actions identically."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scripts.engine.types import (
    AgentAction,
    CallContext,
    EndCall,
    EngineEvent,
    EventKind,
    MarkDoNotCall,
    Outcome,
    ScheduleCallback,
)


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

    def silence_reply(self) -> str:
        """The line for a silent turn; ends the call once the silences run out."""
        phrases = self.context.phrases
        if self.silences < self.context.max_silences:
            return phrases.still_there
        # Someone who spoke and then fell silent is treated as not interested (no retry); a
        # call where nobody ever spoke is retried like an unanswered one.
        outcome = Outcome.NOT_INTERESTED if self.caller_spoke else Outcome.NO_CONVERSATION
        self.end("silence", outcome)
        return phrases.silence_goodbye

    @property
    def at_turn_limit(self) -> bool:
        return self.turn >= self.context.max_turns

    def end_at_turn_limit(self) -> str:
        outcome = Outcome.NOT_INTERESTED if self.caller_spoke else Outcome.NO_CONVERSATION
        self.end("max_turns", outcome)
        return self.context.phrases.max_turns_close


class ConversationView:
    """The read side of the Agent protocol, shared by both agents: they differ in how they
    decide, not in how a call's state is kept."""

    _conversation: Conversation

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
