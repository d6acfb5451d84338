"""The LLM agent: any OpenAI-compatible chat API, streamed, behind the same `Agent` protocol.

Construction::

    agent = LLMAgent(script, context, LLMConfig(base_url=..., api_key=..., model=...))
    # tests and the pipeline may inject ``client=`` (an httpx.AsyncClient) or ``transport=``

Behaviour that is deliberately *not* left to the model:
- The opening line is the script's, rendered and spoken verbatim (no latency, reviewed text).
- Silence and the turn limit are handled locally with the scripted agent's lines.
- An opt-out the rule-based detector recognises is honoured locally before any request
  (``LLMConfig.opt_out_guard``): compliance must not depend on the model calling a tool.
- Any provider failure (HTTP error, malformed or truncated stream, timeouts) speaks
  ``phrases.trouble``, records an ``error`` event and ends the call with outcome
  ``no_conversation`` and reason ``agent_error``: the call failed on our side, so the campaign's
  retry policy decides, which matches "I'll call you another time".

Tools (`scripts.engine.tools`): the request offers the script's list (`tool_definitions`).
``send_digits`` presses keys through the pipeline's bound sender (`SendsKeys`) and its result
goes back like an HTTP tool's. The other built-in calls map onto the scripted agent's actions
and events: ``add_to_do_not_call`` (or
``mark_do_not_call``, its name before scripts listed tools) → `MarkDoNotCall` + do_not_call;
``schedule_callback`` → `ScheduleCallback` + callback_requested (an unusable ``at`` falls back
to the time in the caller's words, else None); ``end_call`` → its outcome (interested /
not_interested). When the model calls a built-in without saying anything, the agent supplies
the matching line so the caller always hears a goodbye. An HTTP tool call is run through the
injected `ToolRunner` (the filler line is streamed if it is slow), its result (or error) goes
back as a ``tool`` message and the model is asked again, at most `MAX_TOOL_ROUNDS` times a
turn; the last request offers no tools, so the caller hears words. Every call is a
``tool_called`` event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from scripts.engine.conversation import Conversation, ConversationView
from scripts.engine.intents import Intent, detect_intent
from scripts.engine.llm_prompt import (
    DO_NOT_CALL_NAMES,
    MARK_DO_NOT_CALL,
    system_message,
    tool_definitions,
)
from scripts.engine.llm_stream import (
    AgentError,
    AgentErrorKind,
    TextDelta,
    Timeouts,
    ToolCall,
    stream_chat,
)
from scripts.engine.placeholders import render
from scripts.engine.timeparse import describe_time, parse_callback_time
from scripts.engine.tools import (
    ADD_TO_DO_NOT_CALL,
    END_CALL,
    INTERRUPTED,
    SCHEDULE_CALLBACK,
    SEND_DIGITS,
    TRANSFER,
    ToolKind,
    ToolResult,
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
    Outcome,
    ScriptSpec,
    TransferReason,
)

logger = logging.getLogger(__name__)

# Rounds of HTTP tool calls one caller turn may take before the model must answer in words.
MAX_TOOL_ROUNDS = 3
DO_NOT_CALL = ADD_TO_DO_NOT_CALL


def _after(spoken: list[str], text: str) -> str:
    """``text`` to stream after what the turn already said: a space between them, so the
    transcript does not read "check.One moment"."""
    if spoken and spoken[-1] and not spoken[-1][-1].isspace() and not text[:1].isspace():
        return f" {text}"
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMConfig:
    base_url: str  # "https://api.example.com" or ".../v1"; /v1/chat/completions is appended
    api_key: str = field(repr=False)
    model: str
    timeouts: Timeouts = field(default_factory=Timeouts)
    temperature: float | None = None
    max_tokens: int | None = None
    opt_out_guard: bool = True

    @property
    def completions_url(self) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


class LLMAgent(ConversationView):
    def __init__(
        self,
        script: ScriptSpec,
        context: CallContext,
        config: LLMConfig,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tools: ToolRunner | None = None,
    ) -> None:
        self.script = script
        self._tools = tools
        self.context = context
        self.config = config
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            transport=transport, timeout=config.timeouts.httpx()
        )
        self._conversation = Conversation(context)
        self._opening = render(script.opening_line, context.variables)
        self._closing = render(script.closing_line, context.variables)
        # The keypad prompt follows the opening, and the script's map decides what a key does
        # (`Conversation.press_key`), as with the scripted agent: a key is never a guess.
        self._keypad = {key.digit: key.action for key in script.keypad}
        self._prompt = ""
        self._opening_only = self._opening
        if (self._keypad or script.keypad_entry is not None) and script.keypad_prompt:
            self._prompt = render(script.keypad_prompt, context.variables)
            self._opening = f"{self._opening} {self._prompt}".strip()
        self._last_line = self._opening
        self._system = system_message(script, context, now=context.local_now())
        self._history: list[dict[str, Any]] = []

    # -- Agent protocol -----------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat history as it would be sent next (system message first)."""
        return [{"role": "system", "content": self._system}, *self._history]

    def known_lines(self) -> list[list[str]]:
        """What this agent says without the model (`ScriptedAgent.known_lines`): the opening
        and the silence lines."""
        phrases = self.context.phrases
        lines = [
            self._opening,  # streamed whole, as `opening()` does
            self._opening_only,
            self._prompt,
            phrases.still_there,
            phrases.silence_goodbye,
            phrases.max_turns_close,
        ]
        if has_http_tools(self.script):
            # Said exactly when a tool is slow: ready in the TTS cache, it adds no wait itself.
            lines.append(phrases.tool_filler)
        return [[line] for line in lines if line]

    async def opening(self) -> AsyncIterator[str]:
        self._history.append({"role": "assistant", "content": self._opening})
        self._conversation.said(self._opening)
        yield self._opening

    async def reply(self, heard: str | None) -> AsyncIterator[str]:
        conversation = self._conversation
        text = conversation.begin_turn(heard)
        if text is None:
            line = conversation.silence_reply()
            if not conversation.finished and conversation.at_turn_limit:
                line = conversation.end_at_turn_limit()
            self._history.append({"role": "assistant", "content": line})
            conversation.said(line)
            yield line
            return
        self._history.append({"role": "user", "content": text})
        if self.config.opt_out_guard and detect_intent(text).intent is Intent.OPT_OUT:
            line = self.context.phrases.opt_out_confirmation
            conversation.mark_do_not_call()
            conversation.end(EndReason.OPTED_OUT, Outcome.DO_NOT_CALL)
            self._history.append({"role": "assistant", "content": line})
            conversation.said(line)
            yield line
            return
        # Closed with this generator (a barge-in): the answer's own cleanup runs at once.
        async with aclosing(self._answer(text)) as pieces:
            async for piece in pieces:
                yield piece

    async def entered(self, digits: str) -> AsyncIterator[str]:
        """A number the caller typed (`TakesEntries`): one user turn the model answers."""
        entry = self.script.keypad_entry
        name = entry.name if entry is not None else "digits"
        self._conversation.enter_digits(name, digits)
        text = f"[entered {digits}]"
        self._history.append({"role": "user", "content": text})
        # Closed with this generator (a barge-in): the answer's own cleanup runs at once.
        async with aclosing(self._answer(text)) as pieces:
            async for piece in pieces:
                yield piece

    async def _answer(self, text: str) -> AsyncGenerator[str, None]:
        """The model's answer to the user turn just added to the history (tool rounds
        included)."""
        conversation = self._conversation
        spoken: list[str] = []
        completed = False
        try:
            for round_number in range(MAX_TOOL_ROUNDS + 1):
                round_text: list[str] = []
                calls: list[ToolCall] = []
                try:
                    # The last round offers no tools: a model that keeps calling them must
                    # answer the caller in the end.
                    offer_tools = round_number < MAX_TOOL_ROUNDS
                    async for item in stream_chat(
                        self._client,
                        url=self.config.completions_url,
                        headers={"Authorization": f"Bearer {self.config.api_key}"},
                        body=self._request_body(offer_tools=offer_tools),
                        timeouts=self.config.timeouts,
                    ):
                        if isinstance(item, TextDelta):
                            piece = _after(spoken, item.text) if not round_text else item.text
                            round_text.append(item.text)
                            spoken.append(piece)
                            yield piece
                        else:
                            calls = item.calls
                    if not round_text and not calls:
                        raise AgentError(AgentErrorKind.EMPTY_REPLY, "no text and no tool call")
                except AgentError as error:
                    line = self._fail(error)
                    spoken.append(_after(spoken, line))
                    yield spoken[-1]
                    completed = True
                    return
                said = "".join(round_text).strip()
                self._history.append(self._assistant_message(said, calls))
                answered: list[ToolCall] = []
                for call in calls:
                    if self._is_builtin(call.name) and call.name != SEND_DIGITS:
                        continue
                    # An HTTP tool, `send_digits`, or a name the script does not offer: the
                    # model reads the result (or the error) and answers in another round.
                    async for step in self._run_tool(call):
                        if isinstance(step, str):
                            spoken.append(_after(spoken, step))
                            yield spoken[-1]
                    answered.append(call)
                builtins = [call for call in calls if call not in answered]
                extra = self._apply_tools(builtins, said=said, heard=text)
                if not conversation.finished and conversation.at_turn_limit and not answered:
                    extra = conversation.end_at_turn_limit()
                if extra:
                    spoken.append(_after(spoken, extra))
                    yield spoken[-1]
                if conversation.finished or not answered:
                    break
            completed = True
        finally:
            # Also runs when the pipeline closes the generator on barge-in: the transcript
            # keeps what was actually streamed to speech.
            said = "".join(spoken).strip()
            if not completed:
                self._answer_open_calls()
                self._history.append({"role": "assistant", "content": said})
                if said:
                    conversation.emit(EventKind.SAID, text=said, interrupted=True)
            else:
                conversation.said(said)
                self._last_line = said or self._last_line

    # -- the keypad (`HearsKeys`) -------------------------------------------------------------

    def answers_key(self, digit: str) -> bool:
        return digit in self._keypad and not self.finished

    async def press(self, digit: str) -> AsyncIterator[str]:
        line = self._conversation.press_key(
            digit,
            self._keypad[digit],
            closing=self._closing,
            last_line=self._last_line,
            transfer=self.script.transfer,
        )
        # The model sees the key and the answer, so a later turn reads in context.
        self._history.append({"role": "user", "content": f"[pressed {digit}]"})
        self._history.append({"role": "assistant", "content": line})
        self._last_line = line
        yield line

    # -- the keypad prompt after a recording disclosure (`PromptsKeys`) -----------------------

    def defer_keypad_prompt(self) -> bool:
        if not self._prompt:
            return False
        self._opening = self._opening_only
        return True

    async def keypad_prompt(self) -> AsyncIterator[str]:
        self._history.append({"role": "assistant", "content": self._prompt})
        self._conversation.said(self._prompt)
        self._last_line = f"{self._opening_only} {self._prompt}"
        yield self._prompt

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _request_body(self, *, offer_tools: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": self.messages,
            "stream": True,
            # The last chunk then carries the reply's token counts (`sessions.costs`).
            "stream_options": {"include_usage": True},
        }
        tools = tool_definitions(self.script)
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto" if offer_tools else "none"
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            body["max_tokens"] = self.config.max_tokens
        return body

    def _fail(self, error: AgentError) -> str:
        # Never the API key or the transcript in logs: kind and status are enough to triage.
        logger.warning("llm_agent_error kind=%s status=%s", error.kind.value, error.status)
        conversation = self._conversation
        conversation.emit(
            EventKind.ERROR, code=error.kind.value, message=str(error), status=error.status
        )
        conversation.end(EndReason.AGENT_ERROR, Outcome.NO_CONVERSATION)
        line = self.context.phrases.trouble
        self._history.append({"role": "assistant", "content": line})
        return line

    @staticmethod
    def _assistant_message(said: str, calls: list[ToolCall]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": said or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.raw_arguments or "{}"},
                }
                for call in calls
            ]
        return message

    def _is_builtin(self, name: str) -> bool:
        if self.script.tools is None:
            return name in (END_CALL, SCHEDULE_CALLBACK, MARK_DO_NOT_CALL)
        tool = self.script.tool(name)
        return tool is not None and tool.kind is ToolKind.BUILTIN

    async def _run_tool(self, call: ToolCall) -> AsyncIterator[str]:
        """Run one HTTP tool (the filler line is yielded while it is slow); record it and give
        the model its result, or an error it can act on."""
        tool = self.script.tool(call.name)
        if tool is None:
            result = ToolResult(False, error=f"There is no tool named {call.name!r}.")
        else:
            # What stands if the caller cuts in while the tool runs (the reply is closed).
            result = ToolResult(False, error=INTERRUPTED)
        try:
            if tool is not None and tool.kind is ToolKind.BUILTIN:
                # `send_digits`: the keys are queued on the call at once (no filler).
                result = press_digits(self._digit_sender, tool, call.arguments)
            elif tool is not None:
                async for step in with_filler(
                    run_tool(self._tools, tool, call.arguments, call_id=call.id),
                    filler=self.context.phrases.tool_filler,
                ):
                    if isinstance(step, ToolResult):
                        result = step
                    else:
                        yield step
        finally:
            self._conversation.emit(
                EventKind.TOOL_CALLED,
                id=call.id,
                name=call.name,
                tool_kind=(tool.kind if tool is not None else ToolKind.HTTP).value,
                arguments=call.arguments,
                **result.record(),
            )
            self._history.append(
                {"role": "tool", "tool_call_id": call.id, "content": result.for_model()}
            )

    def _answer_open_calls(self) -> None:
        """Every tool call of the last assistant message gets its ``tool`` message: the API
        refuses a history where one is missing, which a barge-in during a tool round would
        otherwise leave behind (and the next turn would fail)."""
        for index in range(len(self._history) - 1, -1, -1):
            message = self._history[index]
            if message.get("role") != "assistant":
                continue
            answered = {
                later.get("tool_call_id")
                for later in self._history[index + 1 :]
                if later.get("role") == "tool"
            }
            for call in message.get("tool_calls") or ():
                if call["id"] not in answered:
                    content = ToolResult(False, error=INTERRUPTED).for_model()
                    self._history.append(
                        {"role": "tool", "tool_call_id": call["id"], "content": content}
                    )
            return

    def _apply_tools(self, calls: list[ToolCall], *, said: str, heard: str) -> str:
        """Apply built-in tool calls (opt-out, then callback, then end); returns any line to
        add."""
        conversation = self._conversation
        phrases = self.context.phrases
        by_name: dict[str, ToolCall] = {}
        for call in calls:
            conversation.emit(
                EventKind.TOOL_CALLED,
                id=call.id,
                name=call.name,
                tool_kind=ToolKind.BUILTIN.value,
                arguments=call.arguments,
                **ToolResult(True, "ok").record(),
            )
            self._history.append({"role": "tool", "tool_call_id": call.id, "content": "ok"})
            by_name.setdefault(DO_NOT_CALL if call.name in DO_NOT_CALL_NAMES else call.name, call)
        if TRANSFER in by_name and self.script.transfer is not None:
            line = conversation.transfer(self.script.transfer, TransferReason.TOOL)
            return "" if said else line
        if DO_NOT_CALL in by_name:
            conversation.mark_do_not_call()
            conversation.end(EndReason.OPTED_OUT, Outcome.DO_NOT_CALL)
            return "" if said else phrases.opt_out_confirmation
        if SCHEDULE_CALLBACK in by_name:
            now = self.context.local_now()
            at = self._callback_time(by_name[SCHEDULE_CALLBACK].arguments.get("at"), heard, now)
            conversation.schedule_callback(at)
            conversation.end(EndReason.CALLBACK_SCHEDULED, Outcome.CALLBACK_REQUESTED)
            if said:
                return ""
            if at is None:
                return phrases.callback_unspecified
            return phrases.callback_confirmation.format(when=describe_time(at, now=now))
        if END_CALL in by_name:
            arguments = by_name[END_CALL].arguments
            try:
                outcome = Outcome(str(arguments.get("outcome")))
            except ValueError:
                outcome = Outcome.NOT_INTERESTED
            conversation.end(
                EndReason.MODEL_ENDED, outcome, model_reason=str(arguments.get("reason", ""))
            )
            if said:
                return ""
            return self._closing if outcome is Outcome.INTERESTED else phrases.polite_close
        return ""

    def _callback_time(self, value: object, heard: str, now: datetime) -> datetime | None:
        """The model's ISO time if usable (future, zone-aware), else the caller's own words."""
        zone = self.context.zone
        if isinstance(value, str):
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                at = None
            if at is not None:
                at = at.replace(tzinfo=zone) if at.tzinfo is None else at.astimezone(zone)
                if at > now:
                    return at
        return parse_callback_time(heard, now=now, timezone=zone)
