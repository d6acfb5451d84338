"""The wire shape of a session's `cost` (`sessions.costs.cost_payload`), for the schema."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseSerializer

_money = serializers.CharField


def _component(name: str, fields: dict[str, serializers.Field]) -> serializers.Serializer:
    return inline_serializer(name, {**fields, "cost": _money()})


class SessionCostSerializer(CamelCaseSerializer):
    """What the call cost, by component, in `currency`. The carrier bills each started minute
    (`billedMinutes`); the local stack (Whisper, Piper, Smart Turn) costs compute time, given
    as `compute.cpuSeconds` and priced only when the deployment prices a CPU second."""

    total = _money()
    currency = serializers.CharField()
    breakdown = inline_serializer(
        "SessionCostBreakdown",
        {
            "carrier": _component(
                "SessionCostCarrier",
                {
                    "provider": serializers.CharField(allow_null=True),
                    "seconds": serializers.IntegerField(),
                    "billedMinutes": serializers.IntegerField(),
                    "transferBilledMinutes": serializers.IntegerField(),
                },
            ),
            "speechToText": _component(
                "SessionCostSpeechToText",
                {
                    "provider": serializers.CharField(allow_null=True),
                    "audioSeconds": serializers.FloatField(),
                },
            ),
            "textToSpeech": _component(
                "SessionCostTextToSpeech",
                {
                    "provider": serializers.CharField(allow_null=True),
                    "characters": serializers.IntegerField(),
                },
            ),
            "llm": _component(
                "SessionCostLlm",
                {
                    "provider": serializers.CharField(allow_null=True),
                    "inputTokens": serializers.IntegerField(),
                    "outputTokens": serializers.IntegerField(),
                    "requests": serializers.IntegerField(),
                    "requestsWithoutUsage": serializers.IntegerField(),
                },
            ),
            "compute": _component("SessionCostCompute", {"cpuSeconds": serializers.FloatField()}),
        },
    )
    unpriced = serializers.ListField(
        child=serializers.CharField(),
        help_text="Providers the price table has no price for (counted as 0).",
    )
    computed_at = serializers.DateTimeField(allow_null=True)
