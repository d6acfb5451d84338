"""Rules for what a script may say: placeholders, objection lists, compliance warnings.

Errors block a save and name what is wrong; warnings (compliance rule 3: the opening line names
the business and, when the organization requires it, discloses the AI) are shown, not enforced.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from anvil_voice.webhooks.services import webhook_url_errors
from scripts.engine.intents import Intent
from scripts.engine.normalize import normalize
from scripts.engine.placeholders import validate_placeholders
from scripts.engine.tools import (
    BUILTIN_TOOLS,
    DEFAULT_TIMEOUT_SECONDS,
    DIGITS_SCHEMA_PATTERN,
    MAX_DESCRIPTION_LENGTH,
    MAX_TIMEOUT_SECONDS,
    MAX_TOOLS,
    MIN_TIMEOUT_SECONDS,
    SEND_DIGITS,
    TOOL_NAME,
    ToolKind,
    schema_errors,
)
from scripts.engine.types import (
    DEFAULT_ENTRY_TIMEOUT_SECONDS,
    ENTRY_END_KEYS,
    KEYPAD_KEYS,
    MAX_ENTRY_DIGITS,
    OPT_OUT_DIGIT,
    KeypadAction,
    TransferMode,
    TransferTargetKind,
)

MAX_OBJECTIONS = 50
MAX_TRIGGER_LENGTH = 300

# Placeholders every contact can fill, besides its custom variables.
CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "full_name", "company", "email", "phone_number"}
)
# Filled from the organization and the call, not the contact.
CALL_FIELDS = frozenset({"business_name", "agent_name"})
BUILT_IN_VARIABLES = CONTACT_FIELDS | CALL_FIELDS

LINE_FIELDS = (
    "opening_line",
    "closing_line",
    "voicemail_message",
    "system_prompt",
    "recording_disclosure",
    "keypad_prompt",
)
KEYPAD_ACTIONS = tuple(action.value for action in KeypadAction)

_AI_DISCLOSURE = re.compile(
    r"\b(ai|a\.i\.|artificial intelligence|automated|virtual (assistant|agent)|"
    r"digital assistant|robot|bot)\b",
    re.IGNORECASE,
)
_HAS_WORD = re.compile(r"\w")


def line_errors(lines: Mapping[str, str], known_variables: Collection[str]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field in LINE_FIELDS:
        text = lines.get(field)
        if not text:
            continue
        problems = validate_placeholders(text, known_variables)
        if problems:
            errors[field] = [problem.message for problem in problems]
    return errors


def disclosure_error(*, text: str, required: bool) -> str | None:
    """A required recording disclosure needs words: the call records only once it was heard,
    so an empty one would either never record or record without consent."""
    if required and not _HAS_WORD.search(text):
        return 'A required recording disclosure needs its text (e.g. "This call is recorded.").'
    return None


def objection_errors(objections: Sequence[Mapping[str, Any]]) -> list[str]:
    errors: list[str] = []
    if len(objections) > MAX_OBJECTIONS:
        return [f"At most {MAX_OBJECTIONS} objection responses; got {len(objections)}."]
    seen: dict[str, int] = {}
    for index, item in enumerate(objections, start=1):
        trigger = str(item.get("trigger", "")).strip()
        if not _HAS_WORD.search(trigger):
            errors.append(f"Objection {index}: the trigger must contain words.")
            continue
        key = normalize(trigger)
        if key in seen:
            errors.append(
                f"Objection {index}: the trigger {trigger!r} repeats objection {seen[key]}."
            )
        else:
            seen[key] = index
    return errors


def ivr_target_error(target: str) -> str | None:
    """A menu target names where to get to in words the menu says ("a person", "accounts")."""
    if target and not re.search(r"[A-Za-z]", target):
        return 'Name where to get to in a phone menu in words, e.g. "a person" or "accounts".'
    return None


def keypad_errors(keypad: Sequence[Any], prompt: str, entry: Any = None) -> list[str]:
    """What is wrong with a script's keypad (a list of {digit, action}) and its prompt line.

    A key is one of 0-9, * and #, used once, with a known action; the platform's opt-out key
    (9) always opts out, so a script may list it only with that action; and a keypad needs
    the prompt that tells the caller about it (and a prompt, a keypad).
    """
    errors: list[str] = []
    if not isinstance(keypad, Sequence) or isinstance(keypad, str | bytes):
        return ["The keypad must be a list of {digit, action} objects."]
    seen: set[str] = set()
    for index, item in enumerate(keypad, start=1):
        if not isinstance(item, Mapping):
            errors.append(f"Key {index}: must be an object with a digit and an action.")
            continue
        digit, action = item.get("digit"), item.get("action")
        if not isinstance(digit, str) or len(digit) != 1 or digit not in KEYPAD_KEYS:
            errors.append(f"Key {index}: the digit must be one of 0-9, * or #; got {digit!r}.")
            continue
        if action not in KEYPAD_ACTIONS:
            errors.append(
                f"Key {index}: unknown action {action!r}; use one of {', '.join(KEYPAD_ACTIONS)}."
            )
            continue
        if digit in seen:
            errors.append(f"Key {index}: the digit {digit} is already used.")
        seen.add(digit)
        if digit == OPT_OUT_DIGIT and action != KeypadAction.OPT_OUT:
            errors.append(
                f"Key {index}: {OPT_OUT_DIGIT} is the opt-out key on every call; it can only "
                "have the opt_out action."
            )
    has_prompt = bool(prompt and prompt.strip())
    if keypad and not has_prompt:
        errors.append("A keypad needs a keypad prompt that tells the caller which keys to press.")
    if entry and not has_prompt:
        errors.append("A keypad entry needs a keypad prompt that asks the caller to type it.")
    if has_prompt and not keypad and not entry:
        errors.append("The keypad prompt names keys, but the keypad has none.")
    return errors


KEYPAD_ENTRY_FIELDS = frozenset({"name", "max_digits", "end_key", "timeout_seconds", "say"})
ENTRY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MIN_ENTRY_TIMEOUT_SECONDS = 1
MAX_ENTRY_TIMEOUT_SECONDS = 10
MAX_ENTRY_SAY_LENGTH = 1000  # a line, as `scripts.models.MAX_LINE_LENGTH`


def keypad_entry_errors(entry: Any) -> list[str]:
    """What is wrong with a script's keypad entry: a number the caller is asked to type
    (`scripts.engine.KeypadEntry`): {"name": "zip_code", "max_digits": 5, "end_key": "#",
    "timeout_seconds": 3, "say": "Thanks, {{zip_code}} it is."}. Null or {}: none."""
    if entry is None or entry == {}:
        return []
    if not isinstance(entry, Mapping):
        return ["The keypad entry must be an object with a name."]
    errors: list[str] = []
    if unknown := sorted(set(entry) - KEYPAD_ENTRY_FIELDS):
        errors.append(f"Unknown keypad entry fields: {', '.join(unknown)}.")
    name = entry.get("name")
    if not isinstance(name, str) or not ENTRY_NAME.match(name):
        errors.append(
            "The keypad entry's name must be 1-40 lowercase letters, digits or underscores, "
            "starting with a letter (e.g. zip_code)."
        )
    max_digits = entry.get("max_digits", 0)
    if (
        not isinstance(max_digits, int)
        or isinstance(max_digits, bool)
        or not (max_digits == 0 or 2 <= max_digits <= MAX_ENTRY_DIGITS)
    ):
        errors.append(
            f"The keypad entry's max_digits must be 0 (no fixed length) or 2-{MAX_ENTRY_DIGITS}."
        )
    end_key = entry.get("end_key", "#")
    if end_key not in ENTRY_END_KEYS:
        errors.append('The keypad entry\'s end_key must be "#", "*" or "" (none).')
    timeout = entry.get("timeout_seconds", DEFAULT_ENTRY_TIMEOUT_SECONDS)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not MIN_ENTRY_TIMEOUT_SECONDS <= timeout <= MAX_ENTRY_TIMEOUT_SECONDS
    ):
        errors.append(
            f"The keypad entry's timeout_seconds (the pause that ends it) must be "
            f"{MIN_ENTRY_TIMEOUT_SECONDS}-{MAX_ENTRY_TIMEOUT_SECONDS}."
        )
    say = entry.get("say", "")
    if not isinstance(say, str) or len(say) > MAX_ENTRY_SAY_LENGTH:
        errors.append(
            f"The keypad entry's say must be text of at most {MAX_ENTRY_SAY_LENGTH} characters."
        )
    return errors


E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TRANSFER_MODES = tuple(mode.value for mode in TransferMode)
MIN_TRANSFER_TIMEOUT_SECONDS = 5
MAX_TRANSFER_TIMEOUT_SECONDS = 60
TRANSFER_TARGET_KINDS = tuple(kind.value for kind in TransferTargetKind)
TRANSFER_FIELDS = frozenset(
    {
        "number",
        "target_kind",
        "mode",
        "timeout_seconds",
        "on_agreement",
        "on_request",
        "on_objections",
    }
)


def transfer_errors(
    transfer: Any, *, keypad: Sequence[Any], triggers: Collection[str] | None
) -> list[str]:
    """What is wrong with a script's transfer (where and when to hand the caller to a person).

    The number must be E.164 (the do-not-call list is checked when the transfer happens and
    when a campaign overrides the number, `sessions.transfers`); the objections that transfer
    must be the script's own triggers (`triggers`; None: not being changed, not checked); a
    keypad key that transfers needs a transfer.
    """
    transfers_by_key = any(
        isinstance(item, Mapping) and item.get("action") == KeypadAction.TRANSFER
        for item in keypad or ()
    )
    if transfer is None or transfer == {}:
        if transfers_by_key:
            return ["A keypad key transfers the caller, but the script names no transfer number."]
        return []
    if not isinstance(transfer, Mapping):
        return ["The transfer must be an object with a number."]
    errors: list[str] = []
    if unknown := sorted(set(transfer) - TRANSFER_FIELDS):
        errors.append(f"Unknown transfer fields: {', '.join(unknown)}.")
    number = transfer.get("number")
    if not isinstance(number, str) or not E164.match(number):
        errors.append(f"The transfer number must be in E.164 form (+15551234567); got {number!r}.")
    if transfer.get("target_kind", TransferTargetKind.PERSON.value) not in TRANSFER_TARGET_KINDS:
        errors.append(
            f"The transfer's target_kind must be one of {', '.join(TRANSFER_TARGET_KINDS)}."
        )
    if transfer.get("mode", TransferMode.COLD.value) not in TRANSFER_MODES:
        errors.append(f"The transfer mode must be one of {', '.join(TRANSFER_MODES)}.")
    timeout = transfer.get("timeout_seconds", MIN_TRANSFER_TIMEOUT_SECONDS)
    if (
        not isinstance(timeout, int)
        or isinstance(timeout, bool)
        or not MIN_TRANSFER_TIMEOUT_SECONDS <= timeout <= MAX_TRANSFER_TIMEOUT_SECONDS
    ):
        errors.append(
            f"The transfer timeout must be {MIN_TRANSFER_TIMEOUT_SECONDS}-"
            f"{MAX_TRANSFER_TIMEOUT_SECONDS} seconds."
        )
    for flag in ("on_agreement", "on_request"):
        if not isinstance(transfer.get(flag, False), bool):
            errors.append(f"The transfer's {flag} must be true or false.")
    chosen = transfer.get("on_objections") or []
    if not isinstance(chosen, list) or not all(isinstance(item, str) for item in chosen):
        errors.append("The transfer's on_objections must be a list of objection triggers.")
    elif triggers is not None:
        for trigger in chosen:
            if trigger not in triggers:
                errors.append(f"on_objections: {trigger!r} is not one of the script's triggers.")
    return errors


def compliance_warnings(
    *, opening_line: str, business_name: str, ai_disclosure_required: bool
) -> list[str]:
    warnings: list[str] = []
    names_business = "{{business_name" in opening_line.replace(" ", "") or (
        business_name and business_name.lower() in opening_line.lower()
    )
    if not names_business:
        warnings.append(
            f"The opening line does not name the business ({business_name!r} or "
            "{{business_name}})."
        )
    if ai_disclosure_required and not _AI_DISCLOSURE.search(opening_line):
        warnings.append(
            "Your organization requires an AI disclosure: the opening line should say the "
            "caller is an AI or automated assistant."
        )
    return warnings


def _tool_problems(index: int, item: Mapping[str, Any], seen: set[str]) -> list[str]:
    where = f"Tool {index}"
    name = item.get("name")
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        return [
            f"{where}: the name must be 1-64 letters, digits or underscores, not starting "
            "with a digit."
        ]
    where = f"Tool {index} ({name})"
    problems: list[str] = []
    if name in seen:
        problems.append(f"{where}: the name is used by another tool.")
    seen.add(name)
    kind = item.get("type", ToolKind.HTTP.value)
    if kind == ToolKind.BUILTIN.value:
        if name not in BUILTIN_TOOLS:
            known = ", ".join(sorted(BUILTIN_TOOLS))
            problems.append(f"{where}: no such built-in tool (there are: {known}).")
        extra = sorted(set(item) - {"type", "name"})
        if extra:
            problems.append(f"{where}: a built-in tool takes only a name, not {', '.join(extra)}.")
        return problems
    if kind != ToolKind.HTTP.value:
        return [*problems, f'{where}: the type must be "builtin" or "http".']
    if name in BUILTIN_TOOLS:
        problems.append(f"{where}: the name is a built-in tool's.")
    description = item.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(f"{where}: describe what the tool does (the model reads it).")
    elif len(description) > MAX_DESCRIPTION_LENGTH:
        problems.append(f"{where}: the description is over {MAX_DESCRIPTION_LENGTH} characters.")
    problems += [f"{where}: {message}" for message in schema_errors(item.get("parameters"))]
    url = item.get("url")
    if not isinstance(url, str) or not url:
        problems.append(f"{where}: give the URL to POST to.")
    else:
        # The customer webhooks' rules: https only, never an internal address (SSRF).
        problems += [
            f"{where}: the URL {message[0].lower()}{message[1:]}"
            for message in webhook_url_errors(url)
        ]
    timeout = item.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS
    ):
        problems.append(
            f"{where}: the timeout must be {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g} "
            "seconds."
        )
    return problems


def tool_errors(
    tools: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Problems with a script's tools and its scripted agent's tool rules, by field."""
    errors: dict[str, list[str]] = {}
    if len(tools) > MAX_TOOLS:
        errors["tools"] = [f"At most {MAX_TOOLS} tools; got {len(tools)}."]
        return errors
    seen: set[str] = set()
    problems: list[str] = []
    for index, item in enumerate(tools, start=1):
        problems += _tool_problems(index, item, seen)
    if problems:
        errors["tools"] = problems
    # A rule runs an HTTP tool or presses keys; the scripted agent's other built-ins (end,
    # callback, do-not-call, transfer) are its own rules.
    rule_tools = {
        item.get("name")
        for item in tools
        if item.get("type", "http") == ToolKind.HTTP.value or item.get("name") == SEND_DIGITS
    }
    intents = {intent.value for intent in Intent}
    rule_problems: list[str] = []
    for index, rule in enumerate(rules, start=1):
        if rule.get("intent") not in intents:
            rule_problems.append(
                f"Rule {index}: the intent must be one of {', '.join(sorted(intents))}."
            )
        if rule.get("tool") not in rule_tools:
            rule_problems.append(
                f"Rule {index}: the tool must be one of the script's HTTP tools or send_digits "
                "(the scripted agent's other built-ins are its own rules)."
            )
        elif rule.get("tool") == SEND_DIGITS:
            digits = (
                (rule.get("arguments") or {}).get("digits")
                if isinstance(rule.get("arguments"), Mapping)
                else None
            )
            if not isinstance(digits, str) or not re.fullmatch(DIGITS_SCHEMA_PATTERN, digits):
                rule_problems.append(
                    f'Rule {index}: send_digits needs arguments {{"digits": ...}} of 1-64 '
                    "keys 0-9, *, # or w (a half-second wait)."
                )
        if not isinstance(rule.get("arguments", {}), Mapping):
            rule_problems.append(f"Rule {index}: the arguments must be an object.")
        if not isinstance(rule.get("say", ""), str):
            rule_problems.append(f"Rule {index}: say must be text.")
    if rule_problems:
        errors["tool_rules"] = rule_problems
    return errors
