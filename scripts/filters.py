from __future__ import annotations

import django_filters

from anvil_voice.api.filters import UtcDateTimeFilter
from scripts.models import Script


class ScriptFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    updatedAfter = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updatedBefore = UtcDateTimeFilter(field_name="updated_at", lookup_expr="lte")

    class Meta:
        model = Script
        fields: list[str] = []
