"""What the LLM agent sends: the system message and the tool definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scripts.engine.placeholders import render
from scripts.engine.tools import (
    ADD_TO_DO_NOT_CALL,
    END_CALL,
    SCHEDULE_CALLBACK,
    SEND_DIGITS,
    ToolKind,
)
from scripts.engine.types import CallContext, Outcome, ScriptSpec

# The do-not-call tool's name before scripts listed their tools (`ADD_TO_DO_NOT_CALL` since);
# a script saved before then still offers it under this name.
MARK_DO_NOT_CALL = "mark_do_not_call"
DO_NOT_CALL_NAMES = frozenset({MARK_DO_NOT_CALL, ADD_TO_DO_NOT_CALL})

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": END_CALL,
            "description": "End the call after saying goodbye.",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why the call ends, briefly."},
                    "outcome": {
                        "type": "string",
                        "enum": [Outcome.INTERESTED.value, Outcome.NOT_INTERESTED.value],
                    },
                },
                "required": ["reason", "outcome"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": SCHEDULE_CALLBACK,
            "description": "The caller asked to be called back at a specific time. Ends the call.",
            "parameters": {
                "type": "object",
                "properties": {
                    "at": {
                        "type": "string",
                        "description": "ISO-8601 date-time with UTC offset, in the future.",
                    }
                },
                "required": ["at"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": MARK_DO_NOT_CALL,
            "description": "The caller asked not to be called again or to be removed from the "
            "list. Confirm briefly, then this ends the call.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
]


def tool_definitions(script: ScriptSpec) -> list[dict[str, Any]]:
    """The ``tools`` of a request: the script's list, or the three built-ins a script saved
    before tools existed always had."""
    if script.tools is None:
        return TOOLS
    return [tool.as_openai() for tool in script.tools]


def _tool_rules(script: ScriptSpec) -> list[str]:
    if script.tools is None:
        offered = {END_CALL, SCHEDULE_CALLBACK, MARK_DO_NOT_CALL}
    else:
        offered = {tool.name for tool in script.tools}
    dnc = next((name for name in sorted(DO_NOT_CALL_NAMES) if name in offered), None)
    lines = []
    if dnc:
        lines.append(
            f"- If they ask not to be called again or to be removed, call {dnc}, "
            "confirm in one short sentence and say goodbye."
        )
    if SCHEDULE_CALLBACK in offered:
        lines.append(
            f"- If they ask to be called back at another time, call {SCHEDULE_CALLBACK} with the "
            "time as ISO-8601 in their time zone and confirm the time in words. If they named no "
            "time, ask once when suits them."
        )
    if END_CALL in offered:
        lines.append(
            f"- When they agree, say the closing line and call {END_CALL} with outcome "
            f'"{Outcome.INTERESTED.value}". After a firm refusal, say goodbye politely and call '
            f'{END_CALL} with outcome "{Outcome.NOT_INTERESTED.value}".'
        )
    if SEND_DIGITS in offered:
        lines.append(
            f"- To press keys on the call (a phone menu's option, a number you were asked to "
            f"enter), call {SEND_DIGITS}; say nothing while you do."
        )
    if any(tool.kind is ToolKind.HTTP for tool in script.tools or ()):
        lines.append(
            "- Use the other tools when they help the caller; tell them only what a tool's "
            "result says, and if a tool fails, say so briefly and go on."
        )
    return lines


def system_message(script: ScriptSpec, context: CallContext, *, now: datetime) -> str:
    variables = context.variables
    lines = [render(script.system_prompt, variables).strip()] if script.system_prompt else []
    local_now = now.astimezone(context.zone)
    lines += [
        "",
        "You are the caller's voice on a live phone call. Replies are spoken aloud: one or two "
        "short sentences, plain words, no lists, no markdown, no emojis.",
        f"Speak {script.language}.",
        f"The person's local time is {local_now.isoformat(timespec='minutes')} "
        f"({context.timezone}).",
        "",
        "Script:",
        f'- Opening line (already said): "{render(script.opening_line, variables)}"',
        f'- Closing line (say it when they agree): "{render(script.closing_line, variables)}"',
    ]
    if script.keypad and script.keypad_prompt:
        lines.append(
            f'- Keypad (said after the opening): "{render(script.keypad_prompt, variables)}". '
            'Keys the caller presses appear as "[pressed 1]" and are handled for you.'
        )
    if script.keypad_entry is not None and script.keypad_prompt:
        lines.append(
            f'- The caller is asked to type a number ("{render(script.keypad_prompt, variables)}"'
            f'); what they type arrives as "[entered 12345]" (their {script.keypad_entry.name}).'
        )
    if script.objection_responses:
        lines += ["", "Objection guidance (answer in the spirit of the response, once each):"]
        for objection in script.objection_responses:
            trigger = render(objection.trigger, variables)
            response = render(objection.response, variables)
            lines.append(f'- If they say something like "{trigger}": "{response}"')
    lines += [
        "",
        "Rules:",
        "- If asked whether you are a person, a robot or an AI, say honestly that you are an "
        "automated AI assistant.",
        *_tool_rules(script),
        "- Do not invent prices, promises or facts that are not in the script.",
    ]
    return "\n".join(lines).strip()
