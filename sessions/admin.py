"""The call-session admin for campaign managers: a filtered list and a read-only session page
with the transcript as a chat, the recording player, outcome, summary, extracted data, timings,
and a link to the "schedule callback" page (`campaigns.admin_callbacks`: it needs campaigns'
rules, and campaigns depends on sessions, never the reverse)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from anvil_voice.accounts.admin_scoping import ReadOnlyScopedAdmin
from sessions import selectors
from sessions.admin_costs import cost_breakdown_html
from sessions.models import CallSession
from voices.storage import audio_response

TIMING_FIELDS = [
    ("Queued", "queued_at"),
    ("Placed", "placed_at"),
    ("Ringing", "ringing_at"),
    ("Answered", "answered_at"),
    ("Recording started", "recording_started_at"),
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


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


@admin.register(CallSession)
class CallSessionAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "id",
        "contact_name",
        "to_number",
        "kind",
        "status",
        "outcome",
        "campaign",
        "queued_at",
        "duration_seconds",
    ]
    list_filter = ["status", "outcome", "kind", ("campaign", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["to_number", "from_number"]
    list_select_related = ["campaign", "contact"]
    ordering = ["-id"]
    # Nine columns: the list uses the page's width instead of clipping them.
    list_fullwidth = True
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
        (
            "Conversation",
            {"fields": ["recording_player", "conversation", "tool_calls", "transfers"]},
        ),
        ("Result", {"fields": ["summary", "extracted_data", "error"]}),
        ("Compliance", {"fields": ["recording_consent", "compliance_evidence"]}),
        ("Timings", {"fields": ["timings"]}),
        ("Callback", {"fields": ["callback"]}),
        ("Cost", {"fields": ["cost_breakdown"]}),
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
        "tool_calls",
        "transfers",
        "summary",
        "extracted_data",
        "error",
        "recording_consent",
        "compliance_evidence",
        "timings",
        "callback",
        "cost_breakdown",
    ]

    class Media:
        css = {"all": ["sessions/admin.css"]}

    def get_urls(self) -> list[URLPattern]:
        return [
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

    @admin.display(description="Contact", ordering="contact__last_name")
    def contact_name(self, session: CallSession) -> str:
        contact = session.contact
        if contact is None:
            return "—"
        return f"{contact.first_name} {contact.last_name}".strip() or "—"

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
                "text": turn.text if turn.recognized else "(not recognised)",
                "recognized": turn.recognized,
                "start": _clock(turn.start_ms),
                "end": _clock(turn.end_ms),
                "interrupted": turn.interrupted,
                "keypad": turn.keypad,
                "latency": _latency(turn.latency),
            }
            for turn in selectors.session_turns(session=session)
        ]
        return SafeString(render_to_string("sessions/admin/transcript.html", {"turns": turns}))

    @admin.display(description="Tool calls")
    def tool_calls(self, session: CallSession) -> SafeString | str:
        calls = selectors.session_tool_calls(session=session)
        if not calls:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            (
                (
                    call["turn"],
                    call["name"],
                    json.dumps(call["arguments"], sort_keys=True, ensure_ascii=False),
                    (
                        json.dumps(call["result"], sort_keys=True, ensure_ascii=False)
                        if call["ok"]
                        else f"error: {call['error']}"
                    ),
                    f"{call['latencyMs']} ms" if call["latencyMs"] is not None else "",
                )
                for call in calls
            ),
        )
        return format_html(
            '<table class="session-tool-calls"><thead><tr><th>Turn</th><th>Tool</th>'
            "<th>Arguments</th><th>Result</th><th>Latency</th></tr></thead><tbody>{}</tbody>"
            "</table>",
            rows,
        )

    @admin.display(description="Transfers")
    def transfers(self, session: CallSession) -> SafeString | str:
        transfers = selectors.session_transfers(session=session)
        if not transfers:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    transfer.get_mode_display(),
                    transfer.target_number,
                    transfer.reason,
                    transfer.get_state_display(),
                    transfer.answered_at.strftime("%H:%M:%S") if transfer.answered_at else "",
                    f"{transfer.talk_seconds} s" if transfer.talk_seconds is not None else "",
                    # A warm transfer's leg to the person, as its status callbacks said.
                    " → ".join(str(event.get("status", "")) for event in transfer.leg_events),
                    transfer.returned_at.strftime("%H:%M:%S") if transfer.returned_at else "",
                )
                for transfer in transfers
            ),
        )
        return format_html(
            '<table class="session-transfers"><thead><tr><th>Mode</th><th>To</th><th>Why</th>'
            "<th>State</th><th>Answered</th><th>Talked</th><th>Person's leg</th>"
            "<th>Back to the agent</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Cost")
    def cost_breakdown(self, session: CallSession) -> SafeString | str:
        return cost_breakdown_html(session)

    @admin.display(description="Extracted data")
    def extracted_data(self, session: CallSession) -> SafeString | str:
        if not session.extracted:
            return "-"
        return format_html(
            '<pre class="session-extracted">{}</pre>',
            json.dumps(session.extracted, indent=2, sort_keys=True, ensure_ascii=False),
        )

    @admin.display(description="Recording consent")
    def recording_consent(self, session: CallSession) -> str:
        """One sentence from the recording evidence (`sessions.carrier.recording`)."""
        evidence = (session.compliance or {}).get("recording")
        if not isinstance(evidence, dict):
            return "Not recorded (the campaign does not record calls)."
        if evidence.get("recorded"):
            if evidence.get("disclosure_required"):
                return (
                    f"Recorded from {evidence.get('recording_started_at')}, after the "
                    f"disclosure {evidence.get('disclosure_text')!r} was played in full "
                    f"(confirmed by {evidence.get('playback_confirmed_by')} at "
                    f"{evidence.get('disclosure_played_at')})."
                )
            return (
                f"Recorded from the answer ({evidence.get('recording_started_at')}); the "
                "script requires no recording disclosure."
            )
        return f"Not recorded: {str(evidence.get('reason', 'unknown')).replace('_', ' ')}."

    @admin.display(description="Compliance evidence")
    def compliance_evidence(self, session: CallSession) -> SafeString | str:
        if not session.compliance:
            return "-"
        return format_html(
            '<pre class="session-extracted">{}</pre>',
            json.dumps(session.compliance, indent=2, sort_keys=True, ensure_ascii=False),
        )

    @admin.display(description="Error")
    def error(self, session: CallSession) -> str:
        if not (session.error_code or session.error_message):
            return "-"
        return f"{session.error_code}: {session.error_message}".strip(": ")

    @admin.display(description="Callback")
    def callback(self, session: CallSession) -> SafeString | str:
        latest = selectors.callback_latest_for(session=session)
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
