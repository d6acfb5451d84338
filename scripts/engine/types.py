"""Plain data shared by both agents: the script, the call's context, outcomes, events, actions.

Everything here is JSON-friendly (`EngineEvent.as_dict`, `AgentAction.as_dict`) so a session can
persist it without knowing the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scripts.engine.placeholders import PlaceholderError, render, validate_placeholders
from scripts.engine.tools import ToolRule, ToolSpec, tools_from_snapshot


class Outcome(StrEnum):
    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    CALLBACK_REQUESTED = "callback_requested"
    DO_NOT_CALL = "do_not_call"
    NO_CONVERSATION = "no_conversation"
    # A phone menu answered and no person was reached (issue 16 item 3): set by the pipeline.
    IVR_UNRESOLVED = "ivr_unresolved"
    # The agent handed the caller to a person (`TransferCall`); the session keeps the leg's
    # result (answered or not) on its `Transfer` row.
    TRANSFERRED = "transferred"


class Stance(StrEnum):
    """What the contact has made clear so far (`conversation.contact_stance`): what a call that
    ends before the agent decides is counted as."""

    NONE = "none"  # nothing yet: silence, "hello?", "who is this?", "yes, speaking"
    ENGAGED = "engaged"  # took part (questions, small talk), said no yes and no no
    NEGATIVE = "negative"  # refused, objected or asked not to be called


class EventKind(StrEnum):
    SAID = "said"  # {text}
    HEARD = "heard"  # {text}
    SILENCE = "silence"  # {count}: consecutive silent turns so far
    INTENT = "intent"  # {intent}: scripted agent only
    OBJECTION_MATCHED = "objection_matched"  # {trigger, score}
    CALLBACK_REQUESTED = "callback_requested"  # {at}: ISO-8601 with offset, or None
    OPTED_OUT = "opted_out"  # {}
    # {id, name, tool_kind, arguments, ok, result | error, latency_ms}: one per tool call
    TOOL_CALLED = "tool_called"
    KEYPAD = "keypad"  # {digit, action}: the caller pressed a key the script maps
    KEYPAD_ENTRY = "keypad_entry"  # {name, digits}: the caller typed the number asked for
    TRANSFER_REQUESTED = "transfer_requested"  # {mode, target, reason}
    ERROR = "error"  # {code, message, status}: LLM agent only
    ENDED = "ended"  # {reason, outcome}


class EndReason(StrEnum):
    AGREED = "agreed"
    REFUSED = "refused"
    OPTED_OUT = "opted_out"
    CALLBACK_SCHEDULED = "callback_scheduled"
    # The script's answer to an objection was its last word (a goodbye, or no question after
    # a refusal): the call ends after it.
    OBJECTION_CLOSED = "objection_closed"
    OBJECTION_REPEATED = "objection_repeated"
    TOO_MANY_OBJECTIONS = "too_many_objections"
    SILENCE = "silence"
    MAX_TURNS = "max_turns"
    AGENT_ERROR = "agent_error"
    # The LLM's own end_call; its free-text reason goes into the event next to this.
    MODEL_ENDED = "model_ended"
    # The caller pressed a key the script maps to "end" (e.g. "press 2 if this is not for you").
    KEYPAD_ENDED = "keypad_ended"
    # The agent handed the caller to the script's transfer target (`TransferCall`).
    TRANSFERRED = "transferred"


# The key that always means "stop calling me" (the live pipeline acts on it before any agent,
# `PipelineConfig.opt_out_digit`); a script's keypad may only give it the opt-out action.
OPT_OUT_DIGIT = "9"
KEYPAD_KEYS = "0123456789*#"


class KeypadAction(StrEnum):
    """What a key the caller presses does (a script's keypad; issue 16)."""

    INTERESTED = "interested"  # as "yes": the closing line, outcome interested
    CALLBACK = "callback"  # as "call me back": asks when
    OPT_OUT = "opt_out"  # as "take me off your list"
    REPEAT = "repeat"  # says the last line again
    END = "end"  # polite close, outcome not_interested
    TRANSFER = "transfer"  # "press 1 to talk to a person": the script's transfer target


@dataclass(frozen=True, slots=True)
class KeypadKey:
    digit: str
    action: KeypadAction

    def as_dict(self) -> dict[str, str]:
        return {"digit": self.digit, "action": self.action.value}


def _keypad(items: Iterable[Any]) -> tuple[KeypadKey, ...]:
    result: list[KeypadKey] = []
    for item in items:
        if isinstance(item, KeypadKey):
            result.append(item)
        else:
            result.append(KeypadKey(str(item["digit"]), KeypadAction(item["action"])))
    return tuple(result)


MAX_ENTRY_DIGITS = 32
ENTRY_END_KEYS = ("#", "*", "")
DEFAULT_ENTRY_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class KeypadEntry:
    """A number the script asks the caller to type ("enter your 5-digit zip code followed by
    #"; the script's keypad prompt asks). Keys are collected until ``end_key``, ``max_digits``
    keys, or ``timeout_seconds`` without a key, and reach the agent as one turn. The digits
    are stored as the session's ``extracted["keypad"][name]`` and fill ``{{name}}`` (and
    ``{{digits}}``) in ``say``, the scripted agent's line after the entry."""

    name: str
    max_digits: int = 0  # 0: no fixed length (the end key or the pause ends it)
    end_key: str = "#"  # "": no end key
    timeout_seconds: float = DEFAULT_ENTRY_TIMEOUT_SECONDS
    say: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "max_digits": self.max_digits,
            "end_key": self.end_key,
            "timeout_seconds": self.timeout_seconds,
            "say": self.say,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> KeypadEntry | None:
        if not data or not data.get("name"):
            return None
        return cls(
            name=str(data["name"]),
            max_digits=int(data.get("max_digits") or 0),
            end_key=str(data.get("end_key", "#") or ""),
            timeout_seconds=float(data.get("timeout_seconds") or DEFAULT_ENTRY_TIMEOUT_SECONDS),
            say=str(data.get("say") or ""),
        )


@dataclass(frozen=True, slots=True)
class EngineEvent:
    seq: int  # strictly increasing per call: the storage order
    turn: int  # 0 = opening; then one per caller utterance (silence included)
    kind: EventKind
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "turn": self.turn, "kind": self.kind.value, **self.data}


@dataclass(frozen=True, slots=True)
class EndCall:
    reason: str
    outcome: Outcome

    def as_dict(self) -> dict[str, Any]:
        return {"action": "end_call", "reason": self.reason, "outcome": self.outcome.value}


@dataclass(frozen=True, slots=True)
class ScheduleCallback:
    # None: the caller wants a callback but named no usable time; the campaign's retry delay
    # decides.
    at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"action": "schedule_callback", "at": self.at.isoformat() if self.at else None}


@dataclass(frozen=True, slots=True)
class MarkDoNotCall:
    def as_dict(self) -> dict[str, Any]:
        return {"action": "mark_do_not_call"}


class TransferMode(StrEnum):
    COLD = "cold"  # the caller is connected to the number and the agent leaves
    # The person hears a briefing (who, why, what was said) before the caller is connected.
    WARM = "warm"


class TransferTargetKind(StrEnum):
    """Who answers the transfer target: a person's own phone has a calling window (the legal
    hours at the number, as for the contacts we dial); a business line (a sales desk, a
    switchboard) is staffed and has none. A target is a person unless the script or campaign
    says it is a business: the cautious default."""

    PERSON = "person"
    BUSINESS = "business"


class TransferReason(StrEnum):
    """Why the agent transferred: which of the script's `TransferSpec` rules fired."""

    AGREEMENT = "agreement"
    REQUEST = "request"  # "can I talk to a person?"
    OBJECTION = "objection"
    KEYPAD = "keypad"
    TOOL = "tool"  # the LLM's `transfer` built-in
    STAFF = "staff"  # a staff member on the live monitor took the call ("transfer to me")


# A transfer target's leg rings this long by default before the caller is told nobody answered.
DEFAULT_TRANSFER_TIMEOUT_SECONDS = 20


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """Where a script (or its campaign, overriding the number) hands the caller over, and when.

    The number is validated when the script or campaign is saved (E.164, not on the do-not-call
    list) and again when the transfer happens (`sessions.transfers`)."""

    number: str
    mode: TransferMode = TransferMode.COLD
    timeout_seconds: int = DEFAULT_TRANSFER_TIMEOUT_SECONDS
    on_agreement: bool = False  # a "yes" is handed to the person instead of the closing line
    on_request: bool = True  # "can I talk to a person / a human / someone?"
    on_objections: tuple[str, ...] = ()  # objection triggers that go to a person instead
    target_kind: TransferTargetKind = TransferTargetKind.PERSON

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "target_kind": self.target_kind.value,
            "mode": self.mode.value,
            "timeout_seconds": self.timeout_seconds,
            "on_agreement": self.on_agreement,
            "on_request": self.on_request,
            "on_objections": list(self.on_objections),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TransferSpec | None:
        if not data or not data.get("number"):
            return None
        return cls(
            number=str(data["number"]),
            mode=TransferMode(data.get("mode", TransferMode.COLD)),
            timeout_seconds=int(data.get("timeout_seconds", DEFAULT_TRANSFER_TIMEOUT_SECONDS)),
            on_agreement=bool(data.get("on_agreement", False)),
            on_request=bool(data.get("on_request", True)),
            on_objections=tuple(str(item) for item in data.get("on_objections") or ()),
            target_kind=TransferTargetKind(data.get("target_kind") or TransferTargetKind.PERSON),
        )


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Hand the caller to a person instead of hanging up (the pipeline's hang-up becomes a
    carrier transfer: `sessions.transfers.session_transfer_start`)."""

    number: str
    mode: TransferMode
    timeout_seconds: int
    reason: TransferReason
    # A person's number is refused outside its calling window (`sessions.transfers`).
    target_kind: TransferTargetKind = TransferTargetKind.PERSON

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "transfer",
            "number": self.number,
            "target_kind": self.target_kind.value,
            "mode": self.mode.value,
            "timeout_seconds": self.timeout_seconds,
            "reason": self.reason.value,
        }


AgentAction = EndCall | ScheduleCallback | MarkDoNotCall | TransferCall


class ObjectionResponse(NamedTuple):
    trigger: str
    response: str


def _objections(items: Iterable[Any]) -> tuple[ObjectionResponse, ...]:
    result: list[ObjectionResponse] = []
    for item in items:
        if isinstance(item, Mapping):
            result.append(ObjectionResponse(str(item["trigger"]), str(item["response"])))
        else:
            trigger, response = item
            result.append(ObjectionResponse(str(trigger), str(response)))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class ScriptSpec:
    """A script as the engine needs it. Lines may hold `placeholders`."""

    opening_line: str
    closing_line: str
    system_prompt: str = ""
    # Ordered: on a tie the earlier trigger wins. Pairs or {"trigger", "response"} mappings.
    objection_responses: tuple[ObjectionResponse, ...] = ()
    voicemail_message: str | None = None
    language: str = "en"
    # False: the caller cannot cut the line off (barge-in is off while it plays); their words
    # during it are still recognised. Snapshots from before these fields read as the defaults.
    opening_interruptible: bool = True
    closing_interruptible: bool = False
    # Keys the caller may press and what each does, and the line that tells them (said right
    # after the opening: "Press 1 to talk to a person."). Both empty: no keypad.
    keypad: tuple[KeypadKey, ...] = ()
    keypad_prompt: str = ""
    # A number the caller is asked to type (the keypad prompt asks); None: single keys only.
    keypad_entry: KeypadEntry | None = None
    # The tools the agent may use (`scripts.engine.tools`); None: a script saved before tools
    # existed, whose LLM agent keeps the three built-ins it always had.
    tools: tuple[ToolSpec, ...] | None = None
    # The scripted agent's intent → tool rules.
    tool_rules: tuple[ToolRule, ...] = ()
    # Phone menus: where to get to when a menu answers ("" = no menu handling), and how long
    # to try (`scripts.engine.ivr`).
    ivr_target: str = ""
    ivr_timeout_seconds: int = 120
    # Where and when to hand the caller to a person; None: the agent never transfers.
    transfer: TransferSpec | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "objection_responses", _objections(self.objection_responses))
        object.__setattr__(self, "keypad", _keypad(self.keypad))

    def tool(self, name: str) -> ToolSpec | None:
        return next((tool for tool in self.tools or () if tool.name == name), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScriptSpec:
        return cls(
            opening_line=data["opening_line"],
            closing_line=data["closing_line"],
            system_prompt=data.get("system_prompt", ""),
            objection_responses=data.get("objection_responses", ()),
            voicemail_message=data.get("voicemail_message") or None,
            language=data.get("language", "en"),
            opening_interruptible=bool(data.get("opening_interruptible", True)),
            closing_interruptible=bool(data.get("closing_interruptible", False)),
            keypad=data.get("keypad") or (),
            keypad_prompt=data.get("keypad_prompt", ""),
            keypad_entry=KeypadEntry.from_dict(data.get("keypad_entry")),
            tools=tools_from_snapshot(data.get("tools")),
            tool_rules=tuple(ToolRule.from_dict(item) for item in data.get("tool_rules") or ()),
            ivr_target=str(data.get("ivr_target") or ""),
            ivr_timeout_seconds=int(data.get("ivr_timeout_seconds") or 120),
            transfer=TransferSpec.from_dict(data.get("transfer")),
        )

    def lines(self) -> dict[str, str]:
        """Every text a manager writes, keyed by a field path for error reporting."""
        lines = {
            "opening_line": self.opening_line,
            "closing_line": self.closing_line,
            "system_prompt": self.system_prompt,
        }
        if self.voicemail_message:
            lines["voicemail_message"] = self.voicemail_message
        if self.keypad_prompt:
            lines["keypad_prompt"] = self.keypad_prompt
        for index, objection in enumerate(self.objection_responses):
            lines[f"objection_responses[{index}].trigger"] = objection.trigger
            lines[f"objection_responses[{index}].response"] = objection.response
        return lines

    def placeholder_errors(
        self, allowed_names: Iterable[str] | None = None
    ) -> dict[str, list[PlaceholderError]]:
        """Placeholder problems per field; empty when the script renders for any contact."""
        allowed = set(allowed_names) if allowed_names is not None else None
        errors = {name: validate_placeholders(text, allowed) for name, text in self.lines().items()}
        return {name: found for name, found in errors.items() if found}

    def voicemail_text(self, variables: Mapping[str, object]) -> str | None:
        return render(self.voicemail_message, variables) if self.voicemail_message else None


@dataclass(frozen=True, slots=True)
class AgentPhrases:
    """The agent's own lines. English defaults; a non-English script passes its own."""

    still_there: str = "Are you still there?"
    silence_goodbye: str = "It seems I've lost you. I'll let you go. Goodbye."
    ask_callback_time: str = "Of course. When is a good time to call you back?"
    callback_confirmation: str = "No problem, I'll call you back {when}. Goodbye."
    callback_unspecified: str = "No problem, we'll try you another time. Goodbye."
    opt_out_confirmation: str = "Understood, we won't call you again. Goodbye."
    polite_close: str = "I understand. Thank you for your time, and have a great day. Goodbye."
    max_turns_close: str = "I don't want to take up more of your time. Thank you, goodbye."
    steer: str = "I understand. Would you like to go ahead?"
    # The question asked again when the opening line has none of its own.
    ask_again: str = "Would you like to go ahead?"
    # "Yes, speaking." before the pitch goes on; "Hello?" before who is calling again.
    identity_confirmed: str = "Great, thanks."
    hello_again: str = "Hello!"
    # Who is calling, when the opening line does not say: {business} is `business_name`.
    calling_from: str = "I'm calling from {business}."
    # A question the script has no answer for (no "I understand" to a question).
    question_deferred: str = "Good question. A specialist can go through that with you."
    goodbye: str = "Goodbye."
    ai_disclosure: str = "Yes, I'm an automated assistant calling on behalf of the team."
    trouble: str = "Sorry, I'm having trouble. I'll call you another time."
    # Spoken only while a tool is slow to answer (`tools.with_filler`).
    tool_filler: str = "One moment while I check that."
    tool_failed: str = "Sorry, I couldn't do that just now."
    # Said before a transfer; the carrier then connects the caller.
    transfer_line: str = "Of course. Let me connect you with a colleague now, please hold."
    # After the caller typed the number the script asked for, when the script says nothing.
    entry_received: str = "Thank you, I've got that."


ENGLISH_PHRASES = AgentPhrases()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallContext:
    """Per-call inputs: who we are calling and the limits of the conversation."""

    variables: Mapping[str, object] = field(default_factory=dict)
    timezone: str = "UTC"  # the contact's IANA zone
    now: Callable[[], datetime] = _utc_now  # injected so tests freeze the clock
    max_turns: int = 12
    max_silences: int = 2
    phrases: AgentPhrases = ENGLISH_PHRASES

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"Unknown time zone {self.timezone!r}") from error
        if self.max_turns < 1 or self.max_silences < 1:
            raise ValueError("max_turns and max_silences must be at least 1")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_now(self) -> datetime:
        now = self.now()
        if now.tzinfo is None:
            raise ValueError("CallContext.now must return an aware datetime")
        return now.astimezone(self.zone)
