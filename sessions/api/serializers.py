"""Wire shapes of call sessions: a list row, the full session, transcript turns, a callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseModelSerializer
from scripts.engine.tools import TOOL_KINDS
from sessions import selectors
from sessions.api.costs import SessionCostSerializer
from sessions.costs import cost_payload
from sessions.models import (
    CallSession,
    ScheduledCallback,
    SessionCost,
    TranscriptTurn,
    Transfer,
)
from voices.storage import signed_url


class TranscriptTurnSerializer(CamelCaseModelSerializer):
    class Meta:
        model = TranscriptTurn
        fields = [
            "index",
            "speaker",
            "text",
            "start_ms",
            "end_ms",
            "interrupted",
            "recognized",
            "keypad",
        ]
        read_only_fields = fields


class ToolCallSerializer(serializers.Serializer):
    """One tool call the agent made (`sessions.selectors.session_tool_calls`): already in wire
    shape; the arguments and result are the tool's own JSON, never renamed."""

    id = serializers.CharField()
    turn = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=TOOL_KINDS)
    arguments = serializers.JSONField()
    ok = serializers.BooleanField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    latencyMs = serializers.FloatField(allow_null=True)
    at = serializers.DateTimeField()


class TransferLegEventSerializer(serializers.Serializer):
    """One status callback of a warm transfer's leg to the person, as it came."""

    status = serializers.CharField()
    sequence = serializers.IntegerField(allow_null=True)
    at = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField())
    def get_at(self, event: dict[str, Any]) -> str | None:
        # Stored as ISO text in the JSON column: shown like every other time in the API.
        moment = datetime.fromisoformat(str(event["at"])) if event.get("at") else None
        return serializers.DateTimeField().to_representation(moment) if moment else None


class SessionTransferSerializer(CamelCaseModelSerializer):
    """A hand-over of the caller to a person: where, why, how it went, how long they talked.
    Warm transfers also show the person's leg as it went (`legEvents`), and, when nobody took
    the call, when the caller was sent back to the agent and that stream accepted."""

    leg_events = TransferLegEventSerializer(many=True, read_only=True)

    class Meta:
        model = Transfer
        fields = [
            "id",
            "mode",
            "target_number",
            "reason",
            "state",
            "timeout_seconds",
            "requested_at",
            "answered_at",
            "ended_at",
            "talk_seconds",
            "carrier_status",
            "error_message",
            "carrier_leg_sid",
            "leg_events",
            "returned_at",
            "resumed_at",
        ]
        read_only_fields = fields


class CallbackSerializer(CamelCaseModelSerializer):
    """A scheduled callback: when (and what was asked, if `adjust` moved it), who asked for it
    (`person` through the API or the admin, `callee` on the call), its state, and the session the
    dialler placed for it."""

    session = serializers.IntegerField(source="source_session_id", read_only=True)
    adjusted = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledCallback
        fields = [
            "id",
            "session",
            "campaign",
            "contact",
            "status",
            "at",
            "requested_at",
            "adjusted",
            "note",
            "requested_by",
            "skip_reason",
            "placed_session",
            "created_at",
        ]
        read_only_fields = fields

    def get_adjusted(self, callback: ScheduledCallback) -> bool:
        return callback.at != callback.requested_at


class SessionSerializer(CamelCaseModelSerializer):
    """A list row: who was called, how far the call got and how it ended."""

    started_at = serializers.DateTimeField(source="queued_at", read_only=True)
    has_recording = serializers.SerializerMethodField()
    callback_at = serializers.SerializerMethodField()
    callback = serializers.SerializerMethodField()

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
            "callback",
        ]
        read_only_fields = fields
        # What each method field reads of the row (`read_columns`: the list loads only these).
        method_columns = {
            "has_recording": ["recording"],
            "callback_at": ["extracted"],
            "callback": [],
        }

    def get_has_recording(self, session: CallSession) -> bool:
        return bool(session.recording)

    def get_callback_at(self, session: CallSession) -> str | None:
        value = (session.extracted or {}).get("callback_at")
        return str(value) if value else None

    @extend_schema_field(CallbackSerializer(allow_null=True))
    def get_callback(self, session: CallSession) -> dict[str, Any] | None:
        """The newest callback scheduled from this session (pending, placed, cancelled or
        skipped); lists prefetch it as `callbacks_newest_first`."""
        prefetched = getattr(session, "callbacks_newest_first", None)
        if prefetched is not None:
            latest = prefetched[0] if prefetched else None
        else:
            latest = selectors.callback_latest_for(session=session)
        if latest is None:
            return None
        # One serializer for every row of a page: building one per row was a third of
        # `/sessions`' server time (docs/benchmarks.md, "API CPU per request").
        callbacks = self.__dict__.get("_callbacks")
        if callbacks is None:
            callbacks = self.__dict__["_callbacks"] = CallbackSerializer(context=self.context)
        return dict(callbacks.to_representation(latest))


class SessionDetailSerializer(SessionSerializer):
    """The full session: transcript, outcome, summary, extracted data, timings, recording."""

    script = serializers.SerializerMethodField()
    timings = serializers.SerializerMethodField()
    recording_url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    transcript = serializers.SerializerMethodField()
    tool_calls = serializers.SerializerMethodField()
    transfers = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()

    class Meta(SessionSerializer.Meta):
        fields = [
            *SessionSerializer.Meta.fields,
            "script",
            "voice",
            "variables",
            "end_reason",
            "summary",
            "extracted",
            "compliance",
            "timings",
            "recording_url",
            "error",
            "transcript",
            "tool_calls",
            "transfers",
            "events",
            "cost",
        ]
        read_only_fields = fields

    @extend_schema_field(SessionCostSerializer(allow_null=True))
    def get_cost(self, session: CallSession) -> dict[str, Any] | None:
        """What the call cost, by component (`sessions.costs`); null until it is priced."""
        return cost_payload(SessionCost.objects.filter(session_id=session.pk).first())

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
            # Offsets into the recording count from here (after a consent disclosure, later
            # than the answer).
            "recordingStartedAt": (
                field.to_representation(session.recording_started_at)
                if session.recording_started_at
                else None
            ),
        }

    def get_recording_url(self, session: CallSession) -> str | None:
        """A presigned URL on S3; else our own route, which streams the private file."""
        if not session.recording:
            return None
        signed = signed_url(str(session.recording.name))
        if signed is not None:
            return signed.url
        route = reverse("api:session-recording", kwargs={"pk": session.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(route) if request is not None else route

    def get_error(self, session: CallSession) -> dict[str, str] | None:
        if not (session.error_code or session.error_message):
            return None
        return {"code": session.error_code, "message": session.error_message}

    def get_transcript(self, session: CallSession) -> list[dict[str, Any]]:
        turns = selectors.session_turns(session=session)
        return list(TranscriptTurnSerializer(turns, many=True).data)

    @extend_schema_field(ToolCallSerializer(many=True))
    def get_tool_calls(self, session: CallSession) -> list[dict[str, Any]]:
        calls = selectors.session_tool_calls(session=session)
        return list(ToolCallSerializer(calls, many=True).data)

    @extend_schema_field(SessionTransferSerializer(many=True))
    def get_transfers(self, session: CallSession) -> list[dict[str, Any]]:
        return list(
            SessionTransferSerializer(selectors.session_transfers(session=session), many=True).data
        )

    def get_events(self, session: CallSession) -> dict[str, Any]:
        summary = selectors.session_events_summary(session=session)
        field = serializers.DateTimeField()
        for key in ("firstAt", "lastAt"):
            summary[key] = field.to_representation(summary[key]) if summary[key] else None
        return summary
