"""`GET /contact-lists/:id/answer-rates`: the list's answer rate by the callee's local hour and
weekday (`campaigns.best_time`), with the counts behind every rate."""

from __future__ import annotations

from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseSerializer
from campaigns.best_time import LOOKBACK_DAYS


class AnswerRatesQuerySerializer(CamelCaseSerializer):
    lookback_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=366,
        help_text=f"Days of sessions counted (default {LOOKBACK_DAYS}, what the dialler uses).",
    )


class AnswerRateSerializer(CamelCaseSerializer):
    attempts = serializers.IntegerField(
        read_only=True, help_text="Dialled calls (reached the carrier) counted."
    )
    answered = serializers.IntegerField(read_only=True, help_text="Of them, a person answered.")
    observed_rate = serializers.FloatField(
        read_only=True, allow_null=True, help_text="answered / attempts; null without attempts."
    )
    rate = serializers.FloatField(
        read_only=True,
        help_text="Smoothed rate (Beta posterior mean toward the level above: cell → hour and "
        "weekday → list → organization): what the dialler uses.",
    )


class HourRateSerializer(AnswerRateSerializer):
    hour = serializers.IntegerField(read_only=True, help_text="Local hour of the callee, 0-23.")


class WeekdayRateSerializer(AnswerRateSerializer):
    weekday = serializers.IntegerField(read_only=True, help_text="0 = Monday ... 6 = Sunday.")


class CellRateSerializer(AnswerRateSerializer):
    weekday = serializers.IntegerField(read_only=True, help_text="0 = Monday ... 6 = Sunday.")
    hour = serializers.IntegerField(read_only=True, help_text="Local hour of the callee, 0-23.")


class AnswerRatesSerializer(CamelCaseSerializer):
    overall = AnswerRateSerializer(read_only=True, help_text="The list as a whole.")
    organization = AnswerRateSerializer(
        read_only=True, help_text="Every list of the organization: the list's prior."
    )
    prior_strength = serializers.FloatField(
        read_only=True, help_text="Pseudo-attempts of each prior."
    )
    lookback_days = serializers.IntegerField(read_only=True)
    by_hour = HourRateSerializer(many=True, read_only=True)
    by_weekday = WeekdayRateSerializer(many=True, read_only=True)
    cells = CellRateSerializer(many=True, read_only=True, help_text="7 x 24, weekday-major.")
