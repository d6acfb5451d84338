from __future__ import annotations

from typing import Any

from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseModelSerializer, CamelCaseSerializer, to_camel
from scripts import services
from scripts.engine.tools import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_DESCRIPTION_LENGTH,
    TOOL_KINDS,
    ToolKind,
)
from scripts.models import MAX_LINE_LENGTH, Script, ScriptVersion
from scripts.validation import (
    KEYPAD_ACTIONS,
    MAX_TRANSFER_TIMEOUT_SECONDS,
    MAX_TRIGGER_LENGTH,
    MIN_TRANSFER_TIMEOUT_SECONDS,
    TRANSFER_MODES,
    TRANSFER_TARGET_KINDS,
)


class ToolSerializer(CamelCaseSerializer):
    """A tool the agent may use: a built-in by name, or an HTTP tool the customer defines.
    Checked as a whole by the service (`scripts.validation.tool_errors`)."""

    type = serializers.ChoiceField(choices=TOOL_KINDS)
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
    )
    # A JSON schema: its keys are the customer's ("additionalProperties"), never renamed.
    parameters = serializers.JSONField(required=False)
    url = serializers.CharField(max_length=500, required=False)
    timeout_seconds = serializers.FloatField(required=False)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = dict(instance)
        if data.get("type") == ToolKind.HTTP.value:
            data.setdefault("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
        return {to_camel(key): value for key, value in data.items()}


class ToolRuleSerializer(CamelCaseSerializer):
    """The scripted agent's rule: on this caller intent, call this HTTP tool."""

    intent = serializers.CharField(max_length=32)
    tool = serializers.CharField(max_length=64)
    arguments = serializers.DictField(required=False)
    say = serializers.CharField(max_length=MAX_LINE_LENGTH, required=False, allow_blank=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return dict(instance)


class ObjectionResponseSerializer(CamelCaseSerializer):
    trigger = serializers.CharField(max_length=MAX_TRIGGER_LENGTH)
    response = serializers.CharField(max_length=MAX_LINE_LENGTH)


class KeypadKeySerializer(CamelCaseSerializer):
    digit = serializers.CharField(
        max_length=1, help_text="0-9, * or #; 9 is the opt-out key on every call."
    )
    action = serializers.ChoiceField(choices=KEYPAD_ACTIONS)


class ScriptTransferSerializer(CamelCaseSerializer):
    """Where and when the agent hands the caller to a person (a campaign may override the
    number). Checked as a whole by the service (`scripts.validation.transfer_errors`)."""

    number = serializers.CharField(max_length=16, help_text="E.164, e.g. +15551234567.")
    target_kind = serializers.ChoiceField(
        choices=TRANSFER_TARGET_KINDS,
        default="person",
        help_text="person: a transfer is refused outside the legal calling window at the "
        "number (its local time from its country and area code). business: a staffed line "
        "(a sales desk, a switchboard), no calling window.",
    )
    mode = serializers.ChoiceField(
        choices=TRANSFER_MODES,
        default="cold",
        help_text="cold: connect and leave. warm: the person is briefed before the caller joins.",
    )
    timeout_seconds = serializers.IntegerField(
        min_value=MIN_TRANSFER_TIMEOUT_SECONDS, max_value=MAX_TRANSFER_TIMEOUT_SECONDS, default=20
    )
    on_agreement = serializers.BooleanField(default=False)
    on_request = serializers.BooleanField(
        default=True, help_text='The caller asks for a person ("can I talk to someone?").'
    )
    on_objections = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TRIGGER_LENGTH), default=list
    )


class KeypadEntrySerializer(CamelCaseSerializer):
    """A number the caller is asked to type (the keypad prompt asks). Checked as a whole by the
    service (`scripts.validation.keypad_entry_errors`)."""

    name = serializers.CharField(
        max_length=40,
        help_text="Where the digits go: the session's extracted.keypad.<name>, and {{<name>}} "
        "in say.",
    )
    max_digits = serializers.IntegerField(
        default=0, help_text="The number's length (2-32): complete once typed. 0: no length."
    )
    end_key = serializers.CharField(
        default="#", allow_blank=True, max_length=1, help_text='"#", "*" or "" (none).'
    )
    timeout_seconds = serializers.FloatField(
        default=3.0, help_text="A pause this long between keys ends the number (1-10)."
    )
    say = serializers.CharField(
        default="",
        allow_blank=True,
        max_length=MAX_LINE_LENGTH,
        help_text="The scripted agent's line after the number ({{digits}} or {{<name>}}).",
    )


class ScriptSerializer(CamelCaseModelSerializer):
    objection_responses = ObjectionResponseSerializer(many=True, required=False)
    keypad = KeypadKeySerializer(
        many=True,
        required=False,
        help_text="Keys the caller may press and what each does; `keypadPrompt` tells them.",
    )
    tools = ToolSerializer(many=True, required=False)
    tool_rules = ToolRuleSerializer(many=True, required=False)
    transfer = ScriptTransferSerializer(required=False, allow_null=True)
    keypad_entry = KeypadEntrySerializer(
        required=False,
        allow_null=True,
        help_text="A number the caller is asked to type (e.g. a zip code), collected until "
        "endKey, maxDigits or a pause and given to the agent as one keypad turn. A single key "
        "followed by a pause still acts as a keypad key (and 9 still opts out).",
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
            "keypad_entry",
            "objection_responses",
            "tools",
            "tool_rules",
            "ivr_target",
            "ivr_timeout_seconds",
            "transfer",
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


class ScriptWithSecretSerializer(ScriptSerializer):
    """A single script: with the secret its HTTP tool requests are signed with."""

    class Meta(ScriptSerializer.Meta):
        fields = [*ScriptSerializer.Meta.fields, "tool_secret"]
        read_only_fields = [*ScriptSerializer.Meta.read_only_fields, "tool_secret"]


class ScriptToolSecretSerializer(CamelCaseModelSerializer):
    """The answer to a rotation: the script's new tool secret."""

    class Meta:
        model = Script
        fields = ["id", "tool_secret", "updated_at"]
        read_only_fields = fields


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
