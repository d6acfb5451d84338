"""`POST /campaigns/:id/rehearsals`, `GET /rehearsals/:id` and a rehearsal call's transcript.

Every body says `rehearsal: true`: nothing here is a real call, and nothing here is counted in a
campaign's statistics (`sessions.models.RealSessionManager`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.schema import error_response
from anvil_voice.api.serializers import BoundedJSONField, CamelCaseSerializer
from anvil_voice.api.views import OrganizationScopedViewSet
from anvil_voice.errors import NotFound
from campaigns.models import Campaign
from campaigns.rehearsal import population
from campaigns.rehearsal.models import Rehearsal
from campaigns.rehearsal.services import rehearsal_create
from sessions.models import CallSession


class RehearsalRequestSerializer(CamelCaseSerializer):
    size = serializers.IntegerField(
        min_value=1,
        max_value=population.MAX_SIZE,
        help_text="How many synthetic callees to call.",
    )
    mix = BoundedJSONField(
        required=False,
        default=None,
        allow_null=True,
        help_text=(
            'Persona → weight (normalised), e.g. {"interested": 2, "no-answer": 1}; '
            f"personas: {', '.join(population.REHEARSAL_PERSONAS)}. Omitted or null: "
            "estimated from the organization's past campaign calls (400 when too few)."
        ),
    )
    seed = serializers.IntegerField(
        required=False, default=None, allow_null=True, min_value=0, max_value=2**31 - 1
    )


class RehearsalSerializer(CamelCaseSerializer):
    id = serializers.IntegerField()
    rehearsal = serializers.SerializerMethodField(help_text="Always true: never real calls.")
    campaign = serializers.IntegerField(source="campaign_id")
    status = serializers.CharField()
    size = serializers.IntegerField()
    mix = serializers.JSONField()
    mix_source = serializers.CharField()
    seed = serializers.IntegerField()
    simulated_start = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error_message = serializers.CharField()
    report = serializers.SerializerMethodField()

    def get_rehearsal(self, obj: Rehearsal) -> bool:
        return True

    def get_report(self, obj: Rehearsal) -> dict[str, Any] | None:
        """The report (null until completed); each misbehaviour links its call's transcript."""
        if not obj.report:
            return None
        report = dict(obj.report)
        report["misbehaviours"] = [
            {**item, "transcript": f"/api/v1/voice/rehearsals/{obj.pk}/calls/{item['sessionId']}"}
            for item in report.get("misbehaviours", [])
        ]
        return report


class RehearsalTurnSerializer(CamelCaseSerializer):
    index = serializers.IntegerField()
    speaker = serializers.CharField()
    text = serializers.CharField()
    start_ms = serializers.IntegerField()
    end_ms = serializers.IntegerField()
    interrupted = serializers.BooleanField()
    latency = serializers.JSONField()


class RehearsalCallSerializer(CamelCaseSerializer):
    id = serializers.IntegerField()
    rehearsal = serializers.SerializerMethodField()
    rehearsal_id = serializers.IntegerField()
    persona = serializers.SerializerMethodField()
    attempt_number = serializers.IntegerField()
    to_number = serializers.CharField()
    status = serializers.CharField()
    answered_by = serializers.CharField()
    outcome = serializers.CharField()
    end_reason = serializers.CharField()
    placed_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    findings = serializers.SerializerMethodField()
    transcript = RehearsalTurnSerializer(many=True, source="turns.all")

    def get_rehearsal(self, obj: CallSession) -> bool:
        return True

    def get_persona(self, obj: CallSession) -> str:
        return str((obj.extracted or {}).get("rehearsal", {}).get("persona", ""))

    def get_findings(self, obj: CallSession) -> list[dict[str, Any]]:
        return list((obj.extracted or {}).get("rehearsal", {}).get("findings", []))


class CampaignRehearsalViewSet(OrganizationScopedViewSet):
    """`POST /campaigns/:id/rehearsals`: rehearse the campaign against simulated callees."""

    serializer_class = RehearsalSerializer
    pagination_class = None

    def get_base_queryset(self) -> QuerySet[Campaign]:
        return Campaign.objects.all()

    @extend_schema(
        summary="Rehearse the campaign against simulated callees (never dials anyone)",
        description=(
            "Queues a rehearsal: `size` synthetic callees drawn from the Twilio simulator's "
            "personas in `mix`, called with the campaign's script, voice, calling window (on a "
            "simulated clock), pacing, retries and voicemail behaviour. Poll "
            "`GET /rehearsals/{id}` for the report. Rehearsal calls are never counted in the "
            "campaign's statistics."
        ),
        request=RehearsalRequestSerializer,
        responses={
            202: RehearsalSerializer,
            400: error_response("VALIDATION_ERROR: bad size or mix, or no mix and no history."),
        },
    )
    @action(detail=True, methods=["post"])
    def rehearsals(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self.get_object()
        assert isinstance(campaign, Campaign)
        serializer = RehearsalRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rehearsal = rehearsal_create(
            campaign=campaign,
            size=data["size"],
            mix=data["mix"],
            seed=data["seed"],
            user=self.principal.user,
        )
        return Response(RehearsalSerializer(rehearsal).data, status=status.HTTP_202_ACCEPTED)


class RehearsalViewSet(mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """`GET /rehearsals/:id` (status and report), `GET /rehearsals/:id/calls/:sessionId`."""

    serializer_class = RehearsalSerializer
    pagination_class = None

    def get_base_queryset(self) -> QuerySet[Rehearsal]:
        return Rehearsal.objects.all()

    @extend_schema(summary="Get a rehearsal: its status and, once completed, its report")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="One rehearsal call: its persona, outcome, findings and transcript",
        responses={200: RehearsalCallSerializer, 404: OpenApiResponse(description="NOT_FOUND")},
    )
    @action(detail=True, methods=["get"], url_path=r"calls/(?P<session_id>[0-9]+)")
    def call(self, request: Request, *args: Any, session_id: str, **kwargs: Any) -> Response:
        rehearsal = self.get_object()
        assert isinstance(rehearsal, Rehearsal)
        session = (
            CallSession.rehearsal_objects.filter(rehearsal=rehearsal, pk=int(session_id))
            .prefetch_related("turns")
            .first()
        )
        if session is None:
            raise NotFound("No such call in this rehearsal.")
        return Response(RehearsalCallSerializer(session).data)
