"""The call-session admin for campaign managers: a filtered list and a read-only session page
with the transcript as a chat, the recording player, outcome, summary, extracted data, timings,
and a "schedule callback" page (the API's service, `sessions.callbacks`)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin, user_can_write
from anvil_voice.errors import ApplicationError
from sessions import callbacks, selectors
from sessions.models import CallbackStatus, CallSession
from voices.storage import audio_response

TIMING_FIELDS = [
    ("Queued", "queued_at"),
    ("Placed", "placed_at"),
    ("Ringing", "ringing_at"),
    ("Answered", "answered_at"),
    ("Ended", "ended_at"),
]


# Per-turn timings, in pipeline order (see sessions.pipeline.turns.Turn.latency).
_LATENCY_STEPS = [
    ("endpoint_ms", "endpoint"),
    ("stt_final_ms", "STT final"),
    ("agent_first_token_ms", "first token"),
    ("tts_first_audio_ms", "first audio"),
    ("first_frame_ms", "first frame"),
]


def _latency(figures: dict[str, Any] | None) -> str:
    """`since speech end: endpoint 601 ms · STT final 930 ms · …` for the chat view."""
    if not figures:
        return ""
    steps = [
        f"{label} {round(float(figures[key]))} ms"
        for key, label in _LATENCY_STEPS
        if isinstance(figures.get(key), int | float)
    ]
    if not steps:
        return ""
    since = str(figures.get("since", "")).replace("_", " ")
    return f"since {since}: " + " · ".join(steps) if since else " · ".join(steps)


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


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


@admin.register(CallSession)
class CallSessionAdmin(OrganizationScopedAdmin):
    list_display = [
        "id",
        "kind",
        "to_number",
        "status",
        "outcome",
        "campaign",
        "queued_at",
        "duration_seconds",
    ]
    list_filter = ["status", "outcome", "kind", ("campaign", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["to_number", "from_number"]
    list_select_related = ["campaign"]
    ordering = ["-id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "kind",
                    "campaign",
                    "contact",
                    "to_number",
                    "from_number",
                    "status",
                    "answered_by",
                    "outcome",
                    "end_reason",
                ]
            },
        ),
        ("Conversation", {"fields": ["recording_player", "conversation"]}),
        ("Result", {"fields": ["summary", "extracted_data", "error"]}),
        ("Timings", {"fields": ["timings"]}),
        ("Callback", {"fields": ["callback"]}),
    ]
    readonly_fields = [
        "organization",
        "kind",
        "campaign",
        "contact",
        "to_number",
        "from_number",
        "status",
        "answered_by",
        "outcome",
        "end_reason",
        "recording_player",
        "conversation",
        "summary",
        "extracted_data",
        "error",
        "timings",
        "callback",
    ]

    class Media:
        css = {"all": ["sessions/admin.css"]}

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:object_id>/callback/",
                self.admin_site.admin_view(self.schedule_callback_view),
                name="call_sessions_callsession_callback",
            ),
            path(
                "<int:object_id>/recording/",
                self.admin_site.admin_view(self.recording_view),
                name="call_sessions_callsession_recording",
            ),
            *super().get_urls(),
        ]

    def recording_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        """The recording for the player: private files are streamed, S3 ones presigned."""
        session = self.get_queryset(request).filter(pk=object_id).first()
        if session is None or not session.recording:
            raise Http404("No such recording.")
        if not self.has_view_permission(request, session):
            raise PermissionDenied
        return audio_response(name=str(session.recording.name), audio_format="wav")

    def schedule_callback_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Schedule (or cancel) a callback with the same service and rules as the API."""
        session = self.get_queryset(request).filter(pk=object_id).first()
        if session is None or not self.has_view_permission(request, session):
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
            "opts": self.model._meta,
            "original": session,
            "session": session,
            "form": form,
            "pending": session.scheduled_callbacks.filter(status=CallbackStatus.PENDING).first(),
            "change_url": change_url,
        }
        return render(request, "sessions/admin/schedule_callback.html", context)

    # Sessions are written by calls, never by hand.
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="Recording")
    def recording_player(self, session: CallSession) -> SafeString | str:
        if not session.recording:
            return "No recording"
        return format_html(
            '<audio class="session-recording" controls preload="none" src="{}"></audio>',
            reverse("admin:call_sessions_callsession_recording", args=[session.pk]),
        )

    @admin.display(description="Transcript")
    def conversation(self, session: CallSession) -> SafeString:
        turns = [
            {
                "speaker": turn.speaker,
                "label": turn.get_speaker_display(),
                "text": turn.text,
                "start": _clock(turn.start_ms),
                "end": _clock(turn.end_ms),
                "interrupted": turn.interrupted,
                "latency": _latency(turn.latency),
            }
            for turn in selectors.session_turns(session=session)
        ]
        return SafeString(render_to_string("sessions/admin/transcript.html", {"turns": turns}))

    @admin.display(description="Extracted data")
    def extracted_data(self, session: CallSession) -> SafeString | str:
        if not session.extracted:
            return "-"
        return format_html(
            '<pre class="session-extracted">{}</pre>',
            json.dumps(session.extracted, indent=2, sort_keys=True, ensure_ascii=False),
        )

    @admin.display(description="Error")
    def error(self, session: CallSession) -> str:
        if not (session.error_code or session.error_message):
            return "-"
        return f"{session.error_code}: {session.error_message}".strip(": ")

    @admin.display(description="Callback")
    def callback(self, session: CallSession) -> SafeString | str:
        latest = callbacks.callback_latest_for(session=session)
        link = format_html(
            '<a class="button" href="{}">Schedule callback</a>',
            reverse("admin:call_sessions_callsession_callback", args=[session.pk]),
        )
        if latest is None:
            return link if session.campaign_id else "Not a campaign call"
        return format_html(
            "{} at {}{} {}",
            latest.get_status_display(),
            latest.at.isoformat(),
            f" ({latest.note})" if latest.note else "",
            link,
        )

    @admin.display(description="Timings")
    def timings(self, session: CallSession) -> SafeString:
        rows = [(label, getattr(session, name)) for label, name in TIMING_FIELDS]
        rows.append(
            ("Duration", f"{session.duration_seconds} s" if session.duration_seconds else None)
        )
        return SafeString(render_to_string("sessions/admin/timings.html", {"rows": rows}))
