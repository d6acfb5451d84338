"""The scripted agent: a deterministic, turn-by-turn state machine over a `ScriptSpec`.

Each caller turn is decided in this order (first match wins):

=====================  ======================================================  ==================
caller                 agent says                                              outcome / actions
=====================  ======================================================  ==================
silence                "Are you still there?"; after ``max_silences`` in a     no_conversation if
                       row: goodbye                                            never spoke, else
                                                                               not_interested
opt-out                opt-out confirmation                                    do_not_call,
                                                                               MarkDoNotCall
callback with time     "I'll call you back tomorrow at 3:00 PM"                callback_requested
callback, no time      asks once "When is a good time?"; any answer but a      callback_requested
                       refusal or opt-out then schedules (at=None if no time)  (at may be None)
objection (trigger)    its response; a trigger used before, or a third         not_interested on
                       objection in a row → polite close. Beats agreement      close
                       and refusal: "sure, but it's too expensive" and "no,
                       it's too expensive" both get the rebuttal once. A
                       response that asks nothing hands the turn back with
                       the opening's question, unless it is a goodbye or
                       answers a refusal: then it is the agent's last line
agreement              the script's closing line                               interested
refusal                polite close                                            not_interested
"are you a robot?"     honest disclosure + steer back                          —
"who is this?"         who is calling and why (the opening without its         —
                       greeting), ending with the opening's question
"yes, speaking"        "Great, thanks." + the pitch again (what the opening    —
                       says after who is calling)
"hello?"               "Hello!" + who is calling and why                       —
"say that again?"      repeats the last line                                   —
other question         "a specialist can go through that" + the question       —
anything else          short steer back to the call's goal                     —
=====================  ======================================================  ==================

The opening line is read once into its parts (`OpeningParts`): a greeting ("Hi Jane,"), who is
calling ("this is Anna from Acme Solar"), why, and the question it ends with. When it does not
say who is calling, ``{{agent_name}}``/``{{business_name}}`` do.

Tool rules (`ScriptSpec.tool_rules`): before deciding a turn as above, the first unused rule
whose intent matches calls its HTTP tool through the injected `ToolRunner`, or presses keys
(the ``send_digits`` built-in, through the pipeline's sender) (in `reply` only;
the synchronous `respond` runs no tools). On success the rule's ``say`` line (filled from the
tool's answer) comes before the reply; on failure ``phrases.tool_failed`` does. The filler line
is spoken first if the tool is slow. Each rule fires once a call.

After ``max_turns`` caller turns without an ending, the agent closes politely instead of
steering (not_interested, or no_conversation if the caller never said more than hello or "who is
this?").
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scripts.engine.agent import split_speakable
from scripts.engine.conversation import Conversation, ConversationView
from scripts.engine.intents import Intent, IntentResult, confirms_identity, detect_intent
from scripts.engine.matching import DEFAULT_THRESHOLD, TriggerMatcher
from scripts.engine.placeholders import render
from scripts.engine.timeparse import describe_time, parse_callback_time
from scripts.engine.tools import (
    INTERRUPTED,
    ToolKind,
    ToolResult,
    ToolRule,
    ToolRunner,
    has_http_tools,
    press_digits,
    run_tool,
    with_filler,
)
from scripts.engine.types import (
    CallContext,
    EndReason,
    EventKind,
    KeypadAction,
    Outcome,
    ScriptSpec,
    TransferReason,
)

MAX_OBJECTIONS_IN_A_ROW = 3

_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening|day))\b[^,.!?;:]{0,40}[,.!?;:]\s*",
    re.IGNORECASE,
)
_INTRODUCTION = re.compile(
    r"\b(?:this is|it's|it is|my name is|i'm|i am|calling (?:from|on behalf of)|here from)\b",
    re.IGNORECASE,
)
_FAREWELL = re.compile(
    r"\b(?:good ?bye|bye|farewell|take care|have a (?:good|great|nice|lovely|wonderful) "
    r"(?:day|evening|afternoon|morning|one|weekend))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class OpeningParts:
    """The rendered opening line, taken apart: ``greeting`` ("Hi Jane,"), ``introduction``
    (who is calling), ``purpose`` (why) and ``question`` (what it asks). Any may be empty."""

    greeting: str
    introduction: str
    purpose: str
    question: str

    @property
    def pitch(self) -> str:
        """Why we call and what we ask."""
        return _join(self.purpose, self.question)


# "Can I talk to a person?", "let me speak with someone", "is there a real human?".
_ASKS_FOR_PERSON = re.compile(
    r"\b(?:talk|speak|chat)(?:ing)? (?:to|with) (?:a |an |some |the |your )?"
    r"(?:real |live |actual )?(?:person|human|someone|somebody|agent|representative|rep|manager)\b"
    r"|\b(?:real|live|actual) (?:person|human)\b"
)


def asks_for_person(text: str) -> bool:
    """The caller asks to talk to a person (a transfer script's ``on_request``)."""
    return _ASKS_FOR_PERSON.search(text.lower()) is not None


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def split_opening(opening: str) -> OpeningParts:
    greeting = ""
    body = opening.strip()
    match = _GREETING.match(body)
    if match and match.end() < len(body):
        greeting, body = match.group(0).strip(), _capitalise(body[match.end() :])
    sentences = split_speakable(body, max_chars=10_000)
    question = ""
    if sentences and sentences[-1].endswith("?"):
        question = sentences.pop()
        head, comma, tail = question.rpartition(", ")
        if comma and _INTRODUCTION.search(head):
            # "It's Sam from Anvil Solar, want to hear about our plan?"
            sentences.append(head + ".")
            question = _capitalise(tail)
    introduction: list[str] = []
    while sentences and _INTRODUCTION.search(sentences[0]):
        introduction.append(sentences.pop(0))
    return OpeningParts(greeting, " ".join(introduction), " ".join(sentences), question)


def _rendered(arguments: Mapping[str, Any], variables: Mapping[str, object]) -> dict[str, Any]:
    """A rule's arguments with ``{{placeholders}}`` in its strings filled from the call."""
    return {
        key: render(value, variables) if isinstance(value, str) else value
        for key, value in arguments.items()
    }


def _pieces(line: str) -> list[str]:
    """What the agent streams for a line: its sentences."""
    return split_speakable(line)


def _who_is_calling(variables: Mapping[str, object], template: str) -> str:
    agent = str(variables.get("agent_name") or "").strip()
    business = str(variables.get("business_name") or "").strip()
    if agent and business:
        return f"This is {agent}, calling from {business}."
    if business:
        return template.format(business=business)
    return f"This is {agent}." if agent else ""


class ScriptedAgent(ConversationView):
    def __init__(
        self,
        script: ScriptSpec,
        context: CallContext,
        *,
        match_threshold: float = DEFAULT_THRESHOLD,
        tools: ToolRunner | None = None,
    ) -> None:
        self.script = script
        self.context = context
        self._tools = tools
        self._used_rules: set[int] = set()
        self._conversation = Conversation(context)
        # Render every line up front: a broken placeholder fails before anyone is dialled.
        variables = context.variables
        self._opening = render(script.opening_line, variables)
        self._closing = render(script.closing_line, variables)
        self._responses = [render(item.response, variables) for item in script.objection_responses]
        self._matcher = TriggerMatcher(
            [render(item.trigger, variables) for item in script.objection_responses],
            threshold=match_threshold,
        )
        self._parts = split_opening(self._opening)
        phrases = context.phrases
        who = self._parts.introduction or _who_is_calling(variables, phrases.calling_from)
        self._question = self._parts.question or phrases.ask_again
        # "Who is this?": who is calling and why, then the question again.
        self._identity = _join(who, self._parts.purpose, self._question)
        self._used_triggers: set[int] = set()
        # Objection triggers (as rendered) the script sends to a person instead of rebutting.
        self._transfer_triggers = {
            render(trigger, variables)
            for trigger in (script.transfer.on_objections if script.transfer else ())
        }
        self._objections_in_a_row = 0
        self._awaiting_callback_time = False
        # The keypad prompt follows the opening: the opening's question stays its last sentence
        # for `split_opening`, and the caller hears which keys do what before answering.
        self._keypad = {key.digit: key.action for key in script.keypad}
        asks = self._keypad or script.keypad_entry is not None
        self._prompt = render(script.keypad_prompt, variables) if asks else ""
        self._said_first = _join(self._opening, self._prompt)
        self._last_line = self._said_first

    # -- Agent protocol -----------------------------------------------------------------------

    async def opening(self) -> AsyncIterator[str]:
        for piece in _pieces(self.start()):
            yield piece

    async def reply(self, heard: str | None) -> AsyncIterator[str]:
        text, result = self._begin(heard)
        rule = self._rule_for(result)
        filler, tool_line = "", ""
        if rule is not None:
            async for step in self._run_rule(rule):
                if isinstance(step, ToolResult):
                    tool_line = self._tool_line(rule, step)
                else:
                    filler = step.strip()
                    yield step
        for piece in _pieces(self._conclude(text, result, tool_line=tool_line, filler=filler)):
            yield piece

    # -- the keypad (`HearsKeys`) -------------------------------------------------------------

    def answers_key(self, digit: str) -> bool:
        """True when the script maps `digit`: the pipeline hands it over (and stops talking)."""
        return digit in self._keypad and not self.finished

    async def press(self, digit: str) -> AsyncIterator[str]:
        for piece in _pieces(self.respond_to_key(digit)):
            yield piece

    # -- a typed number (`TakesEntries`) ------------------------------------------------------

    async def entered(self, digits: str) -> AsyncIterator[str]:
        for piece in _pieces(self.respond_to_entry(digits)):
            yield piece

    def respond_to_entry(self, digits: str) -> str:
        """Decide a caller turn that is a number they typed: the script's ``say`` line (the
        digits in ``{{<name>}}`` / ``{{digits}}``), then the opening's question unless the
        line asks one itself."""
        entry = self.script.keypad_entry
        name = entry.name if entry is not None else "digits"
        conversation = self._conversation
        conversation.enter_digits(name, digits)
        if entry is not None and entry.say:
            values = {**self.context.variables, "digits": digits, name: digits}
            said = render(entry.say, values)
        else:
            said = self.context.phrases.entry_received
        line = said if "?" in said else _join(said, self._question)
        if not conversation.finished and conversation.at_turn_limit:
            line = conversation.end_at_turn_limit()
        conversation.said(line)
        self._last_line = line
        return line

    # -- the keypad prompt after a recording disclosure (`PromptsKeys`) -----------------------

    def defer_keypad_prompt(self) -> bool:
        if not self._prompt:
            return False
        self._said_first = self._opening
        return True

    async def keypad_prompt(self) -> AsyncIterator[str]:
        self._conversation.said(self._prompt)
        self._last_line = _join(self._opening, self._prompt)
        for piece in _pieces(self._prompt):
            yield piece

    def known_lines(self) -> list[list[str]]:
        """The lines this agent can say to this contact without hearing anything new, each as
        the pieces `opening()`/`reply()` stream for it, opening first, then the closing, the
        objection responses (as each may end) and the fixed phrases. Rendered as the call will
        say them, so a voice can synthesise them ahead (the TTS cache). Changes nothing.

        Missing: a callback confirmation (it names the time the caller asked for)."""
        phrases = self.context.phrases
        question, pitch = self._question, self._parts.pitch or self._question
        lines = [self._said_first, self._closing]
        if self._prompt:
            # Either way round: the prompt may be said on its own, after a disclosure.
            lines += [self._opening, self._prompt]
        for response in self._responses:
            if "?" in response or _FAREWELL.search(response):
                lines.append(response)
            else:
                lines += [_join(response, question), _join(response, phrases.goodbye)]
        lines += [
            phrases.polite_close,
            _join(phrases.hello_again, self._identity),
            self._identity,
            _join(phrases.identity_confirmed, pitch),
            _join(phrases.question_deferred, question),
            phrases.steer,
            _join(phrases.ai_disclosure, phrases.steer),
            phrases.still_there,
            phrases.silence_goodbye,
            phrases.ask_callback_time,
            phrases.callback_unspecified,
            phrases.opt_out_confirmation,
            phrases.max_turns_close,
        ]
        if has_http_tools(self.script):
            lines += [phrases.tool_filler, phrases.tool_failed]
        return [_pieces(line) for line in dict.fromkeys(lines) if line]

    async def aclose(self) -> None:
        return None

    # -- synchronous core ---------------------------------------------------------------------

    def start(self) -> str:
        """The rendered opening line (turn 0), and the keypad prompt after it."""
        self._conversation.said(self._said_first)
        return self._said_first

    def respond_to_key(self, digit: str) -> str:
        """Decide a caller turn that is a key the script maps; what the agent says back."""
        action = self._keypad[digit]
        line = self._conversation.press_key(
            digit,
            action,
            closing=self._closing,
            last_line=self._last_line,
            transfer=self.script.transfer,
        )
        if action is KeypadAction.CALLBACK:
            self._awaiting_callback_time = True
            self._objections_in_a_row = 0
        self._last_line = line
        return line

    def respond(self, heard: str | None) -> str:
        """Decide one caller turn and return everything the agent says in reply. Synchronous,
        so it runs no tools: `reply` applies the script's tool rules."""
        text, result = self._begin(heard)
        return self._conclude(text, result)

    def _begin(self, heard: str | None) -> tuple[str | None, IntentResult | None]:
        """Start the caller's turn: their words and what they mean (None for silence)."""
        conversation = self._conversation
        text = conversation.begin_turn(heard)
        if text is None:
            return None, None
        result = detect_intent(text, now=self._now(), timezone=self.context.zone)
        conversation.emit(EventKind.INTENT, intent=result.intent.value)
        return text, result

    def _conclude(
        self,
        text: str | None,
        result: IntentResult | None,
        *,
        tool_line: str = "",
        filler: str = "",
    ) -> str:
        """Decide the reply; returns what is left to say (the filler was said already)."""
        conversation = self._conversation
        if text is None or result is None:
            line = conversation.silence_reply()
        else:
            line = _join(tool_line, self._decide(text, result))
        if not conversation.finished and conversation.at_turn_limit:
            line = conversation.end_at_turn_limit()
        conversation.said(_join(filler, line))
        self._last_line = line
        return line

    # -- tool rules ---------------------------------------------------------------------------

    def _rule_for(self, result: IntentResult | None) -> ToolRule | None:
        """The first unused rule for this intent whose tool the script offers (each fires
        once a call: a booking is not made twice because the caller said yes twice)."""
        if result is None:
            return None
        for index, rule in enumerate(self.script.tool_rules):
            if index in self._used_rules or rule.intent != result.intent.value:
                continue
            if self.script.tool(rule.tool) is not None:
                self._used_rules.add(index)
                return rule
        return None

    async def _run_rule(self, rule: ToolRule) -> AsyncIterator[str | ToolResult]:
        tool = self.script.tool(rule.tool)
        assert tool is not None  # `_rule_for` checked
        arguments = _rendered(rule.arguments, self.context.variables)
        call_id = f"rule_{self._conversation.turn}_{rule.tool}"
        result = ToolResult(False, error=INTERRUPTED)  # unless it answers
        try:
            if tool.kind is ToolKind.BUILTIN:
                # `send_digits` (the only built-in a rule may name): queued on the call at once.
                result = press_digits(self._digit_sender, tool, arguments)
                yield result
                return
            async for step in with_filler(
                run_tool(self._tools, tool, arguments, call_id=call_id),
                filler=self.context.phrases.tool_filler,
            ):
                if isinstance(step, ToolResult):
                    result = step
                yield step
        finally:
            self._conversation.emit(
                EventKind.TOOL_CALLED,
                id=call_id,
                name=tool.name,
                tool_kind=tool.kind.value,
                arguments=arguments,
                **result.record(),
            )

    def _tool_line(self, rule: ToolRule, result: ToolResult) -> str:
        if not result.ok:
            return self.context.phrases.tool_failed
        values: dict[str, object] = dict(self.context.variables)
        if isinstance(result.value, Mapping):
            values.update({str(key): value for key, value in result.value.items()})
        return render(rule.say, values) if rule.say else ""

    def _now(self) -> datetime:
        return self.context.local_now()

    def _decide(self, text: str, result: IntentResult) -> str:
        conversation = self._conversation
        phrases = self.context.phrases
        now = self._now()
        intent = result.intent

        if intent is Intent.OPT_OUT:
            conversation.mark_do_not_call()
            conversation.end(EndReason.OPTED_OUT, Outcome.DO_NOT_CALL)
            return phrases.opt_out_confirmation

        callback_at = result.callback_at
        if callback_at is None and self._awaiting_callback_time:
            # The answer to "when is a good time?" may be just "Friday at 4".
            callback_at = parse_callback_time(text, now=now, timezone=self.context.zone)
        if callback_at is not None:
            return self._schedule(callback_at, now)
        if self._awaiting_callback_time:
            # Asked once already; whatever else the answer is, only a refusal cancels the
            # callback. No usable time: the campaign's retry delay decides.
            if intent is Intent.REFUSAL:
                return self._close(EndReason.REFUSED)
            return self._schedule(None, now)
        if intent is Intent.CALLBACK:
            self._awaiting_callback_time = True
            self._objections_in_a_row = 0
            return phrases.ask_callback_time

        transfer = self.script.transfer
        if transfer is not None and transfer.on_request and asks_for_person(text):
            return conversation.transfer(transfer, TransferReason.REQUEST)

        # A named objection beats a "yes" or a "no": the script's rebuttal gets one chance.
        match = self._matcher.match(text)
        if match is not None:
            conversation.emit(EventKind.OBJECTION_MATCHED, trigger=match.trigger, score=match.score)
            if transfer is not None and match.trigger in self._transfer_triggers:
                return conversation.transfer(transfer, TransferReason.OBJECTION)
            self._objections_in_a_row += 1
            if match.index in self._used_triggers:
                return self._close(EndReason.OBJECTION_REPEATED)
            if self._objections_in_a_row >= MAX_OBJECTIONS_IN_A_ROW:
                return self._close(EndReason.TOO_MANY_OBJECTIONS)
            self._used_triggers.add(match.index)
            return self._rebut(self._responses[match.index], refused=intent is Intent.REFUSAL)
        self._objections_in_a_row = 0

        if intent is Intent.AGREEMENT:
            if transfer is not None and transfer.on_agreement:
                return conversation.transfer(transfer, TransferReason.AGREEMENT)
            conversation.end(EndReason.AGREED, Outcome.INTERESTED)
            return self._closing
        if intent is Intent.REFUSAL:
            return self._close(EndReason.REFUSED)
        if intent is Intent.ASKS_IF_AI:
            return f"{phrases.ai_disclosure} {phrases.steer}"
        if intent is Intent.ASKS_WHO:
            return self._identity
        if intent is Intent.GREETING:
            if confirms_identity(text):
                # "Yes, speaking.": they are who we asked for; go on with the pitch.
                return _join(phrases.identity_confirmed, self._parts.pitch or self._question)
            return _join(phrases.hello_again, self._identity)
        if intent is Intent.REPEAT_REQUEST:
            return self._last_line
        if intent is Intent.QUESTION:
            return _join(phrases.question_deferred, self._question)
        return phrases.steer

    def _rebut(self, response: str, *, refused: bool) -> str:
        """The script's answer to an objection. One that asks nothing must not leave the caller
        waiting in silence: a goodbye, or the answer to a refusal, is the agent's last line (the
        call ends after it); otherwise the opening's question hands the turn back."""
        if "?" in response:
            return response
        if _FAREWELL.search(response):
            self._conversation.end(EndReason.OBJECTION_CLOSED, Outcome.NOT_INTERESTED)
            return response
        if refused:
            self._conversation.end(EndReason.OBJECTION_CLOSED, Outcome.NOT_INTERESTED)
            return _join(response, self.context.phrases.goodbye)
        return _join(response, self._question)

    def _schedule(self, at: datetime | None, now: datetime) -> str:
        conversation = self._conversation
        conversation.schedule_callback(at)
        conversation.end(EndReason.CALLBACK_SCHEDULED, Outcome.CALLBACK_REQUESTED)
        phrases = self.context.phrases
        if at is None:
            return phrases.callback_unspecified
        return phrases.callback_confirmation.format(when=describe_time(at, now=now))

    def _close(self, reason: EndReason) -> str:
        self._conversation.end(reason, Outcome.NOT_INTERESTED)
        return self.context.phrases.polite_close
