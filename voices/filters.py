"""Query filters for the voice list (`?status=ready&search=anna&isClone=true&provider=local`)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from voices.models import Voice, VoiceStatus


class VoiceFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VoiceStatus.choices)
    search = django_filters.CharFilter(
        method="filter_search", max_length=100, help_text="Part of the voice's name."
    )
    provider = django_filters.CharFilter(field_name="provider", max_length=32)
    # camelCase query parameter, like the keys in the bodies.
    isClone = django_filters.BooleanFilter(field_name="is_clone")

    class Meta:
        model = Voice
        fields = ["status", "search", "provider", "isClone"]

    def filter_search(self, queryset: QuerySet[Voice], name: str, value: str) -> QuerySet[Voice]:
        return queryset.filter(name__icontains=value.strip()) if value.strip() else queryset
