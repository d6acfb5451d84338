"""Query filters (camelCase parameters, validated: a bad value is a 400, not an empty page)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from anvil_voice.api.filters import UtcDateTimeFilter
from anvil_voice.api.search import phone_search_digits
from campaigns.models import Campaign, CampaignStatus, Contact, DoNotCallEntry
from sessions.models import AnsweredBy, CallSession, CallStatus, Outcome


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CampaignStatus.choices)
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=100, help_text="Part of the name."
    )

    class Meta:
        model = Campaign
        fields = ["status", "search"]


class ContactFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=100,
        help_text="Part of a name or company, or of the number written any way (`(212) 555-01`).",
    )
    phoneNumber = django_filters.CharFilter(field_name="phone_number", max_length=20)

    class Meta:
        model = Contact
        fields = ["search", "phoneNumber"]

    def filter_search(
        self, queryset: QuerySet[Contact], name: str, value: str
    ) -> QuerySet[Contact]:
        text = value.strip()
        if not text:
            return queryset
        matches = (
            Q(first_name__icontains=text)
            | Q(last_name__icontains=text)
            | Q(company__icontains=text)
            | Q(phone_number__contains=text)
        )
        if digits := phone_search_digits(text):
            matches |= Q(phone_number__contains=digits)
        return queryset.filter(matches)


class DoNotCallFilter(django_filters.FilterSet):
    phoneNumber = django_filters.CharFilter(
        field_name="phone_number", lookup_expr="contains", max_length=20
    )
    source = django_filters.MultipleChoiceFilter(choices=DoNotCallEntry.Source.choices)

    class Meta:
        model = DoNotCallEntry
        fields = ["phoneNumber", "source"]


class CampaignSessionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CallStatus.choices)
    outcome = django_filters.MultipleChoiceFilter(choices=Outcome.choices)
    answeredBy = django_filters.MultipleChoiceFilter(
        field_name="answered_by", choices=[choice for choice in AnsweredBy.choices if choice[0]]
    )
    contact = django_filters.NumberFilter(field_name="contact_id")
    startedAfter = UtcDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    startedBefore = UtcDateTimeFilter(field_name="queued_at", lookup_expr="lt")

    class Meta:
        model = CallSession
        fields = ["status", "outcome", "answeredBy", "contact", "startedAfter", "startedBefore"]
