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
