"""The admin's "schedule callback" page and the list of scheduled callbacks.

A session page links here (by URL name: sessions never import campaigns); scheduling and
cancelling go through the same service and rules as `POST/DELETE /sessions/:id/callback`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.dateparse import parse_datetime

from anvil_voice.accounts.admin_scoping import (
    ReadOnlyScopedAdmin,
    scope_queryset_for_user,
    user_can_write,
)
from anvil_voice.errors import ApplicationError
from campaigns.dialling import callbacks
from sessions.models import CallbackStatus, CallSession, ScheduledCallback


class ScheduleCallbackForm(forms.Form):
    at = forms.CharField(
        label="Call at",
        max_length=40,
        help_text="ISO-8601 with the UTC offset, e.g. 2026-03-03T11:00:00-05:00.",
    )
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    adjust = forms.BooleanField(
        required=False,
        label="Move to the next allowed time if outside the calling window",
    )

    def clean_at(self) -> Any:
        raw = self.cleaned_data["at"].strip()
        try:
            value = parse_datetime(raw)
        except ValueError:
            value = None
        if value is None:
            raise forms.ValidationError("Enter a date and time in ISO-8601 form.")
        if value.tzinfo is None:
            raise forms.ValidationError("Include a UTC offset (for example -05:00 or Z).")
        return value


@admin.register(ScheduledCallback)
class ScheduledCallbackAdmin(ReadOnlyScopedAdmin):
    list_display = ["id", "contact", "campaign", "at", "status", "requested_by", "source_session"]
    list_filter = ["status", "requested_by"]
    ordering = ["-at"]

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "schedule/<int:object_id>/",
                self.admin_site.admin_view(self.schedule_callback_view),
                # The name the session page links to.
                name="call_sessions_callsession_callback",
            ),
            *super().get_urls(),
        ]

    def schedule_callback_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Schedule (or cancel) a callback with the same service and rules as the API."""
        sessions = scope_queryset_for_user(CallSession.objects.all(), request=request)
        session = sessions.filter(pk=object_id).first()
        if session is None or not self.has_view_permission(request):
            raise Http404("No such session.")
        if not user_can_write(request, session.organization):
            raise PermissionDenied("Your role in this organization cannot change data.")
        change_url = reverse("admin:call_sessions_callsession_change", args=[session.pk])
        form = ScheduleCallbackForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and request.POST.get("cancel"):
            try:
                callbacks.callback_cancel(session=session)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "The pending callback was cancelled.")
            return HttpResponseRedirect(change_url)
        if request.method == "POST" and form.is_valid():
            try:
                result = callbacks.callback_schedule(
                    session=session,
                    at=form.cleaned_data["at"],
                    note=form.cleaned_data["note"],
                    adjust=form.cleaned_data["adjust"],
                    user=request.user if request.user.is_authenticated else None,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                for messages_ in (exc.details or {}).values():
                    for message in messages_ if isinstance(messages_, list) else [messages_]:
                        form.add_error(None, str(message))
            else:
                moved = " (moved into the calling window)" if result.adjusted else ""
                messages.success(
                    request, f"Callback scheduled for {result.callback.at.isoformat()}{moved}."
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Schedule a callback for session {session.pk}",
            "opts": CallSession._meta,
            "original": session,
            "session": session,
            "form": form,
            "pending": session.scheduled_callbacks.filter(status=CallbackStatus.PENDING).first(),
            "change_url": change_url,
        }
        return render(request, "sessions/admin/schedule_callback.html", context)
