"""The call-session admin for campaign managers: a filtered list and a read-only session page
with the transcript as a chat, the recording player, outcome, summary, extracted data, timings."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from sessions import selectors
from sessions.models import CallSession

TIMING_FIELDS = [
    ("Queued", "queued_at"),
    ("Placed", "placed_at"),
    ("Ringing", "ringing_at"),
    ("Answered", "answered_at"),
    ("Ended", "ended_at"),
]


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
    ]

    class Media:
        css = {"all": ["sessions/admin.css"]}

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
            session.recording.url,
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

    @admin.display(description="Timings")
    def timings(self, session: CallSession) -> SafeString:
        rows = [(label, getattr(session, name)) for label, name in TIMING_FIELDS]
        rows.append(
            ("Duration", f"{session.duration_seconds} s" if session.duration_seconds else None)
        )
        return SafeString(render_to_string("sessions/admin/timings.html", {"rows": rows}))
