"""`/api/v1/voice/voices`: list, retrieve, clone (multipart), delete, preview, preview audio."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.negotiation import AudioNegotiation
from anvil_voice.api.renderers import EnvelopeJSONRenderer
from anvil_voice.api.schema import error_response
from anvil_voice.api.views import OrganizationScopedViewSet
from voices import selectors, services, speech, storage
from voices.api.serializers import (
    VoiceCloneSerializer,
    VoiceDetailSerializer,
    VoicePreviewRequestSerializer,
    VoicePreviewSerializer,
    VoiceSerializer,
)
from voices.filters import VoiceFilter
from voices.models import Voice, VoicePreview


@extend_schema_view(
    list=extend_schema(summary="List voices"),
    retrieve=extend_schema(summary="Get a voice with its samples"),
)
class VoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    serializer_class = VoiceSerializer
    filterset_class = VoiceFilter

    def get_base_queryset(self) -> QuerySet[Voice]:
        if self.action == "retrieve":
            return selectors.voice_detail()
        return selectors.voice_list()

    def get_serializer_class(self) -> type[VoiceSerializer]:
        return VoiceDetailSerializer if self.action == "retrieve" else VoiceSerializer

    def _voice(self) -> Voice:
        voice = self.get_object()
        assert isinstance(voice, Voice)
        return voice

    @extend_schema(
        summary="Clone a voice",
        request={"multipart/form-data": VoiceCloneSerializer},
        responses={201: VoiceDetailSerializer},
    )
    @action(detail=False, methods=["post"], url_path="clone", parser_classes=[MultiPartParser])
    def clone(self, request: Request) -> Response:
        serializer = VoiceCloneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        voice = services.voice_clone(
            organization=self.organization,
            name=data["name"],
            uploads=data["samples"],
            description=data.get("description", ""),
            labels=data.get("labels"),
            sample_sentence=data.get("sample_sentence"),
        )
        # Re-read with the annotations the list uses; `ready` already if the task ran eagerly.
        voice = selectors.voice_detail().get(pk=voice.pk)
        return Response(VoiceDetailSerializer(voice).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Delete a voice",
        request=None,
        responses={
            204: None,
            409: error_response("CONFLICT: a running or paused campaign uses the voice."),
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.voice_delete(voice=self._voice())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Generate a preview MP3",
        request=VoicePreviewRequestSerializer,
        responses={
            201: VoicePreviewSerializer,
            200: OpenApiResponse(VoicePreviewSerializer, description="Reused: same text before."),
            409: error_response(
                "INVALID_STATE: the voice is not ready (still processing, or failed)."
            ),
            503: error_response(
                "SERVICE_UNAVAILABLE: the speech provider could not synthesise it."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        voice = self._voice()
        serializer = VoicePreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = speech.voice_preview(
            voice=voice,
            text=serializer.validated_data.get("text"),
            script_id=serializer.validated_data.get("script_id"),
        )
        preview = result.preview
        signed = storage.signed_url(str(preview.file.name))
        if signed is not None:
            url, expires_at = signed.url, signed.expires_at
        else:
            route = reverse(
                "api:voice-preview-audio", kwargs={"pk": voice.pk, "preview_id": preview.pk}
            )
            url, expires_at = request.build_absolute_uri(route), None
        payload = {
            "id": preview.pk,
            "voice_id": voice.pk,
            "text": preview.text,
            "url": url,
            "expires_at": expires_at,
            "duration_seconds": round(preview.duration_seconds, 3),
            "size_bytes": preview.size_bytes,
            "cached": not result.created,
            "created_at": preview.created_at,
        }
        return Response(
            VoicePreviewSerializer(payload).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Play a stored preview",
        request=None,
        responses={
            (200, "audio/mpeg"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="Redirect to a presigned S3 URL."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"previews/(?P<preview_id>[0-9]+)/audio",
        url_name="preview-audio",
        renderer_classes=[EnvelopeJSONRenderer],
        content_negotiation_class=AudioNegotiation,
        filter_backends=[],
    )
    def preview_audio(
        self, request: Request, pk: str | None = None, preview_id: str | None = None
    ) -> HttpResponseBase:
        preview = get_object_or_404(VoicePreview, voice=self._voice(), pk=preview_id)
        return storage.audio_response(name=str(preview.file.name), audio_format="mp3")
