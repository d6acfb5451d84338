from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.schema import error_response
from anvil_voice.api.views import OrganizationScopedViewSet
from campaigns.models import Contact
from scripts import services
from scripts.api.serializers import (
    ScriptRenderedSerializer,
    ScriptRenderSerializer,
    ScriptSerializer,
    ScriptToolSecretSerializer,
    ScriptVersionSerializer,
    ScriptWithSecretSerializer,
)
from scripts.filters import ScriptFilter
from scripts.models import Script, ScriptVersion

SAMPLE_CONTACT = {
    "first_name": "Jordan",
    "last_name": "Lee",
    "full_name": "Jordan Lee",
    "company": "Example Co",
    "agent_name": "Alex",
}


def _split(validated: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    objections = validated.pop("objection_responses", None)
    if "keypad" in validated:
        # Stored as plain JSON, in the order given (the prompt reads them in that order).
        validated["keypad"] = [dict(item) for item in validated["keypad"]]
    if validated.get("transfer") is not None:
        validated["transfer"] = dict(validated["transfer"])
    return validated, objections


class ScriptViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    OrganizationScopedViewSet,
):
    serializer_class = ScriptSerializer
    filterset_class = ScriptFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_base_queryset(self) -> QuerySet[Script]:
        return Script.objects.select_related("organization").prefetch_related("objections")

    def _script(self) -> Script:
        script = self.get_object()
        assert isinstance(script, Script)
        return script

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ScriptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields, objections = _split(dict(serializer.validated_data))
        script = services.script_create(
            organization=self.organization, fields=fields, objection_responses=objections or []
        )
        return Response(ScriptWithSecretSerializer(script).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ScriptWithSecretSerializer})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(ScriptWithSecretSerializer(self._script()).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        script = self._script()
        serializer = ScriptSerializer(script, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields, objections = _split(dict(serializer.validated_data))
        script = services.script_update(
            script=script, fields=fields, objection_responses=objections
        )
        return Response(ScriptWithSecretSerializer(script).data)

    @extend_schema(
        request=None,
        responses={204: None, 409: error_response("CONFLICT: campaigns use the script.")},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.script_delete(script=self._script())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ScriptRenderSerializer, responses={200: ScriptRenderedSerializer})
    @action(detail=True, methods=["post"])
    def render(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        script = self._script()
        serializer = ScriptRenderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        variables: dict[str, Any] = dict(SAMPLE_CONTACT)
        if contact_id := serializer.validated_data.get("contact_id"):
            contact = Contact.objects.filter(organization=self.organization, pk=contact_id).first()
            if contact is None:
                raise NotFound("No such contact.")
            variables = contact.template_variables()
        variables.update(serializer.validated_data["variables"])
        rendered = services.script_render(script=script, variables=variables)
        return Response(ScriptRenderedSerializer({**rendered, "variables": variables}).data)

    @extend_schema(request=None, responses={200: ScriptToolSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-tool-secret")
    def rotate_tool_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A new `toolSecret` for the script's HTTP tool requests; the old one stops signing."""
        script = services.script_rotate_tool_secret(script=self._script())
        return Response(ScriptToolSecretSerializer(script).data)

    @extend_schema(responses={200: ScriptVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        script = self._script()
        queryset = ScriptVersion.objects.filter(script=script)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ScriptVersionSerializer(page, many=True).data)
