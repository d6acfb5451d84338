from __future__ import annotations

import django_filters

from scripts.models import Script


class ScriptFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    updatedAfter = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updatedBefore = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="lte")

    class Meta:
        model = Script
        fields: list[str] = []
