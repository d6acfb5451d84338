"""Keyset ("cursor") pagination: stable under concurrent inserts, fast at any depth.

Pages are ordered by one or more fields ending in the primary key (newest first by default).
The cursor encodes the last row's ordering values, so rows inserted between two page fetches
never shift what the next page returns, and a page at depth 1 000 000 costs an index seek.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "dt" in value:
        parsed = parse_datetime(str(value["dt"]))
        if parsed is None:
            raise ValueError("bad datetime")
        return parsed
    if isinstance(value, dict) and "dec" in value:
        return Decimal(str(value["dec"]))
    if isinstance(value, dict | list):
        raise ValueError("bad value")
    return value


class KeysetCursorPagination(BasePagination):
    cursor_query_param = "cursor"
    limit_query_param = "limit"

    def __init__(self) -> None:
        self.limit = DEFAULT_LIMIT
        self.has_more = False
        self.next_cursor: str | None = None
        self.total = 0

    # --- ordering -------------------------------------------------------------------------
    @staticmethod
    def get_ordering(view: APIView | None) -> list[str]:
        ordering = list(getattr(view, "ordering", None) or ["-id"])
        if ordering[-1].lstrip("-") not in {"id", "pk"}:
            ordering.append("-id" if ordering[-1].startswith("-") else "id")
        return ordering

    # --- request parsing ------------------------------------------------------------------
    def _parse_limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or raw == "":
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError({"limit": [f"Must be a whole number from 1 to {MAX_LIMIT}."]})
        return limit

    def _parse_cursor(self, request: Request, size: int) -> list[Any] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None
        try:
            padded = raw + "=" * (-len(raw) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(values, list) or len(values) != size:
                raise ValueError("wrong shape")
            return [_decode_value(value) for value in values]
        # RecursionError: a forged cursor of thousands of "[" (a flat list is all we accept,
        # checked right after parsing, so no depth bound is needed beforehand).
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
            raise ValidationError({"cursor": ["This cursor is not valid."]}) from exc

    @staticmethod
    def _coerce(queryset: QuerySet[Any], ordering: list[str], values: list[Any]) -> list[Any]:
        """Check each cursor value against its model field, so a forged cursor is a 400."""
        coerced = []
        for field_name, value in zip(ordering, values, strict=True):
            name = field_name.lstrip("-")
            meta = queryset.model._meta
            field = meta.pk if name == "pk" else meta.get_field(name)
            try:
                coerced.append(field.to_python(value))
            except (DjangoValidationError, TypeError, ValueError) as exc:
                raise ValidationError({"cursor": ["This cursor is not valid."]}) from exc
        return coerced

    @staticmethod
    def _encode_cursor(values: list[Any]) -> str:
        raw = json.dumps([_encode_value(value) for value in values], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    # --- paging ---------------------------------------------------------------------------
    def count(self, queryset: QuerySet[Any]) -> int:
        """`meta.total`: every row the filters match, whatever the page."""
        return queryset.count()

    @staticmethod
    def _after(ordering: list[str], values: list[Any]) -> Q:
        """Rows strictly after `values` in `ordering` (lexicographic keyset condition).

        With several fields it also says the first field's bound on its own (`a <= x AND (a < x
        OR (a = x AND id < y))`): the same rows, but a database reads that bound as where to
        start in an index on the ordering, where the OR alone made it walk from the first row
        and filter (a page at depth N cost N index entries).
        """
        condition = Q()
        for index, field in enumerate(ordering):
            name = field.lstrip("-")
            lookup = "lt" if field.startswith("-") else "gt"
            step = Q(**{f"{name}__{lookup}": values[index]})
            for earlier in range(index):
                earlier_name = ordering[earlier].lstrip("-")
                step &= Q(**{earlier_name: values[earlier]})
            condition |= step
        if len(ordering) > 1:
            first = ordering[0]
            bound = "lte" if first.startswith("-") else "gte"
            condition = Q(**{f"{first.lstrip('-')}__{bound}": values[0]}) & condition
        return condition

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        ordering = self.get_ordering(view)
        self.limit = self._parse_limit(request)
        cursor = self._parse_cursor(request, len(ordering))
        if cursor is not None:
            cursor = self._coerce(queryset, ordering, cursor)
        page_qs = queryset.order_by(*ordering)
        if cursor is not None:
            page_qs = page_qs.filter(self._after(ordering, cursor))
        rows: list[Model] = list(page_qs[: self.limit + 1])
        self.has_more = len(rows) > self.limit
        rows = rows[: self.limit]
        # A first page that holds every row already knows the total: most tenants' voices,
        # scripts and campaigns fit in one page, and the count is a second query (with the
        # listing's annotations, often as costly as the page). Any other page counts.
        self.total = len(rows) if cursor is None and not self.has_more else self.count(queryset)
        if self.has_more and rows:
            last = rows[-1]
            self.next_cursor = self._encode_cursor(
                [getattr(last, field.lstrip("-").replace("pk", "id")) for field in ordering]
            )
        else:
            self.next_cursor = None
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        response = Response(
            {
                "success": True,
                "data": data,
                "meta": {"total": self.total, "cursor": self.next_cursor, "hasMore": self.has_more},
            }
        )
        response.enveloped = True  # type: ignore[attr-defined]
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["success", "data", "meta"],
            "properties": {
                "success": {"type": "boolean", "enum": [True]},
                "data": schema,
                "meta": {"$ref": "#/components/schemas/PageMeta"},
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from meta.cursor of the previous page.",
                "schema": {"type": "string"},
            },
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
        ]
