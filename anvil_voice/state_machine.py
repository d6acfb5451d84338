"""One way to change a row's state, for every state machine in the product.

A machine is the map of allowed transitions, kept beside its `TextChoices` in the model module.
`transition` applies one as a conditional `UPDATE ... WHERE state IN (<states allowed to reach
the target>)`, so two processes racing for the same row cannot both win: the caller goes on
only if the row count says it did (healthchecks' `sendalerts` claims flips the same way). The
audit row, when the machine has one, is written only by the winner, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django.db.models import Model, QuerySet


class TransitionNotAllowed(ValueError):
    """A transition the machine's map does not contain (a programming error, not bad input)."""


@dataclass(frozen=True)
class StateMachine:
    """`allowed[state]` is every state a row in `state` may move to."""

    column: str
    allowed: Mapping[str, frozenset[str]]
    _sources: dict[str, tuple[str, ...]] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sources: dict[str, list[str]] = {}
        for origin, targets in self.allowed.items():
            for target in targets:
                sources.setdefault(str(target), []).append(str(origin))
        object.__setattr__(self, "_sources", {k: tuple(sorted(v)) for k, v in sources.items()})

    @classmethod
    def of(cls, column: str, allowed: Mapping[Any, Iterable[Any]]) -> StateMachine:
        return cls(
            column,
            {
                str(origin): frozenset(str(t) for t in targets)
                for origin, targets in allowed.items()
            },
        )

    def can(self, origin: str, target: str) -> bool:
        return str(target) in self.allowed.get(str(origin), frozenset())

    def check(self, origin: str, target: str) -> None:
        if not self.can(origin, target):
            raise TransitionNotAllowed(f"{self.column}: {origin} -> {target} is not allowed")

    def sources(self, target: str) -> tuple[str, ...]:
        """The states from which `target` may be reached."""
        return self._sources.get(str(target), ())


def transition[M: Model](
    queryset: QuerySet[M],
    *,
    machine: StateMachine,
    to: str,
    updates: Mapping[str, Any] | None = None,
    audit: Callable[[int], object] | None = None,
) -> int:
    """Move the rows of `queryset` that may reach `to` there; returns how many moved.

    `updates` are other columns written in the same statement; `audit(moved)` runs only when
    some row moved (inside the caller's transaction, if any).
    """
    if not machine.sources(to):
        raise TransitionNotAllowed(f"{machine.column}: nothing may move to {to}")
    moved = queryset.filter(**{f"{machine.column}__in": machine.sources(to)}).update(
        **{machine.column: to, **(updates or {})}
    )
    if moved and audit is not None:
        audit(moved)
    return moved
