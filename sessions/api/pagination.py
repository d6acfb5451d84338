"""Keyset pagination that may also order by an annotation (the null-free duration key)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from anvil_voice.api.pagination import KeysetCursorPagination


class SessionCursorPagination(KeysetCursorPagination):
    def __init__(self, ordering: list[str] | None = None) -> None:
        super().__init__()
        self.ordering = ordering

    def get_ordering(self, view: APIView | None) -> list[str]:  # type: ignore[override]
        # An explicit ordering (from `?ordering=`) wins over the view's attribute.
        if self.ordering:
            return list(self.ordering)
        return KeysetCursorPagination.get_ordering(view)

    @staticmethod
    def _coerce(queryset: QuerySet[Any], ordering: list[str], values: list[Any]) -> list[Any]:
        coerced = []
        for field_name, value in zip(ordering, values, strict=True):
            name = field_name.lstrip("-")
            meta = queryset.model._meta
            try:
                field = meta.pk if name == "pk" else meta.get_field(name)
            except FieldDoesNotExist:
                field = queryset.query.annotations[name].output_field
            try:
                python_value = field.to_python(value)
            except (DjangoValidationError, TypeError, ValueError) as exc:
                raise ValidationError({"cursor": ["This cursor is not valid."]}) from exc
            if python_value is None:
                raise ValidationError({"cursor": ["This cursor is not valid."]})
            coerced.append(python_value)
        return coerced
