"""`/api/v1/voice/api-keys`: list, issue (the key is in the answer once) and revoke keys."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.accounts import services
from anvil_voice.accounts.models import ApiKey, Role
from anvil_voice.api.schema import error_response
from anvil_voice.api.serializers import CamelCaseModelSerializer
from anvil_voice.api.views import OrganizationScopedViewSet


class ApiKeySerializer(CamelCaseModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MANAGER)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class IssuedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full key; shown only this once.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    serializer_class = ApiKeySerializer

    def get_base_queryset(self) -> QuerySet[ApiKey]:
        return ApiKey.objects.all()

    @extend_schema(
        request=ApiKeySerializer,
        responses={
            201: IssuedApiKeySerializer,
            409: error_response("CONFLICT: the organization holds its maximum of active keys."),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data["role"]
        if role == Role.OWNER and self.principal.role != Role.OWNER:
            raise PermissionDenied("Only an owner can issue an owner key.")
        issued = services.api_key_issue(
            organization=self.organization,
            name=serializer.validated_data["name"],
            role=role,
            created_by=self.principal.user,
        )
        data = dict(ApiKeySerializer(issued.api_key).data)
        data["key"] = issued.raw_key
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        api_key = self.get_object()
        assert isinstance(api_key, ApiKey)
        services.api_key_revoke(api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)
