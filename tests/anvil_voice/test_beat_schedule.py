"""Every periodic task is in the beat schedule, and every schedule entry names a real task.

A task that takes no required argument can only be meant for beat (nothing would tell it what to
work on otherwise), unless it is listed below as enqueued only. A sweep missing from the
schedule never runs: what it repairs (a lost message, a dead worker's leftovers) stays broken.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from celery import Task

from anvil_voice.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("anvil_voice", "campaigns", "sessions", "scripts", "voices")
# Argument-less tasks that something enqueues on purpose and beat must not run. Say who
# enqueues each one.
ENQUEUED_ONLY: frozenset[str] = frozenset()


def _product_tasks() -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("tasks.py")):
            module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
            for value in vars(module).values():
                if isinstance(value, Task):
                    tasks[value.name] = value
    return tasks


def _takes_no_required_argument(task: Task) -> bool:
    return all(
        parameter.default is not inspect.Parameter.empty
        or parameter.kind in {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
        for parameter in inspect.signature(task.run).parameters.values()
    )


def _scheduled() -> set[str]:
    return {str(entry["task"]) for entry in celery_app.conf.beat_schedule.values()}


def test_the_discovery_finds_the_known_sweeps() -> None:
    periodic = {
        name for name, task in _product_tasks().items() if _takes_no_required_argument(task)
    }

    assert {
        "campaigns.tasks.dispatch_campaigns",
        "sessions.tasks.session_reconcile_stuck_task",
        "anvil_voice.webhooks.tasks.webhook_retry_due_task",
    } <= periodic


def test_every_periodic_task_is_in_the_beat_schedule() -> None:
    periodic = {
        name for name, task in _product_tasks().items() if _takes_no_required_argument(task)
    }

    assert sorted(periodic - ENQUEUED_ONLY - _scheduled()) == []


def test_every_schedule_entry_names_a_periodic_task() -> None:
    tasks = _product_tasks()

    for name in _scheduled():
        assert name in tasks, f"beat schedules {name}, which no tasks module defines"
        assert _takes_no_required_argument(tasks[name]), f"beat cannot give {name} its arguments"
        assert name not in ENQUEUED_ONLY
