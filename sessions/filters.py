"""Query parameters of the session list: filters (django-filter) and the keyset ordering.

Every value is validated: an unknown choice, a malformed date or number is a 400, never an
empty page. "Started" means `queued_at` (when the session was created), which every session
has; the default ordering (newest first) is by that same column, then by id for ties.
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet

from anvil_voice.api.filters import UtcDateTimeFilter
from anvil_voice.errors import VALIDATION_MESSAGE, ApplicationError
from sessions import selectors
from sessions.models import AnsweredBy, CallSession, CallStatus, Outcome, SessionKind
from sessions.selectors import sessions_with_callback_scheduled

E164 = RegexValidator(r"^\+[1-9][0-9]{1,14}$", "Enter a phone number in E.164 form (+14155550100).")
BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]

# API ordering value -> keyset ordering (ends in the primary key; every field non-null). The
# values name the fields a session answers with; `duration`/`-duration`, the names before
# `durationSeconds`, stay as aliases (same ordering, so their cursors are interchangeable).
# "startedAt" is `queued_at` then id, not id alone: `?startedAfter=&startedBefore=` then reads
# one stretch of the (organization, queued_at, id) index, so the first page of an old range is
# a seek instead of a walk over every newer session (benchmarks.sessions_list).
ORDERINGS: dict[str, list[str]] = {
    "-startedAt": ["-queued_at", "-id"],
    "startedAt": ["queued_at", "id"],
    "-durationSeconds": ["-duration_key", "-id"],
    "durationSeconds": ["duration_key", "id"],
}
ORDERING_ALIASES = {"-duration": "-durationSeconds", "duration": "durationSeconds"}
ORDERING_VALUES = [*ORDERINGS, *ORDERING_ALIASES]
DEFAULT_ORDERING = "-startedAt"


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class SessionFilter(django_filters.FilterSet):
    campaign = IntegerFilter(field_name="campaign_id")
    contact = IntegerFilter(field_name="contact_id")
    phoneNumber = django_filters.CharFilter(field_name="to_number", validators=[E164])
    # distinct=False: these are columns of the session row, so no join can repeat a row, and
    # django-filter's default DISTINCT made PostgreSQL sort whole rows (seconds at 1M sessions).
    kind = django_filters.MultipleChoiceFilter(
        field_name="kind", choices=SessionKind.choices, distinct=False
    )
    status = django_filters.MultipleChoiceFilter(
        field_name="status", choices=CallStatus.choices, distinct=False
    )
    outcome = django_filters.MultipleChoiceFilter(
        field_name="outcome", choices=Outcome.choices, distinct=False
    )
    answeredBy = django_filters.MultipleChoiceFilter(
        field_name="answered_by",
        choices=[choice for choice in AnsweredBy.choices if choice[0]],
        distinct=False,
    )
    startedAfter = UtcDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    startedBefore = UtcDateTimeFilter(field_name="queued_at", lookup_expr="lt")
    minDuration = IntegerFilter(field_name="duration_seconds", lookup_expr="gte", min_value=0)
    maxDuration = IntegerFilter(field_name="duration_seconds", lookup_expr="lte", min_value=0)
    hasRecording = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_recording")
    callbackScheduled = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES, method="filter_callback"
    )
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text=(
            "Words said in the call, or part of the number called, written any way "
            "(`555010`, `(212) 555-0104`, `+1 212 555 0104`)."
        ),
    )

    class Meta:
        model = CallSession
        fields: list[str] = []

    # django-filter copies every filter and builds a new form class from them on each request:
    # ~1/8 of a filtered page's server time at 1M sessions (benchmarks.sessions_list). A filter
    # whose parameter is absent filters nothing, so only the given ones are copied, and the form
    # class for each set of them is built once (no field here depends on the request: no
    # querysets of choices; a form copies its fields when it is made). Unknown parameters never
    # get here (`reject_unknown_params`).
    _form_classes: ClassVar[dict[tuple[str, ...], type[forms.Form]]] = {}

    def __init__(
        self,
        data: Any = None,
        queryset: QuerySet[CallSession] | None = None,
        *,
        request: Any = None,
        prefix: str | None = None,
    ) -> None:
        if data is not None:
            # An instance attribute: django-filter copies `self.base_filters`.
            self.__dict__["base_filters"] = {
                name: filter_ for name, filter_ in self.base_filters.items() if name in data
            }
        super().__init__(data, queryset, request=request, prefix=prefix)

    def get_form_class(self) -> type[forms.Form]:
        names = tuple(self.filters)
        form_class = self._form_classes.get(names)
        if form_class is None:
            fields = {name: filter_.field for name, filter_ in self.filters.items()}
            form_class = type(f"{type(self).__name__}Form", (self._meta.form,), fields)
            self._form_classes[names] = form_class
        return form_class

    def filter_recording(
        self, queryset: QuerySet[CallSession], name: str, value: str
    ) -> QuerySet[CallSession]:
        if value == "true":
            return queryset.exclude(recording="")
        return queryset.filter(recording="")

    def filter_callback(
        self, queryset: QuerySet[CallSession], name: str, value: str
    ) -> QuerySet[CallSession]:
        return sessions_with_callback_scheduled(queryset, value == "true")

    def filter_search(
        self, queryset: QuerySet[CallSession], name: str, value: str
    ) -> QuerySet[CallSession]:
        value = value.strip()
        return selectors.session_search(queryset, value) if value else queryset


LIST_PARAMS = frozenset(SessionFilter.base_filters) | {"ordering", "cursor", "limit"}


def session_ordering(params: Any) -> list[str]:
    """The keyset ordering for `?ordering=`; unknown values are a 400."""
    value = params.get("ordering") or DEFAULT_ORDERING
    value = ORDERING_ALIASES.get(value, value)
    if value not in ORDERINGS:
        raise ApplicationError(
            VALIDATION_MESSAGE,
            details={"ordering": [f"Must be one of: {', '.join(ORDERING_VALUES)}."]},
        )
    return ORDERINGS[value]


def reject_unknown_params(params: Any) -> None:
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise ApplicationError(
            VALIDATION_MESSAGE, details={name: ["Unknown query parameter."] for name in unknown}
        )
