"""Tools the agent may use during a call: the built-in registry, a script's tool list, and how
one call to a tool is run, bounded and recorded.

A script lists its tools (`ScriptSpec.tools`); each is either a **built-in** the platform
carries out itself (`BUILTIN_TOOLS`: end the call, schedule a callback, add to do-not-call,
transfer, send digits) or an **HTTP tool**
the customer defines (name, description, JSON-schema parameters, URL, timeout), run by a
`ToolRunner` the caller injects (the live call's signs and SSRF-checks its POST:
`scripts.tool_http`). The engine stays pure Python: it never opens a socket for a tool.

Every way a tool call can go wrong (arguments that do not fit the schema, a timeout, an error,
an answer that is not JSON) becomes an error `ToolResult` the agent reads; the call goes on.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# The standard library's own pattern parser (what `re.compile` runs first): the safety check
# walks the same tree the matcher will, with no second regex grammar to keep in step.
from re import _parser as _re_parser  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import jsonschema

if TYPE_CHECKING:
    from scripts.engine.types import ScriptSpec  # types imports this module

TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
MIN_TIMEOUT_SECONDS = 0.5
MAX_TIMEOUT_SECONDS = 10.0
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_TOOLS = 20
MAX_DESCRIPTION_LENGTH = 1000
# A tool's answer goes back into the model's context and the session's record: kept small.
MAX_RESULT_BYTES = 16_384
# The filler line waits this long: a tool that answers sooner adds no audio to the turn.
FILLER_AFTER_SECONDS = 0.3
# The result of a tool call the caller cut off (the agent's reply was closed while it ran).
INTERRUPTED = "The caller spoke before the tool answered; it was cancelled."


class ToolKind(StrEnum):
    BUILTIN = "builtin"
    HTTP = "http"


# The API's choice set (one OpenAPI enum for a script tool's type and a tool call's kind).
TOOL_KINDS = tuple(kind.value for kind in ToolKind)


_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A tool the platform carries out; the agents map its name to an action (`EndCall`,
    `ScheduleCallback`, `MarkDoNotCall`, later a transfer or digits)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: dict(_NO_PARAMETERS))


# Keyed by name. `register_builtin` adds one (the transfer and keypad work plugs in here).
BUILTIN_TOOLS: dict[str, BuiltinTool] = {}


def register_builtin(tool: BuiltinTool) -> BuiltinTool:
    if not TOOL_NAME.match(tool.name):
        raise ValueError(f"invalid tool name {tool.name!r}")
    BUILTIN_TOOLS[tool.name] = tool
    return tool


END_CALL = "end_call"
SCHEDULE_CALLBACK = "schedule_callback"
ADD_TO_DO_NOT_CALL = "add_to_do_not_call"
TRANSFER = "transfer"
SEND_DIGITS = "send_digits"
# What `send_digits` accepts: keys and half-second waits (`w`), bounded like the carrier's own
# check (`anvil_voice.telephony.dtmf.DIGITS_PATTERN`, which the sender applies again).
DIGITS_SCHEMA_PATTERN = "^[0-9*#w]{1,64}$"

# Presses keys on the live call (the pipeline's `send_digits`): returns how long they take
# to play (ms), 0 when the call is no longer live; raises ValueError for digits it refuses.
DigitSender = Callable[[str], int]

register_builtin(
    BuiltinTool(
        END_CALL,
        "End the call after saying goodbye.",
        {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "Why the call ends, briefly."},
                "outcome": {"type": "string", "enum": ["interested", "not_interested"]},
            },
            "required": ["reason", "outcome"],
        },
    )
)
register_builtin(
    BuiltinTool(
        SCHEDULE_CALLBACK,
        "The caller asked to be called back at a specific time. Ends the call.",
        {
            "type": "object",
            "properties": {
                "at": {
                    "type": "string",
                    "description": "ISO-8601 date-time with UTC offset, in the future.",
                }
            },
            "required": ["at"],
        },
    )
)
register_builtin(
    BuiltinTool(
        ADD_TO_DO_NOT_CALL,
        "The caller asked not to be called again or to be removed from the list. Confirm "
        "briefly, then this ends the call.",
    )
)


register_builtin(
    BuiltinTool(
        SEND_DIGITS,
        "Press keys on the phone call, e.g. to choose an option in a phone menu or to enter a "
        "number you were asked for. Digits 0-9, * and #; w waits half a second.",
        {
            "type": "object",
            "properties": {
                "digits": {
                    "type": "string",
                    "pattern": DIGITS_SCHEMA_PATTERN,
                    "description": "The keys to press in order, e.g. 1 or 12345# or 1w2.",
                }
            },
            "required": ["digits"],
        },
    )
)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool a script lists, as the engine uses it."""

    kind: ToolKind
    name: str
    description: str
    parameters: Mapping[str, Any]
    url: str = ""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolSpec:
        """From a script snapshot's ``tools`` item (validated when the script was saved)."""
        kind = ToolKind(data.get("type", ToolKind.HTTP))
        name = str(data["name"])
        if kind is ToolKind.BUILTIN:
            builtin = BUILTIN_TOOLS.get(name)
            if builtin is None:
                # A built-in a newer release offered and this one does not: left out, never
                # offered to the model with a schema we do not know.
                raise KeyError(name)
            return cls(kind, name, builtin.description, builtin.parameters)
        return cls(
            kind,
            name,
            str(data.get("description", "")),
            dict(data.get("parameters") or _NO_PARAMETERS),
            url=str(data.get("url", "")),
            timeout_seconds=float(data.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
        )

    def as_openai(self) -> dict[str, Any]:
        """The OpenAI-compatible ``tools`` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


def tools_from_snapshot(items: Any) -> tuple[ToolSpec, ...] | None:
    """The snapshot's tools; None when the snapshot predates tools (the agents' defaults)."""
    if items is None:
        return None
    specs: list[ToolSpec] = []
    for item in items:
        try:
            specs.append(ToolSpec.from_dict(item))
        except KeyError:
            continue
    return tuple(specs)


def has_http_tools(script: ScriptSpec) -> bool:
    """Whether a `ScriptSpec` lists an HTTP tool (its agent may say the filler line)."""
    return any(tool.kind is ToolKind.HTTP for tool in script.tools or ())


@dataclass(frozen=True, slots=True)
class ToolRule:
    """The scripted agent's rule: when the caller's intent is ``intent``, call ``tool`` with
    ``arguments`` (placeholders rendered from the call's variables); on success say ``say``
    (placeholders also filled from the tool's JSON object answer) before the usual reply."""

    intent: str
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    say: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolRule:
        return cls(
            intent=str(data["intent"]),
            tool=str(data["tool"]),
            arguments=dict(data.get("arguments") or {}),
            say=str(data.get("say", "")),
        )


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    value: Any = None  # the tool's JSON answer (ok only)
    error: str = ""  # a short reason the agent and the record read (not ok)
    latency_ms: float = 0.0

    def for_model(self) -> str:
        """The ``tool`` message content: the answer, or an error the model can act on."""
        if self.ok:
            return json.dumps({"ok": True, "result": self.value}, separators=(",", ":"))
        return json.dumps({"ok": False, "error": self.error}, separators=(",", ":"))

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "latency_ms": round(self.latency_ms, 1)}
        if self.ok:
            data["result"] = self.value
        else:
            data["error"] = self.error
        return data


class ToolError(Exception):
    """What a runner raises for a failed call; its message is the agent's error text (short,
    no addresses: it reaches the model and the customer's session record)."""


@runtime_checkable
class ToolRunner(Protocol):
    async def run(self, tool: ToolSpec, arguments: Mapping[str, Any], *, call_id: str) -> Any:
        """The tool's JSON answer; raises `ToolError` (or times out) when there is none."""


# A schema's `pattern` runs on the call's event loop (`argument_errors`), and Python's regex
# engine holds the GIL for a whole match: no thread or timeout can bound a pattern with
# catastrophic backtracking. So patterns are bounded by what they may be instead: short, and
# with no repeat that can backtrack exponentially (see `_pattern_problem`).
MAX_PATTERN_LENGTH = 200
# A model's arguments larger than this are refused before any validation runs.
MAX_ARGUMENT_BYTES = 16_384
# Repeats in a row can still backtrack polynomially (``\d+\d+`` is quadratic in the text):
# a pattern may hold at most two long repeats (endless, or more than `LONG_REPEAT` times),
# and a string is matched against a pattern only up to `MAX_PATTERN_SUBJECT` characters, so
# the worst match stays near a million steps (tens of milliseconds).
LONG_REPEAT = 64
MAX_LONG_REPEATS = 2
MAX_PATTERN_SUBJECT = 1000
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})


def _schema_patterns(node: Any) -> Iterator[str]:
    """Every regular expression in a JSON schema: `pattern` values and `patternProperties`
    keys, at any depth."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, Mapping):
                yield from (name for name in value if isinstance(name, str))
            if isinstance(value, Mapping | list):
                yield from _schema_patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_patterns(item)


def _pattern_problem(pattern: str) -> str:
    """Why `pattern` may not be run on a call ("" when it may). Refused: over
    `MAX_PATTERN_LENGTH`; back-references; and the shapes behind catastrophic backtracking,
    a variable-length repeat inside another repeat (``(a+)+``, ``(\\d{1,3})*``) and an
    alternation inside an unbounded repeat (``(a|ab)*``). Bounded repeats nest freely
    (``(\\d{1,3}\\.){3}``)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    try:
        parsed = _re_parser.parse(pattern)
    except re.error as error:
        return f"is not a valid regular expression ({error})"
    except RecursionError:
        return "is nested too deeply"
    if _long_repeats(parsed) > MAX_LONG_REPEATS:
        return f"has more than {MAX_LONG_REPEATS} open-ended repeats (+, * or {{n,}})"
    return _walk_pattern(parsed, outer_repeats=False, outer_unbounded=False)


def _long_repeats(items: Any) -> int:
    """How many repeats in the pattern may run longer than `LONG_REPEAT` times."""
    count = 0
    for op, value in items:
        name = str(op)
        if name in _REPEATS:
            count += value[1] > LONG_REPEAT  # MAXREPEAT (endless) is larger
            count += _long_repeats(value[2])
        elif name == "BRANCH":
            count += sum(_long_repeats(branch) for branch in value[1])
        elif name == "SUBPATTERN":
            count += _long_repeats(value[-1])
        elif name in ("ASSERT", "ASSERT_NOT"):
            count += _long_repeats(value[1])
        elif name == "ATOMIC_GROUP":
            count += _long_repeats(value)
    return count


def _longest_string(node: Any) -> int:
    if isinstance(node, str):
        return len(node)
    if isinstance(node, Mapping):
        return max((_longest_string(value) for value in node.values()), default=0)
    if isinstance(node, list):
        return max((_longest_string(item) for item in node), default=0)
    return 0


def _walk_pattern(items: Any, *, outer_repeats: bool, outer_unbounded: bool) -> str:
    for op, value in items:
        name = str(op)
        repeats, unbounded = outer_repeats, outer_unbounded
        children: list[Any] = []
        if name in _REPEATS:
            low, high, body = value
            endless = high == _re_parser.MAXREPEAT
            # Nested repeats multiply the ways a match can be tried: fine while both are
            # bounded ((\d{1,3}\.){3}), exponential once either is endless.
            if outer_repeats and (endless or (outer_unbounded and low != high)):
                return "repeats a group that itself repeats (it could take exponential time)"
            repeats, unbounded = repeats or endless or high > 1, unbounded or endless
            children = [body]
        elif name == "BRANCH":
            if outer_unbounded:
                return "repeats an alternation (it could take exponential time)"
            children = list(value[1])
        elif name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "uses a back-reference"
        elif name == "SUBPATTERN":
            children = [value[-1]]
        elif name in ("ASSERT", "ASSERT_NOT"):
            children = [value[1]]
        elif name == "ATOMIC_GROUP":
            children = [value]
        for child in children:
            if problem := _walk_pattern(child, outer_repeats=repeats, outer_unbounded=unbounded):
                return problem
    return ""


def pattern_errors(schema: Any) -> list[str]:
    """The schema's regular expressions that may not run on a call, one message each."""
    return [
        f"The pattern {pattern[:60]!r} {problem}."
        for pattern in dict.fromkeys(_schema_patterns(schema))
        if (problem := _pattern_problem(pattern))
    ]


def schema_errors(schema: Any) -> list[str]:
    """Problems with a tool's ``parameters``: it must be a JSON schema of type object, whose
    patterns are safe to run on a call (`pattern_errors`)."""
    if not isinstance(schema, Mapping):
        return ["Parameters must be a JSON schema object."]
    if schema.get("type") != "object":
        return ['Parameters must be a JSON schema of "type": "object".']
    try:
        jsonschema.Draft202012Validator.check_schema(dict(schema))
    except jsonschema.SchemaError as error:
        return [f"Parameters are not a valid JSON schema: {error.message}"]
    return pattern_errors(schema)


def argument_errors(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
    """Why `arguments` do not fit `schema` (at most five reasons). Bounded: oversized
    arguments and a schema with an unsafe pattern (one saved before patterns were checked)
    are refused before the validator runs."""
    if len(json.dumps(arguments, default=str)) > MAX_ARGUMENT_BYTES:
        return [f"arguments: larger than {MAX_ARGUMENT_BYTES} bytes"]
    if problems := pattern_errors(schema):
        return ["schema: " + problems[0]]
    if _longest_string(arguments) > MAX_PATTERN_SUBJECT and next(_schema_patterns(schema), None):
        return [f"arguments: a text longer than {MAX_PATTERN_SUBJECT} characters"]
    validator = jsonschema.Draft202012Validator(dict(schema))
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or 'arguments'}: {error.message}"
        for error in sorted(validator.iter_errors(dict(arguments)), key=str)
    ][:5]


async def run_tool(
    runner: ToolRunner | None,
    tool: ToolSpec,
    arguments: Mapping[str, Any],
    *,
    call_id: str,
) -> ToolResult:
    """One HTTP tool call, never raising: arguments checked against the schema first (a bad
    argument is an error for the agent, not a request), the whole call bounded by the tool's
    timeout, the answer size-capped."""
    started = time.monotonic()

    def result(ok: bool, value: Any = None, error: str = "") -> ToolResult:
        return ToolResult(ok, value, error, (time.monotonic() - started) * 1000)

    if runner is None:
        return result(False, error="Tools are not available on this call.")
    if problems := argument_errors(tool.parameters, arguments):
        return result(False, error="Invalid arguments: " + "; ".join(problems))
    try:
        async with asyncio.timeout(tool.timeout_seconds):
            value = await runner.run(tool, arguments, call_id=call_id)
    except TimeoutError:
        return result(False, error=f"The tool did not answer within {tool.timeout_seconds:g} s.")
    except ToolError as error:
        return result(False, error=str(error))
    except Exception:  # a runner bug must not end the call: the agent hears an error
        return result(False, error="The tool failed.")
    if len(json.dumps(value)) > MAX_RESULT_BYTES:
        return result(False, error=f"The tool's answer is larger than {MAX_RESULT_BYTES} bytes.")
    return result(True, value)


def press_digits(
    sender: DigitSender | None, tool: ToolSpec, arguments: Mapping[str, Any]
) -> ToolResult:
    """The `send_digits` built-in, never raising: the digits checked against its schema, then
    pressed through the call's `DigitSender` (in-band tones after the audio already queued).
    The result tells the agent what was sent and how long it takes to play."""
    started = time.monotonic()

    def result(ok: bool, value: Any = None, error: str = "") -> ToolResult:
        return ToolResult(ok, value, error, (time.monotonic() - started) * 1000)

    if sender is None:
        return result(False, error="Sending digits is not available on this call.")
    if problems := argument_errors(tool.parameters, arguments):
        return result(False, error="Invalid arguments: " + "; ".join(problems))
    digits = str(arguments["digits"])
    try:
        duration_ms = sender(digits)
    except ValueError:
        return result(False, error="Invalid digits: use 0-9, *, # and w (a half-second wait).")
    if duration_ms <= 0:
        return result(False, error="The call is not live; no digits were sent.")
    return result(True, {"sent": digits, "duration_ms": duration_ms})


async def with_filler(
    call: Awaitable[ToolResult], *, filler: str, after: float = FILLER_AFTER_SECONDS
) -> AsyncIterator[str | ToolResult]:
    """Run ``call``; yield ``filler`` (to speak) only if it has not finished after ``after``
    seconds, then its result. Closing the iterator (barge-in, hang-up) cancels the call."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=after)
        if not done and filler:
            # The trailing space lets the sentence chunker release it at once.
            yield filler.strip() + " "
        yield await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


register_builtin(
    BuiltinTool(
        TRANSFER,
        "The caller wants to talk to a person, or is ready for the script's next step with a "
        "person. Say one short line that you are connecting them; this hands the call over and "
        "ends your part of it.",
    )
)
