"""The shape `docs/architecture.md` draws, checked where import-linter cannot look.

import-linter (`make lint`) keeps the layers; these tests keep what it does not see:
module-level import cycles, and imports hidden inside functions to dodge them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("anvil_voice", "campaigns", "sessions", "scripts", "voices", "benchmarks")

# Function-local imports that stay, each for a reason a reader can check. Everything else
# imports at module level (the Styleguide's rule: tasks import their service inside the task
# body, services import tasks at module level and queue them on commit).
LOCAL_IMPORTS_ALLOWED = {
    # Django: models may not be imported while the app registry loads.
    "campaigns/apps.py": "AppConfig.ready connects signal receivers",
    "anvil_voice/accounts/apps.py": "AppConfig.ready connects signal receivers",
    "sessions/apps.py": "AppConfig.ready connects signal receivers",
    # Heavy or optional providers load only when configured or first used.
    "anvil_voice/speech/local.py": "Piper and Whisper models load on first use",
    "anvil_voice/speech/registry.py": "a provider's module loads only when it is configured",
    "anvil_voice/telephony/simulator/voice.py": "the simulator runs without local speech",
    "campaigns/phones.py": "phonenumbers' geocoder loads ~10 s of tables on first use",
    "anvil_voice/api/health.py": "the Celery app is only needed by the broker check",
    "sessions/pipeline/pipeline.py": "the neural turn detector (ONNX Runtime, pipecat) loads "
    "only when configured",
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: not in functions, not for type checkers."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            pending.extend(node.body)


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, path: Path, known: set[str]
) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    targets: set[str] = set()
    for name in names:
        parts = name.split(".")
        # Importing a.b.c runs a, a.b and a.b.c.
        targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return {t for t in targets if t in known and t != module and t not in ancestors}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[module] = set()
        for node in _module_level_imports(tree):
            graph[module] |= _targets(node, module, path, known)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _cycles(graph) == [["a", "b", "c"]]


def test_there_are_no_module_level_import_cycles():
    assert _cycles(_graph()) == []


def test_imports_inside_functions_are_only_where_a_reason_is_written_down():
    hidden: list[str] = []
    for module, path in sorted(_modules().items()):
        relative = str(path.relative_to(ROOT))
        if relative in LOCAL_IMPORTS_ALLOWED or relative.startswith("benchmarks/"):
            continue
        is_tasks = path.name == "tasks.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom) and not is_tasks:
                    hidden.append(f"{relative}:{inner.lineno} ({module})")

    assert hidden == []


def test_tasks_import_services_only_inside_their_bodies():
    # The other half of the Styleguide's rule: services import tasks at module level, so a
    # task module importing a service at module level would be a cycle.
    for module, path in _modules().items():
        if path.name != "tasks.py":
            continue
        imported = {
            target
            for node in _module_level_imports(ast.parse(path.read_text()))
            for target in _targets(node, module, path, set(_modules()))
        }
        assert not {
            t for t in imported if t.split(".")[-1] in {"services", "placement", "status"}
        }, (
            module,
            imported,
        )
