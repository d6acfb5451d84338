"""`/sessions` (list, detail, transcript, recording).

Everything answers in the envelope except `/sessions/:id/transcript?format=txt|vtt`, which
answers the bare document (text/plain or text/vtt) so it can be saved or fed to a player as is;
its errors are still JSON envelopes.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.http.response import HttpResponseBase
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anvil_voice.api.negotiation import AudioNegotiation
from anvil_voice.api.renderers import EnvelopeJSONRenderer
from anvil_voice.api.views import OrganizationScopedViewSet
from sessions import selectors
from sessions.api.pagination import SessionCursorPagination
from sessions.api.serializers import (
    SessionDetailSerializer,
    SessionSerializer,
    TranscriptTurnSerializer,
)
from sessions.filters import (
    ORDERING_VALUES,
    SessionFilter,
    reject_unknown_params,
    session_ordering,
)
from sessions.models import CallSession, ScheduledCallback
from sessions.transcripts import transcript_txt, transcript_vtt
from voices.storage import audio_response

TRANSCRIPT_FORMATS = ("json", "txt", "vtt")


# The columns a list row reads, derived from `SessionSerializer` (its fields, and
# `Meta.method_columns`: `recording` for hasRecording, `extracted` for callbackAt). The rest
# of a session (variables, compliance, latency, summary, the carrier's ids...) is the
# detail's: at 50 rows a page, loading and decoding it was a fifth of the page's server time.
# A column missing here would cost a query per row: the list tests count the queries.
LIST_COLUMNS: tuple[str, ...] = tuple(SessionSerializer().read_columns() or ())


def with_latest_callback_id(queryset: QuerySet[CallSession]) -> QuerySet[CallSession]:
    """`latest_callback_id` on each row: the newest callback scheduled from the session, if any
    (the `callback` field), looked up in the page's own query: an index probe per row of the
    page. A scalar subquery, not EXISTS: PostgreSQL may run an EXISTS in the select list as a
    hash of every callback of every session (a scan of the whole table per page: 14 ms at 50 000
    callbacks) where this stays one probe per row returned."""
    newest = ScheduledCallback.objects.filter(source_session=OuterRef("pk")).order_by("-id")
    return queryset.annotate(latest_callback_id=Subquery(newest.values("id")[:1]))


def attach_latest_callbacks(sessions: list[CallSession]) -> None:
    """Each session's newest callback (`callbacks_newest_first`, what `SessionSerializer` reads),
    fetched in one query for the sessions of the page that have one, none when no session has:
    most calls never schedule a callback, and that query was a round trip on every page."""
    wanted = [
        session.latest_callback_id  # type: ignore[attr-defined]
        for session in sessions
        if getattr(session, "latest_callback_id", None) is not None
    ]
    callbacks = ScheduledCallback.objects.in_bulk(wanted) if wanted else {}
    for session in sessions:
        latest = callbacks.get(getattr(session, "latest_callback_id", None))
        session.callbacks_newest_first = [latest] if latest else []  # type: ignore[attr-defined]


def session_page(*, request: Request, queryset: QuerySet[CallSession], view: APIView) -> Response:
    """One page of sessions from `queryset` (already scoped) with the list's query parameters.

    Shared by `/sessions` and `/campaigns/:id/sessions` so both accept the same filters,
    orderings and cursors and answer the same rows.
    """
    reject_unknown_params(request.query_params)
    ordering = session_ordering(request.query_params)
    queryset = with_latest_callback_id(queryset.only(*LIST_COLUMNS) if LIST_COLUMNS else queryset)
    if "duration_key" in {field.lstrip("-") for field in ordering}:
        queryset = selectors.session_with_duration_key(queryset)
    # Without a filter parameter the filterset changes nothing: skip its form (FilterBackend).
    if any(name in request.query_params for name in SessionFilter.base_filters):
        filterset = SessionFilter(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        queryset = filterset.qs
    paginator = SessionCursorPagination(ordering=ordering)
    page = paginator.paginate_queryset(queryset, request, view)
    attach_latest_callbacks(page)
    return paginator.get_paginated_response(SessionSerializer(page, many=True).data)


class PlainTextRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        return data.encode(self.charset) if isinstance(data, str) else data


class WebVttRenderer(PlainTextRenderer):
    media_type = "text/vtt"
    format = "vtt"


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    serializer_class = SessionSerializer
    filterset_class = SessionFilter
    pagination_class = SessionCursorPagination
    # `/sessions/:id/callback` (POST, DELETE) is campaigns' (`campaigns.api.calls`).
    http_method_names = ["get", "head", "options"]

    def get_base_queryset(self) -> QuerySet[CallSession]:
        if self.action == "list":
            return selectors.session_list()
        return selectors.session_detail_queryset()

    def get_serializer_class(self) -> type[SessionSerializer]:
        return SessionDetailSerializer if self.action == "retrieve" else SessionSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "ordering",
                str,
                enum=ORDERING_VALUES,
                description=(
                    "By start time or `durationSeconds` (`-` for descending); `duration` and "
                    "`-duration` are aliases of `durationSeconds` and `-durationSeconds`."
                ),
            )
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return session_page(request=request, queryset=self.get_queryset(), view=self)

    # --- transcript -------------------------------------------------------------------------
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        if self.action == "transcript" and not force:
            requested = request.query_params.get("format", "json")
            if requested not in TRANSCRIPT_FORMATS:
                raise ValidationError(
                    {"format": [f"Must be one of: {', '.join(TRANSCRIPT_FORMATS)}."]}
                )
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are JSON envelopes even when a text format was asked for.
        self.request.accepted_renderer = EnvelopeJSONRenderer()
        self.request.accepted_media_type = EnvelopeJSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=[*TRANSCRIPT_FORMATS])],
        responses={
            # Every turn at once: a call's transcript is short, so it is not paginated (no meta).
            200: TranscriptTurnSerializer(many=True),
            (200, "text/plain"): OpenApiTypes.STR,
            (200, "text/vtt"): OpenApiTypes.STR,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[EnvelopeJSONRenderer, PlainTextRenderer, WebVttRenderer],
        pagination_class=None,
    )
    def transcript(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        assert isinstance(session, CallSession)
        turns = selectors.session_turns(session=session)
        chosen = getattr(request.accepted_renderer, "format", "json")
        if chosen == "txt":
            return Response(
                transcript_txt(session=session, turns=turns),
                content_type="text/plain; charset=utf-8",
            )
        if chosen == "vtt":
            return Response(transcript_vtt(turns=turns), content_type="text/vtt; charset=utf-8")
        return Response(TranscriptTurnSerializer(turns, many=True).data)

    # --- recording --------------------------------------------------------------------------
    @extend_schema(
        summary="Play the call's recording (WAV)",
        request=None,
        responses={
            (200, "audio/wav"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="Redirect to a presigned S3 URL."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[EnvelopeJSONRenderer],
        content_negotiation_class=AudioNegotiation,
        filter_backends=[],
    )
    def recording(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        session = self.get_object()
        assert isinstance(session, CallSession)
        if not session.recording:
            raise NotFound("This session has no recording.")
        return audio_response(name=str(session.recording.name), audio_format="wav")
