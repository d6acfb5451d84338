"""Serializer base: camelCase keys on the wire, strict about what a client may write.

Models keep snake_case; `CamelCaseSerializer` renames every field to camelCase (the model
attribute becomes the field's `source`), so requests, responses, error details and the OpenAPI
schema all agree without a key-rewriting renderer that would also mangle user data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from django.conf import settings
from django.db.models import Model
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject, RelatedField

from anvil_voice.json_depth import json_too_deep

_SNAKE = re.compile(r"_([a-z0-9])")


def to_camel(name: str) -> str:
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


class StrictFieldsMixin:
    """Unknown keys and read-only keys in a write are errors, not silently dropped."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields  # type: ignore[attr-defined]
            errors: dict[str, list[str]] = {}
            for key in data:
                field = fields.get(key)
                if field is None:
                    errors[str(key)] = ["Unknown field."]
                elif field.read_only:
                    errors[str(key)] = ["This field is read-only."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class CamelCaseMixin:
    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        renamed: dict[str, serializers.Field] = {}
        for name, field in fields.items():
            camel = to_camel(name)
            if camel != name:
                if isinstance(field, serializers.SerializerMethodField):
                    # Its method is named after the declared (snake_case) attribute.
                    field.method_name = field.method_name or f"get_{name}"
                elif field.source is None:
                    field.source = name
            renamed[camel] = field
        return renamed


class ReadPlanMixin:
    """DRF's `to_representation` with the per-row work done once per serializer.

    DRF walks every field's `source_attrs` through its generic `get_attribute` (mapping or
    object, callables, missing-attribute fallbacks) for every row: about a third of a listing's
    server time (docs/benchmarks.md, "API CPU per request"). For a model instance, a field whose
    source is one concrete column of that model can only be a plain attribute read, so the plan
    reads it with `attrgetter`; every other field (methods, relations, nested serializers,
    dotted or callable sources, dict rows) keeps DRF's own path. The output is the same: the
    tests of every endpoint's body run through it.
    """

    def _read_plan(self, model: type) -> list[tuple[str, Callable[[Any], Any] | None, Any]]:
        plans: dict[type, list[tuple[str, Callable[[Any], Any] | None, Any]]]
        plans = self.__dict__.setdefault("_read_plans", {})
        plan = plans.get(model)
        if plan is None:
            columns = (
                {field.attname for field in model._meta.concrete_fields if not field.is_relation}
                if isinstance(model, type) and issubclass(model, Model)
                else set()
            )
            plan = []
            for field in self._readable_fields:  # type: ignore[attr-defined]
                attrs = field.source_attrs
                simple = (
                    len(attrs) == 1
                    and attrs[0] in columns
                    and not isinstance(field, serializers.BaseSerializer | RelatedField)
                    and type(field).get_attribute is serializers.Field.get_attribute
                )
                plan.append((field.field_name, attrgetter(attrs[0]) if simple else None, field))
            plans[model] = plan
        return plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name, read, field in self._read_plan(type(instance)):
            if read is not None:
                attribute = read(instance)
            else:
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            row[name] = None if check_for_none is None else field.to_representation(attribute)
        return row


class CamelCaseModelSerializer(
    ReadPlanMixin, StrictFieldsMixin, CamelCaseMixin, serializers.ModelSerializer
):
    pass


class CamelCaseSerializer(ReadPlanMixin, StrictFieldsMixin, CamelCaseMixin, serializers.Serializer):
    pass


class BoundedJSONField(serializers.JSONField):
    """A JSON value sent as a form field's text (multipart), nesting bounded like a body."""

    def to_internal_value(self, data: Any) -> Any:
        too_deep = f"Nested deeper than {settings.API_MAX_JSON_DEPTH} levels."
        if isinstance(data, str | bytes) and json_too_deep(
            data, max_depth=int(settings.API_MAX_JSON_DEPTH)
        ):
            raise serializers.ValidationError(too_deep)
        try:
            return super().to_internal_value(data)
        except RecursionError:
            raise serializers.ValidationError(too_deep) from None
