"""Production code never asks whether Celery runs eagerly: tests run the production path.

Tests make Celery eager in their configuration (`tests/conftest.py`); a task that behaved
differently when eager (a returned instead of raised `Retry`, a first failure taken as final)
would be tested on a path no worker takes.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("anvil_voice", "campaigns", "sessions", "scripts", "voices")
EAGER_FLAGS = {
    "is_eager",
    "task_always_eager",
    "task_eager_propagates",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_TASK_EAGER_PROPAGATES",
}


def test_no_product_code_reads_celerys_eager_mode() -> None:
    # Assignments stay allowed: settings declare the flag and the benchmarks switch it on.
    reads = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}"
        for package in PRODUCT_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and node.attr in EAGER_FLAGS
    ]

    assert reads == []
