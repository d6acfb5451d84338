"""Serializer base: camelCase keys on the wire, strict about what a client may write.

Models keep snake_case; `CamelCaseSerializer` renames every field to camelCase (the model
attribute becomes the field's `source`), so requests, responses, error details and the OpenAPI
schema all agree without a key-rewriting renderer that would also mangle user data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import serializers

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


class CamelCaseModelSerializer(StrictFieldsMixin, CamelCaseMixin, serializers.ModelSerializer):
    pass


class CamelCaseSerializer(StrictFieldsMixin, CamelCaseMixin, serializers.Serializer):
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
