"""Strict parsing of settings from the environment.

Every setting that production changes is read here, once, so a typo in a variable name or a
malformed value fails at start-up instead of silently falling back to the embedded default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse


class EnvError(ValueError):
    """A variable is present but its value cannot be parsed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get_str(self, name: str, default: str = "") -> str:
        return self._environ.get(name, default).strip()

    def get_bool(self, name: str, default: bool = False) -> bool:
        raw = self._environ.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise EnvError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")

    def get_int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError as exc:
            raise EnvError(f"{name} must be an integer, got {raw!r}") from exc
        if minimum is not None and value < minimum:
            raise EnvError(f"{name} must be >= {minimum}, got {value}")
        return value

    def get_list(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._environ.get(name)
        if raw is None:
            return list(default or [])
        return [item.strip() for item in raw.split(",") if item.strip()]

    def get_url(self, name: str, default: str = "", *, schemes: tuple[str, ...] = ()) -> str:
        value = self.get_str(name, default)
        if not value:
            return value
        parsed = urlparse(value)
        if not parsed.scheme or (schemes and parsed.scheme not in schemes):
            allowed = ", ".join(schemes) or "any"
            raise EnvError(f"{name} must be a URL with scheme in ({allowed}), got {value!r}")
        return value
