"""No public top-level function in the product is defined and then used nowhere.

A dead helper drifts: `sessions.selectors.session_callback_scheduled` still filtered callbacks
the old way after `sessions.selectors.sessions_with_callback_scheduled` replaced it, and a
reader could not tell which one the API used. A name counts as used when it appears anywhere
else in the code, tests, templates or settings strings (not in `docs/`, which may name what was
removed).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("anvil_voice", "campaigns", "sessions", "scripts", "voices")
SCANNED = (
    "anvil_voice",
    "campaigns",
    "sessions",
    "scripts",
    "voices",
    "tests",
    "templates",
    "docs",
)
SUFFIXES = {".py", ".html", ".txt", ".md", ".js", ".toml"}


def test_every_public_function_is_used_somewhere() -> None:
    words: Counter[str] = Counter()
    files = [path for folder in SCANNED for path in (ROOT / folder).rglob("*")]
    files += [ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "manage.py"]
    for path in files:
        if path.is_file() and (path.suffix in SUFFIXES or path.name == "Makefile"):
            words.update(re.findall(r"\w+", path.read_text(encoding="utf-8", errors="replace")))

    unused = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for package in PRODUCT_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
        and words[node.name] <= 1
    ]

    assert unused == []
