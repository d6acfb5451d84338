"""`/calls/test` and `/sessions/:id/callback`: calls placed outside the dialler's own claims.

Both need what the campaigns app owns (caller IDs, the do-not-call list, calling windows), so
they live here although their paths sit beside the sessions'; campaigns depends on sessions,
never the reverse.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from django_ratelimit.core import get_usage
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from anvil_voice.api.schema import error_response
from anvil_voice.api.serializers import CamelCaseSerializer
from anvil_voice.api.views import OrganizationScopedViewSet
from campaigns.dialling import callbacks
from campaigns.dialling.callbacks import MAX_AHEAD
from campaigns.services import test_calls
from campaigns.services.test_calls import E164_MESSAGE
from sessions import selectors
from sessions.api.serializers import CallbackSerializer, SessionDetailSerializer
from sessions.models import CallSession

TEST_CALL_GROUP = "test-calls"
CALLBACK_CONFLICT = error_response(
    "CONFLICT: a callback is already pending for the contact, or the number is on the "
    "do-not-call list; INVALID_STATE: not a campaign call, or the campaign was stopped."
)
# The shape only (documented as the schema's pattern); the service checks the number is real.
E164_FORMAT = RegexValidator(r"^\+[1-9][0-9]{1,14}$", E164_MESSAGE)


class OffsetDateTimeField(serializers.DateTimeField):
    """ISO-8601 with a UTC offset: a naive time is refused, not guessed in the server's zone."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "naive": "Include a UTC offset (for example 2026-03-03T15:00:00-05:00 or ...Z).",
    }


class CallbackRequestSerializer(CamelCaseSerializer):
    at = OffsetDateTimeField(
        help_text=(
            "When to call, ISO-8601 with a UTC offset; in the future, at most "
            f"{MAX_AHEAD.days} days ahead, inside the contact's calling window."
        )
    )
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    adjust = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Outside the calling window: move to the next allowed time instead of a 400.",
    )


class TestCallSerializer(CamelCaseSerializer):
    """`from` is a Python keyword: the field is declared as `caller` and published as `from`."""

    to = serializers.CharField(max_length=16, validators=[E164_FORMAT])
    script = serializers.IntegerField(min_value=1)
    voice = serializers.IntegerField(min_value=1)
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=500),
        required=False,
        default=dict,
    )
    caller = serializers.CharField(required=False, max_length=32)
    override_calling_window = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "Call even outside the legal calling window at the number's local time (refused "
            "with a 400 otherwise); requires overrideReason. Recorded in the session's "
            "compliance evidence."
        ),
    )
    override_reason = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=500,
        help_text="Why the calling window is overridden (required with overrideCallingWindow).",
    )
    record = serializers.BooleanField(
        required=False,
        default=True,
        help_text=(
            "Record the call as a campaign call is recorded (after the script's recording "
            "disclosure when it requires one). Default true; false places it unrecorded."
        ),
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("caller")
        return fields


class SessionCallbackViewSet(OrganizationScopedViewSet):
    """`POST/DELETE /sessions/:id/callback`: schedule or cancel a call back to its contact."""

    serializer_class = CallbackSerializer
    pagination_class = None

    def get_base_queryset(self) -> QuerySet[CallSession]:
        return selectors.session_list()

    @extend_schema(
        methods=["POST"],
        summary="Schedule a callback to the session's contact, in the session's campaign",
        request=CallbackRequestSerializer,
        responses={201: CallbackSerializer, 409: CALLBACK_CONFLICT},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Cancel the session's pending callback (404 when there is none)",
        request=None,
        responses={204: None},
    )
    @action(detail=True, methods=["post", "delete"])
    def callback(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        assert isinstance(session, CallSession)
        if request.method == "DELETE":
            callbacks.callback_cancel(
                session=session, user=self.principal.user, api_key=self.principal.api_key
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = CallbackRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = callbacks.callback_schedule(
            session=session,
            at=data["at"],
            note=data["note"],
            adjust=data["adjust"],
            user=self.principal.user,
            api_key=self.principal.api_key,
        )
        return Response(CallbackSerializer(result.callback).data, status=status.HTTP_201_CREATED)


def _organization_key(group: str, request: HttpRequest) -> str:
    return f"org:{request.anvil_test_call_org}"  # type: ignore[attr-defined]


class CallsViewSet(OrganizationScopedViewSet):
    """`POST /calls/test`: one call at once, outside any campaign."""

    serializer_class = TestCallSerializer
    pagination_class = None

    def get_base_queryset(self) -> QuerySet[CallSession]:
        return selectors.session_list()

    def _check_test_call_budget(self, request: Request) -> None:
        django_request = request._request
        django_request.anvil_test_call_org = self.organization.pk  # type: ignore[attr-defined]
        usage = get_usage(
            django_request,
            group=TEST_CALL_GROUP,
            key=_organization_key,
            rate=settings.TEST_CALL_RATE_LIMIT,
            increment=True,
        )
        if usage is not None and usage["should_limit"]:
            raise Throttled(wait=max(1, usage["time_left"]))

    @extend_schema(
        description=(
            "Place one call now. Refused (400 on `to`) outside the legal calling window at the "
            "number's local time, in every zone the number may be in, unless "
            "`overrideCallingWindow` is true with an `overrideReason` (recorded in the "
            "session's compliance evidence); premium-rate and other non-geographic numbers "
            "are always refused."
        ),
        request=TestCallSerializer,
        responses={
            201: SessionDetailSerializer,
            409: error_response("CONFLICT: the number is on the do-not-call list."),
            503: error_response(
                "SERVICE_UNAVAILABLE: every live-call slot of the deployment is in use "
                "(test calls are refused, not queued); try again when a call ends."
            ),
        },
    )
    @action(detail=False, methods=["post"], url_path="test")
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TestCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # Counted only for well-formed requests, before the checks that touch the database.
        self._check_test_call_budget(request)
        session = test_calls.session_test_call_create(
            organization=self.organization,
            to=data["to"],
            script_id=data["script"],
            voice_id=data["voice"],
            variables=dict(data["variables"]),
            caller=data.get("from"),
            override_calling_window=data["override_calling_window"],
            override_reason=data["override_reason"],
            record=data["record"],
            user=self.principal.user,
            api_key=self.principal.api_key,
        )
        return Response(SessionDetailSerializer(session).data, status=status.HTTP_201_CREATED)
