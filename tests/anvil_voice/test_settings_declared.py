"""Every setting the product reads is declared in `anvil_voice/settings.py` (or by Django).

A `getattr(settings, "NAME", default)` hides a setting from `.env.example` and from the strict
environment parsing: a deployment cannot know it exists, and a typo falls back silently.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from django.conf import global_settings

from anvil_voice import settings as project_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("anvil_voice", "campaigns", "sessions", "scripts", "voices")
DECLARED = {name for name in dir(project_settings) if name.isupper()} | {
    name for name in dir(global_settings) if name.isupper()
}


def _sources() -> Iterator[tuple[str, ast.AST]]:
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def _is_settings(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )


def test_no_setting_is_read_with_a_getattr_default() -> None:
    offenders = [
        f"{path}:{node.lineno}"
        for path, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) == 3
        and _is_settings(node.args[0])
    ]

    assert offenders == [], "declare these settings in anvil_voice/settings.py"


def test_every_setting_read_is_declared() -> None:
    undeclared = sorted(
        f"{path}:{node.lineno} {node.attr}"
        for path, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and _is_settings(node.value)
        and node.attr.isupper()
        and node.attr not in DECLARED
    )

    assert undeclared == []
