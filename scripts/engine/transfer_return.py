"""The agent a caller comes back to when a warm transfer found nobody (issue 16).

The caller waited on hold while the person was called; nobody took the call, so the carrier
moved them back to a new media stream, and this agent takes over the conversation: it says so,
offers a callback, and ends on the answer. A yes, or a time ("tomorrow at 3"), schedules the
callback (the script engine's time parsing, in the contact's zone); a no ends the call politely
with the outcome the call had earned before the transfer (`interested`: they wanted a person;
`not_interested` when the script transferred on an objection); asking to be taken off the
list is honoured as anywhere else; silence or an answer that is neither, asked twice, is taken
as a yes without a time (they wanted a person: the campaign's retry delay decides when).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from scripts.engine.agent import split_speakable
from scripts.engine.conversation import Conversation, ConversationView
from scripts.engine.intents import Intent, detect_intent
from scripts.engine.timeparse import describe_time, parse_callback_time
from scripts.engine.types import CallContext, EventKind, Outcome, TransferReason

NOBODY_AVAILABLE = (
    "I'm sorry, nobody could take your call right now. Would you like us to call you back?"
)
ASK_AGAIN = "Sorry, I didn't catch that. Would you like us to call you back?"
CALLBACK_SOON = "Of course. We'll call you back as soon as someone is free. Goodbye."
CALLBACK_AT = "Of course. We'll call you back {when}. Goodbye."
DECLINED = "No problem. Thank you for your time. Goodbye."
OPTED_OUT = "Understood. We won't call you again. Goodbye."
# How many times the offer is put before an unclear answer counts as a yes.
OFFERS = 2


class TransferReturnAgent(ConversationView):
    """Implements `scripts.engine.Agent` for the call's last part after an unanswered warm
    transfer; `reason` is the transfer's (`TransferReason` value), for the outcome of a no."""

    def __init__(self, context: CallContext, *, reason: str = "") -> None:
        self.context = context
        self._conversation = Conversation(context)
        self._reason = reason
        self._offers = 1

    def known_lines(self) -> list[list[str]]:
        return [
            split_speakable(line) for line in (NOBODY_AVAILABLE, ASK_AGAIN, CALLBACK_SOON, DECLINED)
        ]

    async def opening(self) -> AsyncIterator[str]:
        self._conversation.said(NOBODY_AVAILABLE)
        for piece in split_speakable(NOBODY_AVAILABLE):
            yield piece

    async def reply(self, heard: str | None) -> AsyncIterator[str]:
        line = self.decide(heard)
        for piece in split_speakable(line):
            yield piece

    async def aclose(self) -> None:
        return None

    def decide(self, heard: str | None) -> str:
        """The caller's answer to the offer; what the agent says back (recorded)."""
        conversation = self._conversation
        text = conversation.begin_turn(heard)
        line = self._decide(text)
        conversation.said(line)
        return line

    def _decide(self, text: str | None) -> str:
        conversation = self._conversation
        now = self.context.local_now()
        if text is None:
            return self._again_or_schedule()
        result = detect_intent(text, now=now, timezone=self.context.zone)
        conversation.emit(EventKind.INTENT, intent=result.intent.value)
        if result.intent is Intent.OPT_OUT:
            conversation.mark_do_not_call()
            conversation.end("opted_out", Outcome.DO_NOT_CALL)
            return OPTED_OUT
        at = result.callback_at or parse_callback_time(text, now=now, timezone=self.context.zone)
        if at is not None:
            conversation.schedule_callback(at)
            conversation.end("callback_scheduled", Outcome.CALLBACK_REQUESTED)
            return CALLBACK_AT.format(when=describe_time(at, now=now))
        if result.intent in (Intent.AGREEMENT, Intent.CALLBACK):
            return self._schedule_soon()
        if result.intent is Intent.REFUSAL:
            # They wanted the person (said yes, pressed the key, asked for one): still
            # interested. A transfer on an objection was the script's way to answer a no.
            objected = self._reason == TransferReason.OBJECTION.value
            conversation.end(
                "callback_declined", Outcome.NOT_INTERESTED if objected else Outcome.INTERESTED
            )
            return DECLINED
        return self._again_or_schedule()

    def _again_or_schedule(self) -> str:
        if self._offers < OFFERS:
            self._offers += 1
            return ASK_AGAIN
        return self._schedule_soon()

    def _schedule_soon(self) -> str:
        self._conversation.schedule_callback(None)
        self._conversation.end("callback_scheduled", Outcome.CALLBACK_REQUESTED)
        return CALLBACK_SOON
