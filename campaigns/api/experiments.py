"""`/campaigns/:id/experiment`, `/experiment/results`, `/experiment/promote`: a campaign's
script experiment (issue 19 part 1), thin over `campaigns.experiments`."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.schema import error_response
from anvil_voice.api.serializers import CamelCaseSerializer
from anvil_voice.api.views import OrganizationScopedViewSet
from campaigns import experiment_results as selectors
from campaigns import experiments
from campaigns.experiment_results import ArmResult, ExperimentResults
from campaigns.models import Campaign, Experiment
from campaigns.services.lifecycle import Actor

# --- Wire shapes ------------------------------------------------------------------------------


class ArmWriteSerializer(CamelCaseSerializer):
    label = serializers.CharField(max_length=40)  # type: ignore[assignment]
    script_id = serializers.IntegerField(min_value=1)
    script_version = serializers.IntegerField(
        min_value=0, required=False, help_text="A version number; omitted: the current one."
    )
    voice_id = serializers.IntegerField(
        min_value=1, required=False, help_text="Omitted: the campaign's voice."
    )


class ExperimentWriteSerializer(CamelCaseSerializer):
    success_outcome = serializers.ChoiceField(
        choices=[str(outcome) for outcome in experiments.SUCCESS_OUTCOMES]
    )
    arms = ArmWriteSerializer(many=True)
    exploration_share = serializers.FloatField(
        min_value=0.0, max_value=0.5, required=False, default=0.1
    )
    min_conversations = serializers.IntegerField(
        min_value=5, max_value=10_000, required=False, default=30
    )
    winner_threshold = serializers.FloatField(
        min_value=0.5, max_value=0.999, required=False, default=0.95
    )
    winner_min_conversations = serializers.IntegerField(
        min_value=5,
        max_value=100_000,
        required=False,
        default=100,
        help_text="Conversations the leading arm needs before it is declared the winner "
        "(every arm needs minConversations).",
    )
    opt_out_margin = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, default=0.05
    )
    early_hang_up_margin = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, default=0.10
    )
    seed = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="Omitted: a random one."
    )

    def validate_arms(self, value: list[Any]) -> list[Any]:
        if not experiments.MIN_ARMS <= len(value) <= experiments.MAX_ARMS:
            raise serializers.ValidationError(
                f"An experiment has {experiments.MIN_ARMS} to {experiments.MAX_ARMS} arms."
            )
        return value


class ArmSerializer(CamelCaseSerializer):
    id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    position = serializers.IntegerField()
    script_id = serializers.IntegerField(source="script_version.script_id")
    script_version = serializers.IntegerField(source="script_version.number")
    voice_id = serializers.IntegerField()
    status = serializers.CharField()
    stopped_reason = serializers.CharField()
    stopped_at = serializers.DateTimeField(allow_null=True)


class ExperimentSerializer(CamelCaseSerializer):
    campaign_id = serializers.IntegerField()
    status = serializers.CharField()
    success_outcome = serializers.CharField()
    exploration_share = serializers.FloatField()
    min_conversations = serializers.IntegerField()
    winner_threshold = serializers.FloatField()
    winner_min_conversations = serializers.IntegerField()
    opt_out_margin = serializers.FloatField()
    early_hang_up_margin = serializers.FloatField()
    seed = serializers.IntegerField()
    winner_arm_id = serializers.IntegerField(source="winner_id", allow_null=True)
    declared_at = serializers.DateTimeField(allow_null=True)
    promoted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    arms = serializers.SerializerMethodField()

    @extend_schema_field(ArmSerializer(many=True))
    def get_arms(self, experiment: Experiment) -> list[dict[str, Any]]:
        arms = experiment.arms.select_related("script_version")
        return list(ArmSerializer(arms, many=True).data)


class RateSerializer(CamelCaseSerializer):
    count = serializers.IntegerField()
    total = serializers.IntegerField()
    rate = serializers.FloatField()


class ArmResultSerializer(CamelCaseSerializer):
    arm_id = serializers.IntegerField(source="arm.pk")
    label = serializers.CharField(source="arm.label")  # type: ignore[assignment]
    status = serializers.CharField(source="arm.status")
    script_id = serializers.IntegerField(source="arm.script_version.script_id")
    script_version = serializers.IntegerField(source="arm.script_version.number")
    voice_id = serializers.IntegerField(source="arm.voice_id")
    calls = serializers.IntegerField(help_text="Sessions the dialler assigned to the arm.")
    finished = serializers.IntegerField()
    conversations = serializers.IntegerField(
        help_text="Finished calls answered, not by a machine or a fax."
    )
    successes = serializers.IntegerField()
    success_rate = serializers.FloatField(help_text="successes / conversations.")
    credible_interval = serializers.SerializerMethodField(
        help_text="95% equal-tailed credible interval of the success rate (Beta posterior, "
        "uniform prior); null for an arm the guardrails stopped."
    )
    probability_best = serializers.FloatField(
        allow_null=True, help_text="Among the active arms (seeded Monte Carlo, 20 000 draws)."
    )
    opt_out = RateSerializer()
    early_hang_up = RateSerializer()
    objections = serializers.SerializerMethodField(
        help_text="Objection trigger → conversations where it fired."
    )
    reply_latency = serializers.SerializerMethodField()

    @extend_schema_field({"type": "array", "items": {"type": "number"}, "nullable": True})
    def get_credible_interval(self, result: ArmResult) -> list[float] | None:
        if result.credible_low is None or result.credible_high is None:
            return None
        return [round(result.credible_low, 4), round(result.credible_high, 4)]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
    def get_objections(self, result: ArmResult) -> dict[str, dict[str, Any]]:
        return {
            trigger: {"count": rate.count, "total": rate.total, "rate": rate.rate}
            for trigger, rate in result.objections.items()
        }

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_reply_latency(self, result: ArmResult) -> dict[str, Any]:
        return {
            "count": result.latency_count,
            "p50Ms": result.latency_p50_ms,
            "p95Ms": result.latency_p95_ms,
        }


class ExperimentResultsSerializer(CamelCaseSerializer):
    status = serializers.CharField(source="experiment.status")
    success_outcome = serializers.CharField(source="experiment.success_outcome")
    winner_arm_id = serializers.IntegerField(source="experiment.winner_id", allow_null=True)
    leader_arm_id = serializers.IntegerField(source="leader_id", allow_null=True)
    winner_threshold = serializers.FloatField(source="experiment.winner_threshold")
    winner_ready = serializers.BooleanField(
        help_text="The winner rule holds on the sessions (declared at the dialler's next "
        "recount, or by a promotion)."
    )
    pending_stops = serializers.SerializerMethodField(
        help_text="Arm id → the guardrail the sessions show it breaking (not yet acted on)."
    )
    arms = ArmResultSerializer(many=True)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_pending_stops(self, results: ExperimentResults) -> dict[str, str]:
        return {str(arm_id): reason for arm_id, reason in results.pending_stops.items()}


# --- The view ---------------------------------------------------------------------------------

NO_EXPERIMENT = "NOT_FOUND: no such campaign, or the campaign has no experiment."


class CampaignExperimentViewSet(OrganizationScopedViewSet):
    """A campaign's experiment; another organization's campaign is a 404."""

    serializer_class = ExperimentSerializer
    pagination_class = None
    filterset_class = None

    def get_base_queryset(self) -> QuerySet[Campaign]:
        return Campaign.objects.all()

    def _campaign(self) -> Campaign:
        campaign = self.get_object()
        assert isinstance(campaign, Campaign)
        return campaign

    @staticmethod
    def _render(experiment: Experiment, code: int = status.HTTP_200_OK) -> Response:
        return Response(ExperimentSerializer(experiment).data, status=code)

    @extend_schema(
        methods=["GET"],
        summary="The campaign's script experiment: settings, arms, status",
        responses={200: ExperimentSerializer, 404: error_response(NO_EXPERIMENT)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Set up a script experiment (2-4 arms: script versions or voices)",
        request=ExperimentWriteSerializer,
        responses={
            201: ExperimentSerializer,
            409: error_response(
                "CONFLICT: the campaign already has an experiment. INVALID_STATE: the "
                "campaign is running, stopped or completed."
            ),
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="experiment")
    def experiment(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self._campaign()
        if request.method == "GET":
            return self._render(selectors.campaign_experiment(campaign=campaign))
        serializer = ExperimentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        arms = [
            experiments.ArmSpec(
                label=arm["label"],
                script_id=arm["script_id"],
                script_version=arm.get("script_version"),
                voice_id=arm.get("voice_id"),
            )
            for arm in data.pop("arms")
        ]
        experiment = experiments.experiment_create(
            campaign=campaign, arms=arms, settings=data, actor=Actor.of(self.principal)
        )
        return self._render(experiment, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Per-arm results computed from the campaign's sessions",
        responses={200: ExperimentResultsSerializer, 404: error_response(NO_EXPERIMENT)},
    )
    @action(detail=True, methods=["get"], url_path="experiment/results")
    def experiment_results(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        experiment = selectors.campaign_experiment(campaign=self._campaign())
        results = selectors.experiment_results(experiment=experiment)
        return Response(ExperimentResultsSerializer(results).data)

    @extend_schema(
        summary="Send all of the campaign's traffic to the declared winner",
        request=None,
        responses={
            200: ExperimentSerializer,
            404: error_response(NO_EXPERIMENT),
            409: error_response(
                "INVALID_STATE: no arm has won yet, or the winner is already promoted."
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="experiment/promote")
    def experiment_promote(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        experiment = experiments.experiment_promote(
            campaign=self._campaign(), actor=Actor.of(self.principal)
        )
        return self._render(experiment)
