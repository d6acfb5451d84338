from __future__ import annotations

from typing import Any

from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseModelSerializer, CamelCaseSerializer
from scripts import services
from scripts.models import MAX_LINE_LENGTH, Script, ScriptVersion
from scripts.validation import KEYPAD_ACTIONS, MAX_TRIGGER_LENGTH


class ObjectionResponseSerializer(CamelCaseSerializer):
    trigger = serializers.CharField(max_length=MAX_TRIGGER_LENGTH)
    response = serializers.CharField(max_length=MAX_LINE_LENGTH)


class KeypadKeySerializer(CamelCaseSerializer):
    digit = serializers.CharField(
        max_length=1, help_text="0-9, * or #; 9 is the opt-out key on every call."
    )
    action = serializers.ChoiceField(choices=KEYPAD_ACTIONS)


class ScriptSerializer(CamelCaseModelSerializer):
    objection_responses = ObjectionResponseSerializer(many=True, required=False)
    keypad = KeypadKeySerializer(
        many=True,
        required=False,
        help_text="Keys the caller may press and what each does; `keypadPrompt` tells them.",
    )
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
            "keypad",
            "keypad_prompt",
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
        data["keypad"] = [
            {"digit": str(item.get("digit", "")), "action": str(item.get("action", ""))}
            for item in instance.keypad or []
        ]
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
