"""Serializer base: camelCase keys on the wire, strict about what a client may write.

Models keep snake_case; `CamelCaseSerializer` renames every field to camelCase (the model
attribute becomes the field's `source`), so requests, responses, error details and the OpenAPI
schema all agree without a key-rewriting renderer that would also mangle user data.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any, ClassVar

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


def _fresh(field: serializers.Field) -> serializers.Field:
    """An unbound copy of a template field for one serializer instance.

    A plain field keeps no state between requests but what `bind()` sets, so a shallow copy
    of the (never bound) template is a new field; one that holds other fields (a nested
    serializer, a list or dict field's child, a relation) is deep-copied, as DRF copies its
    declared fields, so its children are bound to the copy and reach this request's context.
    """
    if not (
        isinstance(field, serializers.BaseSerializer | RelatedField | serializers.ManyRelatedField)
        or hasattr(field, "child")
        or hasattr(field, "child_relation")
    ):
        return copy.copy(field)
    # DRF's deep copy rebuilds the field from its arguments: the source the camelCase rename
    # set afterwards is carried over by hand.
    fresh = copy.deepcopy(field)
    fresh.source = field.source
    return fresh


class CamelCaseMixin:
    """camelCase names on the wire; the fields are built once per serializer class.

    DRF rebuilds a serializer's fields for every instance: declared fields deep-copied, model
    fields introspected and constructed (a third of a 50-row listing's serializing, measured in
    docs/benchmarks.md "API CPU"). What they are depends only on the class (its declarations
    and `Meta`), so the first instance's set is kept as a template and each instance gets a
    copy (`_fresh`). A serializer whose fields depend on the request adjusts them in its own
    `get_fields` after `super().get_fields()` (that part runs for every instance), never in
    `build_field` or `get_extra_kwargs`.
    """

    _field_templates: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        template = CamelCaseMixin._field_templates.get(type(self))
        if template is None:
            template = CamelCaseMixin._field_templates[type(self)] = self._build_fields()
        return {name: _fresh(field) for name, field in template.items()}

    def _build_fields(self) -> dict[str, serializers.Field]:
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
                if isinstance(field, serializers.DateTimeField) and "timezone" not in vars(field):
                    # DRF asks for the current time zone on every value (a context-local read,
                    # a third of a listing's serializing); it cannot change within the request
                    # this serializer answers, so it is read once. DRF honours the attribute as
                    # it would a `default_timezone` argument.
                    field.timezone = field.default_timezone()  # type: ignore[assignment]
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

    def read_columns(self) -> list[str] | None:
        """The model fields a row of this serializer reads, for `QuerySet.only()`; None when
        that is not known (then every column is loaded, as before).

        A listing's rows are built from every column the table has, and converting the ones
        no field shows (timestamps parsed, JSON decoded) costs as much as those it shows. A
        field whose source is a field of the model reads that field; a method field reads
        what `Meta.method_columns` names for it, and one it does not name makes the answer
        None: a column left out would be read again per row, one query each.
        """
        cache = ReadPlanMixin._read_columns
        if type(self) not in cache:
            cache[type(self)] = self._find_read_columns()
        return cache[type(self)]

    _read_columns: ClassVar[dict[type, list[str] | None]] = {}

    def _find_read_columns(self) -> list[str] | None:
        meta = getattr(self, "Meta", None)
        model = getattr(meta, "model", None)
        if model is None:
            return None
        method_columns: Mapping[str, list[str]] = getattr(meta, "method_columns", {})
        names = {field.name for field in model._meta.concrete_fields}
        columns = {model._meta.pk.name}
        for field in self._readable_fields:  # type: ignore[attr-defined]
            if isinstance(field, serializers.SerializerMethodField):
                declared = method_columns.get(field.method_name.removeprefix("get_"))
                if declared is None:
                    return None
                columns.update(declared)
            elif len(field.source_attrs) == 1 and field.source_attrs[0] in names:
                columns.add(field.source_attrs[0])
            else:
                return None
        return sorted(columns)

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
