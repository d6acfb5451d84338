"""The live monitor page in the admin: live calls with their transcripts streaming in."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from anvil_voice.accounts.admin_scoping import scope_queryset_for_user
from sessions.models import TERMINAL_CALL_STATUSES, CallSession


@staff_member_required
def live_monitor(request: HttpRequest) -> HttpResponse:
    live = (
        scope_queryset_for_user(CallSession.objects.all(), request=request)
        .exclude(status__in=TERMINAL_CALL_STATUSES)
        .select_related("campaign")
        .prefetch_related("turns")
        .order_by("-id")[:50]
    )
    context = {
        **admin.site.each_context(request),
        "title": "Live calls",
        "live_sessions": live,
    }
    return TemplateResponse(request, "admin/live_monitor.html", context)
