"""Contact placeholders in script lines: ``{{first_name}}`` and ``{{first_name|there}}``.

Syntax
    ``{{name}}`` or ``{{name|default text}}``; ``name`` matches ``[a-z_][a-z0-9_]*`` and
    whitespace inside the braces is ignored (``{{ first_name | there }}``). Single braces are
    plain text. A default may contain any text except braces.

Rendering
    A variable that is missing, ``None`` or blank uses the placeholder's default. With neither,
    the placeholder renders as nothing and the text around it is tidied so speech stays natural:
    ``"Hi {{first_name}}, this is Anna"`` → ``"Hi, this is Anna"`` and
    ``"{{first_name}}, this is Anna"`` → ``"This is Anna"``. Managers are expected to give a
    default for anything that may be empty; ``render(..., strict=True)`` raises instead.

Errors
    Every problem is a `PlaceholderError` whose ``placeholder`` is the offending text exactly as
    written (``"{{first name}}"``, ``"{{first_name"``), so an admin form can point at it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")

_OPEN = "{{"
_CLOSE = "}}"
# A sentinel marks where an empty placeholder was, so tidying only touches those spots and
# never rewrites punctuation the manager typed on purpose.
_GAP = "\x00"


class PlaceholderErrorCode(StrEnum):
    UNKNOWN = "unknown"
    MALFORMED = "malformed"
    EMPTY = "empty"
    UNBALANCED = "unbalanced"
    NESTED = "nested"
    MISSING = "missing"


class PlaceholderError(ValueError):
    """One bad placeholder; ``placeholder`` is the raw text, ``position`` its offset."""

    def __init__(
        self,
        message: str,
        *,
        placeholder: str,
        code: PlaceholderErrorCode,
        position: int,
        name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.placeholder = placeholder
        self.code = code
        self.position = position
        self.name = name


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    default: str | None
    start: int
    end: int
    raw: str


def _fragment_after(text: str, start: int) -> str:
    """The unterminated placeholder as a person would quote it: up to the next space or line."""
    match = re.compile(r"\{\{\s*[^\s{}.,!?;:]*").match(text, start)
    return match.group(0) if match else text[start : start + 20]


def _scan(text: str) -> tuple[list[Placeholder], list[PlaceholderError]]:
    """Single left-to-right pass: well-formed placeholders plus every syntax error found."""
    found: list[Placeholder] = []
    errors: list[PlaceholderError] = []
    position = 0
    while True:
        open_at = text.find(_OPEN, position)
        close_at = text.find(_CLOSE, position)
        if close_at != -1 and (open_at == -1 or close_at < open_at):
            # A closing pair with no opening pair before it.
            start = text.rfind(" ", 0, close_at) + 1
            raw = text[start : close_at + 2]
            errors.append(
                PlaceholderError(
                    f"Placeholder {raw!r} closes with '}}}}' but never opens with '{{{{'.",
                    placeholder=raw,
                    code=PlaceholderErrorCode.UNBALANCED,
                    position=start,
                )
            )
            position = close_at + 2
            continue
        if open_at == -1:
            return found, errors
        close_at = text.find(_CLOSE, open_at + 2)
        inner_open = text.find(_OPEN, open_at + 2)
        if close_at == -1:
            raw = _fragment_after(text, open_at)
            errors.append(
                PlaceholderError(
                    f"Placeholder {raw!r} is missing its closing '}}}}'.",
                    placeholder=raw,
                    code=PlaceholderErrorCode.UNBALANCED,
                    position=open_at,
                )
            )
            return found, errors
        if inner_open != -1 and inner_open < close_at:
            # Report the whole nested construct, up to the closing pair of the outer one.
            outer_close = text.find(_CLOSE, close_at + 2)
            end = outer_close + 2 if outer_close != -1 else close_at + 2
            raw = text[open_at:end]
            errors.append(
                PlaceholderError(
                    f"Placeholder {raw!r} is nested inside another placeholder.",
                    placeholder=raw,
                    code=PlaceholderErrorCode.NESTED,
                    position=open_at,
                )
            )
            position = end
            continue
        end = close_at + 2
        raw = text[open_at:end]
        parsed = _parse_inner(raw, open_at)
        if isinstance(parsed, PlaceholderError):
            errors.append(parsed)
        else:
            found.append(parsed)
        position = end


def _parse_inner(raw: str, start: int) -> Placeholder | PlaceholderError:
    inner = raw[2:-2]
    name_part, bar, default_part = inner.partition("|")
    name = name_part.strip()
    if not name:
        return PlaceholderError(
            f"Placeholder {raw!r} has no name.",
            placeholder=raw,
            code=PlaceholderErrorCode.EMPTY,
            position=start,
        )
    if "}" in inner or "{" in inner or not NAME_PATTERN.fullmatch(name):
        return PlaceholderError(
            f"Placeholder {raw!r} is malformed: names use lowercase letters, digits and "
            "underscores, e.g. {{first_name}}.",
            placeholder=raw,
            code=PlaceholderErrorCode.MALFORMED,
            position=start,
            name=name,
        )
    default = default_part.strip() if bar else None
    return Placeholder(name=name, default=default, start=start, end=start + len(raw), raw=raw)


def find_placeholders(text: str) -> list[Placeholder]:
    """Every placeholder in order; raises the first `PlaceholderError` on bad syntax."""
    found, errors = _scan(text)
    if errors:
        raise errors[0]
    return found


def placeholder_names(text: str) -> set[str]:
    return {placeholder.name for placeholder in find_placeholders(text)}


def validate_placeholders(
    text: str, allowed_names: Collection[str] | None = None
) -> list[PlaceholderError]:
    """All problems in ``text``; an empty list means it renders. ``None`` allows any name."""
    found, errors = _scan(text)
    if allowed_names is not None:
        for placeholder in found:
            if placeholder.name in allowed_names:
                continue
            message = f"Unknown placeholder {placeholder.raw!r}."
            close = difflib.get_close_matches(placeholder.name, list(allowed_names), n=1)
            if close:
                message += f" Did you mean {{{{{close[0]}}}}}?"
            errors.append(
                PlaceholderError(
                    message,
                    placeholder=placeholder.raw,
                    code=PlaceholderErrorCode.UNKNOWN,
                    position=placeholder.start,
                    name=placeholder.name,
                )
            )
    return sorted(errors, key=lambda error: error.position)


def _value(variables: Mapping[str, object], name: str) -> str:
    value = variables.get(name)
    if value is None:
        return ""
    return str(value).replace(_GAP, "").strip()


def render(text: str, variables: Mapping[str, object], *, strict: bool = False) -> str:
    """Fill placeholders from ``variables`` (see the module docstring for empty values)."""
    pieces: list[str] = []
    position = 0
    left_gap = False
    for placeholder in find_placeholders(text):
        pieces.append(text[position : placeholder.start])
        value = _value(variables, placeholder.name) or (placeholder.default or "")
        if not value:
            if strict:
                raise PlaceholderError(
                    f"No value for placeholder {placeholder.raw!r} and no default.",
                    placeholder=placeholder.raw,
                    code=PlaceholderErrorCode.MISSING,
                    position=placeholder.start,
                    name=placeholder.name,
                )
            value = _GAP
            left_gap = True
        pieces.append(value)
        position = placeholder.end
    pieces.append(text[position:])
    rendered = "".join(pieces)
    return _tidy_gaps(rendered) if left_gap else rendered


def _tidy_gaps(text: str) -> str:
    text = re.sub(rf"{_GAP}(?:\s*{_GAP})+", _GAP, text)
    # A sentence that started with the gap loses its dangling comma and is re-capitalised.
    starts_sentence = re.compile(rf"(^|[.!?]\s+){_GAP}\s*[,;:]?\s*(\w)")
    text = starts_sentence.sub(lambda m: m.group(1) + m.group(2).upper(), text)
    # "Wonderful, {{first_name}}!" → "Wonderful!": a comma that only led to the gap goes too.
    text = re.sub(rf"\s*[,;:]?\s*{_GAP}\s*(?=[.!?])", "", text)
    # "Hi {{first_name}}, ..." → "Hi, ...": drop the space that led to the gap.
    text = re.sub(rf"\s*{_GAP}\s*(?=[,.!?;:])", "", text)
    text = re.sub(rf"[ \t]*{_GAP}[ \t]*", " ", text)
    return re.sub(r"[ \t]{2,}", " ", text.replace(_GAP, "")).strip()
