"""The admin's "schedule callback" page and the list of scheduled callbacks.

A session page links here (by URL name: sessions never import campaigns); scheduling and
cancelling go through the same service and rules as `POST/DELETE /sessions/:id/callback`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from anvil_voice.accounts.admin_scoping import (
    ReadOnlyScopedAdmin,
    scope_queryset_for_user,
    user_can_write,
)
from anvil_voice.errors import VALIDATION_MESSAGE, ApplicationError
from campaigns.dialling import callbacks
from campaigns.models import Contact
from sessions.models import CallbackStatus, CallSession, ScheduledCallback

# What the picker sends (`<input type="datetime-local">`): minutes, or seconds with step < 60.
PICKER_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def contact_zone(session: CallSession) -> ZoneInfo:
    """The zone the form speaks in: the contact's own (UTC when the session has no contact,
    which cannot be called back anyway: the service says so)."""
    return contact_zone_of(session.contact)


def contact_zone_of(contact: Contact | None) -> ZoneInfo:
    name = contact.time_zone if contact is not None else ""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_text(at: datetime, zone: ZoneInfo) -> str:
    """`Wednesday 4 March 2026, 08:00 (America/New_York, EST)`: what a person reads."""
    local = at.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone.key}, {local:%Z})"


def picker_value(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime(PICKER_FORMATS[0])


class ScheduleCallbackForm(forms.Form):
    at = forms.CharField(
        label="Call at",
        max_length=19,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "data-testid": "callback-at"}),
    )
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "data-testid": "callback-note"}),
    )

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["at"].help_text = f"In the contact's local time: {zone.key}."

    def clean_at(self) -> datetime:
        raw = self.cleaned_data["at"].strip()
        for pattern in PICKER_FORMATS:
            try:
                naive = datetime.strptime(raw, pattern)
                break
            except ValueError:
                continue
        else:
            raise forms.ValidationError("Pick a date and a time.")
        at = naive.replace(tzinfo=self.zone)
        # A time the clocks skip when they go forward does not exist there: say so rather
        # than guess which hour was meant.
        if at.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise forms.ValidationError(
                f"{naive:%H:%M} does not exist on {naive:%d %B} in {self.zone.key} "
                "(the clocks change); pick another time."
            )
        return at


@admin.register(ScheduledCallback)
class ScheduledCallbackAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "id", "contact", "campaign", "at", "at_local", "status", "requested_by", "source_session"
    ]  # fmt: skip
    list_filter = ["status", "requested_by"]
    list_select_related = ["contact", "campaign"]
    ordering = ["-at"]

    @admin.display(description="Contact's local time", ordering="at")
    def at_local(self, callback: ScheduledCallback) -> str:
        return local_text(callback.at, contact_zone_of(callback.contact))

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
        """Schedule or cancel a callback with the same services and rules as the API, in the
        contact's local time and plain words (no API field names, no "adjust")."""
        sessions = scope_queryset_for_user(
            CallSession.objects.select_related("contact", "campaign"), request=request
        )
        session = sessions.filter(pk=object_id).first()
        if session is None or not self.has_view_permission(request):
            raise Http404("No such session.")
        if not user_can_write(request, session.organization):
            raise PermissionDenied("Your role in this organization cannot change data.")
        user = request.user if request.user.is_authenticated else None
        zone = contact_zone(session)
        page_url = reverse("admin:call_sessions_callsession_callback", args=[session.pk])
        if request.method == "POST" and request.POST.get("cancel"):
            try:
                cancelled = callbacks.callback_cancel(session=session, user=user)
            except ApplicationError:
                messages.error(request, "There is no pending callback to cancel.")
            else:
                messages.success(
                    request, f"The callback for {local_text(cancelled.at, zone)} was cancelled."
                )
            return HttpResponseRedirect(page_url)
        form = ScheduleCallbackForm(request.POST if request.method == "POST" else None, zone=zone)
        suggestion = None
        if request.method == "POST" and form.is_valid():
            try:
                result = callbacks.callback_schedule(
                    session=session,
                    at=form.cleaned_data["at"],
                    note=form.cleaned_data["note"],
                    user=user,
                )
            except callbacks.OutsideCallingWindow as outside:
                suggestion = outside.allowed
                form.add_error(
                    "at",
                    f"{local_text(form.cleaned_data['at'], zone)} is outside the hours this "
                    f"contact may be called. The nearest allowed time is "
                    f"{local_text(outside.allowed, zone)}.",
                )
            except ApplicationError as exc:
                for message in plain_messages(exc):
                    form.add_error(None, message)
            else:
                messages.success(
                    request, f"Callback scheduled for {local_text(result.callback.at, zone)}."
                )
                return HttpResponseRedirect(page_url)
        pending = session.scheduled_callbacks.filter(status=CallbackStatus.PENDING).first()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Schedule a callback for session {session.pk}",
            "opts": CallSession._meta,
            "original": session,
            "session": session,
            "form": form,
            "zone": zone.key,
            "now_local": local_text(timezone.now(), zone),
            "pending": pending,
            "pending_local": local_text(pending.at, zone) if pending else "",
            "suggestion_local": local_text(suggestion, zone) if suggestion else "",
            "suggestion_value": picker_value(suggestion, zone) if suggestion else "",
            "change_url": reverse("admin:call_sessions_callsession_change", args=[session.pk]),
        }
        return render(request, "sessions/admin/schedule_callback.html", context)


def plain_messages(error: ApplicationError) -> list[str]:
    """What a person reads for a refused request: a validation error's own field messages
    (the envelope's "see error.details" is API wording), otherwise its message."""
    if error.message == VALIDATION_MESSAGE and error.details:
        return [
            str(message)
            for items in error.details.values()
            for message in (items if isinstance(items, list) else [items])
        ]
    return [error.message]
