from __future__ import annotations

from typing import Any

from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseModelSerializer, CamelCaseSerializer
from scripts import services
from scripts.models import MAX_LINE_LENGTH, Script, ScriptVersion
from scripts.validation import MAX_TRIGGER_LENGTH


class ObjectionResponseSerializer(CamelCaseSerializer):
    trigger = serializers.CharField(max_length=MAX_TRIGGER_LENGTH)
    response = serializers.CharField(max_length=MAX_LINE_LENGTH)


class ScriptSerializer(CamelCaseModelSerializer):
    objection_responses = ObjectionResponseSerializer(many=True, required=False)
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = Script
        fields = [
            "id",
            "name",
            "opening_line",
            "closing_line",
            "system_prompt",
            "voicemail_message",
            "language",
            "opening_interruptible",
            "closing_interruptible",
            "recording_disclosure",
            "recording_disclosure_required",
            "objection_responses",
            "version",
            "warnings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "version", "created_at", "updated_at"]

    def get_warnings(self, script: Script) -> list[str]:
        return services.script_warnings(script=script)

    def to_representation(self, instance: Script) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["objectionResponses"] = [
            {"trigger": item.trigger, "response": item.response}
            for item in instance.objections.all()
        ]
        return data


class ScriptVersionSerializer(CamelCaseModelSerializer):
    class Meta:
        model = ScriptVersion
        fields = ["id", "number", "snapshot", "created_at"]
        read_only_fields = fields


class ScriptRenderSerializer(CamelCaseSerializer):
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1000),
        required=False,
        default=dict,
        help_text="Values for the placeholders; defaults to a sample contact.",
    )
    contact_id = serializers.IntegerField(required=False)


class ScriptRenderedSerializer(CamelCaseSerializer):
    opening_line = serializers.CharField()
    closing_line = serializers.CharField()
    voicemail_message = serializers.CharField()
    variables = serializers.DictField(child=serializers.CharField())
