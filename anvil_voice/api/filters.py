"""Query-parameter filters shared by the API's listings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO-8601 moment, turned into UTC before it reaches the database.

    Python accepts UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59: a filter value
    like `0093-09-06T06:23:37-18:19` was a 500 there (found by the schema fuzzer). In UTC every
    backend takes it; a moment that UTC cannot hold (year 1 with a positive offset) is a 400.
    """

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Enter a date and time within range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filterset's parameters.

    With no filter parameter a filterset leaves the queryset as it is, yet building its form and
    validating the empty data cost about a tenth of a listing's server time (docs/benchmarks.md,
    "API CPU per request"); most listings are asked for without filters.
    """

    def filter_queryset(self, request: Any, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        if not any(name in request.query_params for name in filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)
