"""`/campaigns`, `/contact-lists`, `/do-not-call`, `/phone-numbers`: thin views over services."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Model, QuerySet
from django_filters.utils import translate_validation
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.parsers import BoundedJSONParser
from anvil_voice.api.schema import BODY_ERROR_STATUSES, error_response
from anvil_voice.api.views import OrganizationScopedViewSet
from campaigns import best_time, costs, selectors, services
from campaigns.api.best_time import AnswerRatesQuerySerializer, AnswerRatesSerializer
from campaigns.api.serializers import (
    CallerIdSerializer,
    CampaignSerializer,
    CampaignSessionSerializer,
    CampaignWriteSerializer,
    ContactCreateSerializer,
    ContactImportSerializer,
    ContactListSerializer,
    ContactSerializer,
    DoNotCallRemovalSerializer,
    DoNotCallSerializer,
    ImportReportSerializer,
)
from campaigns.filters import (
    CampaignFilter,
    CampaignSessionFilter,
    ContactFilter,
    DoNotCallFilter,
)
from campaigns.importing import parse_mapping
from campaigns.models import CallerId, Campaign, ContactList, DoNotCallEntry

CAMPAIGN_STATE_CONFLICT = error_response(
    "INVALID_STATE: the campaign's status does not allow this move."
)


def _filtered(
    filterset_class: type[django_filters.FilterSet], request: Request, queryset: QuerySet[Any]
) -> QuerySet[Any]:
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    result: QuerySet[Any] = filterset.qs
    return result


class _ObjectMixin:
    def _object[M: Model](self, model: type[M]) -> M:
        obj = self.get_object()  # type: ignore[attr-defined]
        assert isinstance(obj, model)
        return obj


# --- Contact lists -------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List contact lists"),
    retrieve=extend_schema(summary="Get a contact list"),
)
class ContactListViewSet(
    _ObjectMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    serializer_class = ContactListSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_base_queryset(self) -> QuerySet[ContactList]:
        return ContactList.objects.all()

    @extend_schema(summary="Create a contact list")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ContactListSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact_list = services.contact_list_create(
            organization=self.organization, name=serializer.validated_data["name"]
        )
        return Response(ContactListSerializer(contact_list).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Delete a contact list (409 while a campaign uses it)",
        request=None,
        responses={204: None, 409: error_response("CONFLICT: campaigns use the list.")},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.contact_list_delete(contact_list=self._object(ContactList))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        summary="List the list's contacts",
        responses={200: ContactSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add one contact",
        request=ContactCreateSerializer,
        responses={
            201: ContactSerializer,
            409: error_response("CONFLICT: the number is already in the list."),
        },
    )
    @action(detail=True, methods=["get", "post"])
    def contacts(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact_list = self._object(ContactList)
        if request.method == "POST":
            serializer = ContactCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            contact = services.contact_add(
                contact_list=contact_list, data=serializer.validated_data
            )
            return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)
        queryset = _filtered(
            ContactFilter,
            request,
            selectors.contact_list_contacts(contact_list=contact_list),
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(
        summary="Answer rate by the callee's local hour and weekday (best time to call)",
        parameters=[AnswerRatesQuerySerializer],
        responses={200: AnswerRatesSerializer},
    )
    @action(detail=True, methods=["get"], url_path="answer-rates")
    def answer_rates(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact_list = self._object(ContactList)
        query = AnswerRatesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        rates = best_time.answer_rates(contact_list, **query.validated_data)
        return Response(best_time.answer_rates_payload(rates))

    @extend_schema(
        summary="Import contacts from CSV (multipart)",
        request={"multipart/form-data": ContactImportSerializer},
        responses={200: ImportReportSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser, BoundedJSONParser],
    )
    def import_contacts(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact_list = self._object(ContactList)
        serializer = ContactImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        report = services.contact_list_import(
            contact_list=contact_list,
            upload=upload.file,
            mapping=parse_mapping(serializer.validated_data.get("mapping")),
            dry_run=serializer.validated_data["dry_run"],
        )
        return Response(report.as_dict())


# --- Do-not-call ----------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="List the do-not-call list"))
class DoNotCallViewSet(_ObjectMixin, mixins.ListModelMixin, OrganizationScopedViewSet):
    serializer_class = DoNotCallSerializer
    filterset_class = DoNotCallFilter
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_base_queryset(self) -> QuerySet[DoNotCallEntry]:
        return DoNotCallEntry.objects.all()

    @extend_schema(
        summary="Add a number (idempotent: 200 when already listed)",
        responses={
            201: DoNotCallSerializer,
            200: OpenApiResponse(
                DoNotCallSerializer, description="Already listed: the existing entry, unchanged."
            ),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = DoNotCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry, created = services.dnc_add(
            organization=self.organization,
            phone_number=serializer.validated_data["phone_number"],
            source=DoNotCallEntry.Source.API,
            reason=serializer.validated_data.get("reason", ""),
        )
        return Response(
            DoNotCallSerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Remove a number (owners only; a reason is required and audited)",
        request=DoNotCallRemovalSerializer,
        parameters=[
            OpenApiParameter(
                "reason",
                str,
                description="Why the number may be called again; required, here or in the body.",
            )
        ],
        responses={
            204: None,
            # The reason may come as a body (OpenAPI 3.0 documents none for a DELETE).
            415: error_response(BODY_ERROR_STATUSES["415"]),
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        entry = self._object(DoNotCallEntry)
        body = request.data or {
            key: value for key, value in request.query_params.items() if key == "reason"
        }
        serializer = DoNotCallRemovalSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        services.dnc_remove(
            entry=entry,
            reason=serializer.validated_data["reason"],
            role=self.principal.role,
            user=self.principal.user,
            api_key=self.principal.api_key,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Caller IDs -------------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="List registered caller IDs"))
class PhoneNumberViewSet(_ObjectMixin, mixins.ListModelMixin, OrganizationScopedViewSet):
    serializer_class = CallerIdSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_base_queryset(self) -> QuerySet[CallerId]:
        return CallerId.objects.all()

    @extend_schema(
        summary="Register a caller ID (checked with the carrier account)",
        responses={
            201: CallerIdSerializer,
            409: error_response("CONFLICT: the number is already registered."),
            503: error_response("SERVICE_UNAVAILABLE: the carrier could not be asked."),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CallerIdSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller_id = services.caller_id_register(
            organization=self.organization,
            phone_number=serializer.validated_data["phone_number"],
            label=serializer.validated_data.get("label", ""),
            is_default=serializer.validated_data.get("is_default", False),
        )
        return Response(CallerIdSerializer(caller_id).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a caller ID (409 while a campaign uses it)",
        request=None,
        responses={204: None, 409: error_response("CONFLICT: campaigns use the number.")},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.caller_id_remove(caller_id=self._object(CallerId))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Campaigns --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List campaigns"),
    retrieve=extend_schema(summary="Get a campaign with stats"),
)
class CampaignViewSet(
    _ObjectMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_base_queryset(self) -> QuerySet[Campaign]:
        return selectors.campaign_list()

    def _campaign(self) -> Campaign:
        return self._object(Campaign)

    def _render(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.campaign_list().get(pk=campaign.pk)
        return Response(CampaignSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Create a campaign (binds script + voice + contact list; "
        "caller ID optional: the default one)",
        request=CampaignWriteSerializer,
        responses={201: CampaignSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CampaignWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create(
            organization=self.organization, data=serializer.validated_data
        )
        if budget := serializer.validated_data.get("budget"):
            campaign = costs.campaign_budget_set(campaign=campaign, **budget)
        return self._render(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: CampaignSerializer, 409: CAMPAIGN_STATE_CONFLICT},
        summary="Start dialling",
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = services.campaign_start(
            campaign=self._campaign(), actor=services.Actor.of(self.principal)
        )
        return self._render(campaign)

    @extend_schema(
        request=None,
        responses={200: CampaignSerializer, 409: CAMPAIGN_STATE_CONFLICT},
        summary="Pause",
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = services.campaign_pause(
            campaign=self._campaign(), actor=services.Actor.of(self.principal)
        )
        return self._render(campaign)

    @extend_schema(
        request=None,
        responses={200: CampaignSerializer, 409: CAMPAIGN_STATE_CONFLICT},
        summary="Stop (final)",
    )
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = services.campaign_stop(
            campaign=self._campaign(), actor=services.Actor.of(self.principal)
        )
        return self._render(campaign)

    @extend_schema(
        summary="The campaign's call sessions",
        responses={200: CampaignSessionSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def sessions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self._campaign()
        queryset = _filtered(
            CampaignSessionFilter, request, selectors.campaign_sessions(campaign=campaign)
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CampaignSessionSerializer(page, many=True).data)
