"""`/webhooks`: list, create (answers the secret once) and delete customer endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.views import OrganizationScopedViewSet
from anvil_voice.webhooks import services
from anvil_voice.webhooks.api.serializers import (
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from anvil_voice.webhooks.models import WebhookEndpoint


class WebhookEndpointViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    serializer_class = WebhookEndpointSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_base_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.all()

    @extend_schema(responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = services.webhook_endpoint_create(
            organization=self.organization,
            url=data["url"],
            events=list(data["events"]),
            description=data.get("description", ""),
        )
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        assert isinstance(endpoint, WebhookEndpoint)
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)
