"""Wire shapes of call sessions: a list row, the full session, transcript turns, a test call."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseModelSerializer, CamelCaseSerializer
from sessions import selectors
from sessions.models import CallSession, TranscriptTurn
from sessions.services import E164_MESSAGE

# The shape only (documented as the schema's pattern); the service checks the number is real.
E164_FORMAT = RegexValidator(r"^\+[1-9][0-9]{1,14}$", E164_MESSAGE)


class TranscriptTurnSerializer(CamelCaseModelSerializer):
    class Meta:
        model = TranscriptTurn
        fields = ["index", "speaker", "text", "start_ms", "end_ms", "interrupted"]
        read_only_fields = fields


class SessionSerializer(CamelCaseModelSerializer):
    """A list row: who was called, how far the call got and how it ended."""

    started_at = serializers.DateTimeField(source="queued_at", read_only=True)
    has_recording = serializers.SerializerMethodField()
    callback_at = serializers.SerializerMethodField()

    class Meta:
        model = CallSession
        fields = [
            "id",
            "kind",
            "campaign",
            "contact",
            "to_number",
            "from_number",
            "status",
            "answered_by",
            "outcome",
            "started_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "has_recording",
            "callback_at",
        ]
        read_only_fields = fields

    def get_has_recording(self, session: CallSession) -> bool:
        return bool(session.recording)

    def get_callback_at(self, session: CallSession) -> str | None:
        value = (session.extracted or {}).get("callback_at")
        return str(value) if value else None


class SessionDetailSerializer(SessionSerializer):
    """The full session: transcript, outcome, summary, extracted data, timings, recording."""

    script = serializers.SerializerMethodField()
    timings = serializers.SerializerMethodField()
    recording_url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    transcript = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    class Meta(SessionSerializer.Meta):
        fields = [
            *SessionSerializer.Meta.fields,
            "script",
            "voice",
            "variables",
            "end_reason",
            "summary",
            "extracted",
            "timings",
            "recording_url",
            "error",
            "transcript",
            "events",
        ]
        read_only_fields = fields

    def get_script(self, session: CallSession) -> dict[str, int] | None:
        version = session.script_version
        if version is None:
            return None
        return {"id": version.script_id, "version": version.number}

    def get_timings(self, session: CallSession) -> dict[str, Any]:
        field = serializers.DateTimeField()
        stamps = {
            "queuedAt": session.queued_at,
            "placedAt": session.placed_at,
            "ringingAt": session.ringing_at,
            "answeredAt": session.answered_at,
            "endedAt": session.ended_at,
        }
        return {
            **{
                key: field.to_representation(value) if value else None
                for key, value in stamps.items()
            },
            "durationSeconds": session.duration_seconds,
            "recordingDurationSeconds": session.recording_duration_seconds,
        }

    def get_recording_url(self, session: CallSession) -> str | None:
        return session.recording.url if session.recording else None

    def get_error(self, session: CallSession) -> dict[str, str] | None:
        if not (session.error_code or session.error_message):
            return None
        return {"code": session.error_code, "message": session.error_message}

    def get_transcript(self, session: CallSession) -> list[dict[str, Any]]:
        turns = selectors.session_turns(session=session)
        return list(TranscriptTurnSerializer(turns, many=True).data)

    def get_events(self, session: CallSession) -> dict[str, Any]:
        summary = selectors.session_events_summary(session=session)
        field = serializers.DateTimeField()
        for key in ("firstAt", "lastAt"):
            summary[key] = field.to_representation(summary[key]) if summary[key] else None
        return summary


class TestCallSerializer(CamelCaseSerializer):
    """`from` is a Python keyword: the field is declared as `caller` and published as `from`."""

    to = serializers.CharField(max_length=16, validators=[E164_FORMAT])
    script = serializers.IntegerField(min_value=1)
    voice = serializers.IntegerField(min_value=1)
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=500),
        required=False,
        default=dict,
    )
    caller = serializers.CharField(required=False, max_length=32)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("caller")
        return fields
