"""`/campaigns/:id/costs` and `/campaigns/:id/budget`: what a campaign spent, and its limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.schema import error_response
from anvil_voice.api.serializers import CamelCaseSerializer
from anvil_voice.api.views import OrganizationScopedViewSet
from campaigns import costs, selectors
from campaigns.models import Campaign, CampaignStats
from sessions.models import Outcome


class BudgetSerializer(CamelCaseSerializer):
    """A campaign's budget: near it the dialler halves the pace, at it the campaign pauses."""

    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=costs.MAX_BUDGET,
        help_text="The most the campaign may spend, in `currency`.",
    )
    currency = serializers.CharField(
        max_length=3,
        required=False,
        help_text="ISO 4217; must be the deployment's pricing currency (COST_CURRENCY, "
        "default USD). Omitted: that currency.",
    )

    def validate_currency(self, value: str) -> str:
        if value.upper() != settings.COST_CURRENCY:
            raise serializers.ValidationError(
                f"Calls are priced in {settings.COST_CURRENCY}; a budget must be in it too."
            )
        return value.upper()


class BudgetStatusSerializer(CamelCaseSerializer):
    """`budget` on a campaign (null without one)."""

    amount = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    spent = serializers.CharField(read_only=True, help_text="Cost of its finished calls.")
    spent_percent = serializers.FloatField(read_only=True)
    slow_at_percent = serializers.IntegerField(read_only=True)
    state = serializers.ChoiceField(
        choices=["ok", "slow", "spent"],
        read_only=True,
        help_text="ok; slow: past slowAtPercent, dialling at half pace; spent: paused.",
    )


def campaign_budget(campaign: Campaign) -> dict[str, Any] | None:
    """The `budget` object of `GET /campaigns/:id` (its stats are read with the campaign)."""
    if campaign.budget_amount is None:
        return None
    try:
        spent = Decimal(campaign.stats.cost_total)
    except CampaignStats.DoesNotExist:
        spent = Decimal("0")
    return costs.budget_payload(campaign, spent)


_BREAKDOWN = inline_serializer(
    "CostComponents",
    {
        "carrier": serializers.CharField(),
        "speechToText": serializers.CharField(),
        "textToSpeech": serializers.CharField(),
        "llm": serializers.CharField(),
        "compute": serializers.CharField(),
    },
)


def _cost_row(name: str, extra: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return inline_serializer(
        name,
        {
            **(extra or {}),
            "calls": serializers.IntegerField(),
            "pricedCalls": serializers.IntegerField(),
            "connectedCalls": serializers.IntegerField(),
            "successes": serializers.IntegerField(),
            "total": serializers.CharField(),
            "perCall": serializers.CharField(allow_null=True),
            "perConnectedCall": serializers.CharField(allow_null=True),
            "perSuccess": serializers.CharField(allow_null=True),
            "breakdown": _BREAKDOWN,
            "computeCpuSeconds": serializers.FloatField(),
        },
        **kwargs,
    )


CAMPAIGN_COSTS = inline_serializer(
    "CampaignCosts",
    {
        "campaignId": serializers.IntegerField(),
        "currency": serializers.CharField(),
        "successOutcomes": serializers.ListField(child=serializers.CharField()),
        "overall": _cost_row("CampaignCostRow"),
        "byScriptVersion": _cost_row(
            "CampaignCostByScriptVersion",
            {
                "scriptVersionId": serializers.IntegerField(allow_null=True),
                "scriptVersion": serializers.IntegerField(allow_null=True),
            },
            many=True,
        ),
        "byHour": _cost_row(
            "CampaignCostByHour", {"hour": serializers.DateTimeField(allow_null=True)}, many=True
        ),
        "budget": BudgetStatusSerializer(allow_null=True),
    },
)


class CampaignCostViewSet(OrganizationScopedViewSet):
    """The campaign's cost and budget (its own routes beside `CampaignViewSet`'s)."""

    pagination_class = None
    serializer_class = BudgetSerializer

    def get_base_queryset(self) -> QuerySet[Campaign]:
        return selectors.campaign_list()

    def _campaign(self) -> Campaign:
        campaign = self.get_object()
        assert isinstance(campaign, Campaign)
        return campaign

    @extend_schema(
        summary="Cost per call, per connected call and per success, by script version and hour",
        parameters=[
            OpenApiParameter(
                "success",
                OpenApiTypes.STR,
                description="Comma-separated outcomes that count as a success (default "
                f"CAMPAIGNS_SUCCESS_OUTCOMES: interested,transferred). One of: "
                f"{', '.join(Outcome.values)}.",
            )
        ],
        responses={200: CAMPAIGN_COSTS},
    )
    @action(detail=True, methods=["get"])
    def costs(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self._campaign()
        raw = request.query_params.get("success", "")
        requested = [value.strip() for value in raw.split(",") if value.strip()]
        success = costs.success_outcomes(requested[:20] or None)
        return Response(costs.campaign_costs(campaign=campaign, success=success))

    @extend_schema(
        methods=["PUT"],
        summary="Set or change the campaign's budget",
        request=BudgetSerializer,
        responses={200: BudgetStatusSerializer, 409: error_response("Stopped or completed")},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Remove the campaign's budget",
        request=None,
        responses={204: None, 409: error_response("Stopped or completed")},
    )
    @action(detail=True, methods=["put", "delete"])
    def budget(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self._campaign()
        if request.method == "DELETE":
            costs.campaign_budget_set(campaign=campaign, amount=None)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = BudgetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        updated = costs.campaign_budget_set(
            campaign=campaign, amount=data["amount"], currency=data.get("currency")
        )
        fresh = selectors.campaign_list().get(pk=updated.pk)
        return Response(campaign_budget(fresh))
