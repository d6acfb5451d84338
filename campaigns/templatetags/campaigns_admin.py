"""Small filters for the campaigns admin pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()

_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@register.filter
def get_item(mapping: Mapping[str, Any], key: str) -> Any:
    value = mapping.get(key)
    return "" if value is None else value


@register.filter
def delimiter_name(delimiter: str) -> str:
    return _DELIMITERS.get(delimiter, delimiter)


@register.filter
def clock_duration(seconds: int | float) -> str:
    """Seconds as a call timer reads them: 0:42, 12:05, 1:02:09 (as the control room's script
    draws them as they tick)."""
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
