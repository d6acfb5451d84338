"""The admin's analytics page and its CSV export of sessions (with transcripts).

Entry points only: parse the filter (campaign, date range), scope by organization, call the
selectors in `campaigns.analytics` / `campaigns.exports`, render. Anyone who may view call
sessions in the admin (viewers too: reading is what their role allows) sees the calls of the
organizations they belong to; another organization's campaign is a 404.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from anvil_voice.accounts.admin_scoping import scope_queryset_for_user
from campaigns import analytics, analytics_page, exports
from campaigns.models import Campaign
from sessions.models import CallSession

DEFAULT_DAYS = 30
# The page and the export read the same range; a wider one is refused rather than scanned.
MAX_DAYS = 366


class AnalyticsFilterForm(forms.Form):
    campaign = forms.IntegerField(required=False, min_value=1)
    start = forms.DateField(required=False, label="From")
    end = forms.DateField(required=False, label="To (inclusive)")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("“To” is before “From”.")
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError(f"Pick at most {MAX_DAYS} days.")
        return cleaned


def _require_viewer(request: HttpRequest) -> None:
    if not request.user.has_perm("call_sessions.view_callsession"):
        raise PermissionDenied("You may not view call sessions.")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _filtered(
    request: HttpRequest,
) -> tuple[AnalyticsFilterForm, Campaign | None, QuerySet[CallSession], dict[str, Any]]:
    """The form, the chosen campaign (404 when not visible) and the scoped, filtered calls."""
    form = AnalyticsFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None, CallSession.objects.none(), {}
    data = form.cleaned_data if request.GET else {}
    today = timezone.now().astimezone(UTC).date()
    end: date = data.get("end") or today
    start: date = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
    campaigns = scope_queryset_for_user(Campaign.objects.all(), request=request)
    campaign = None
    if data.get("campaign"):
        campaign = campaigns.filter(pk=data["campaign"]).first()
        if campaign is None:
            raise Http404("No such campaign.")
    sessions = analytics.analytics_sessions(
        scope_queryset_for_user(CallSession.objects.all(), request=request),
        campaign_id=campaign.pk if campaign is not None else None,
        since=_day_start(start),
        until=_day_start(end + timedelta(days=1)),
    )
    chosen = {"campaign": campaign.pk if campaign else "", "start": start, "end": end}
    return form, campaign, sessions, chosen


def analytics_view(request: HttpRequest) -> HttpResponse:
    _require_viewer(request)
    form, campaign, sessions, chosen = _filtered(request)
    campaigns = scope_queryset_for_user(Campaign.objects.all(), request=request).order_by("name")
    names = dict(campaigns.values_list("id", "name"))
    figures = analytics.campaign_analytics(sessions=sessions)
    overall, per_campaign = analytics.reply_latencies(sessions=sessions, campaign_names=names)
    export_query = urlencode(
        {key: str(value) for key, value in chosen.items() if value not in ("", None)}
    )
    context = {
        **admin.site.each_context(request),
        "title": f"Analytics: {campaign.name}" if campaign else "Analytics: all campaigns",
        "form": form,
        "campaign": campaign,
        "campaign_choices": list(campaigns.values_list("id", "name")),
        "chosen": chosen,
        "export_query": export_query,
        **analytics_page.page_context(
            analytics=figures, latency_overall=overall, latency=per_campaign
        ),
    }
    return TemplateResponse(request, "campaigns/admin/analytics.html", context)


def sessions_csv_view(request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
    _require_viewer(request)
    form, campaign, sessions, chosen = _filtered(request)
    if form.errors:
        return HttpResponse(
            "; ".join(str(error) for errors in form.errors.values() for error in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    name = f"sessions-{campaign.pk if campaign else 'all'}-{chosen['start']}-{chosen['end']}.csv"
    # Served by an ASGI server (production), the rows must come from an async iterator to
    # stream; under WSGI (and the test client) from a plain one.
    rows = (
        exports.sessions_csv_rows_async(sessions)
        if isinstance(request, ASGIRequest)
        else exports.sessions_csv_rows(sessions)
    )
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
