"""Keeps the envelope contract for what happens outside DRF views under the API prefix.

DRF's exception handler covers errors raised in views; this middleware covers the rest:
bodies too large to read, and exceptions raised by Django before or after a view.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt

from anvil_voice.api.errors import ErrorCode, error_body

logger = logging.getLogger("anvil_voice.api")

API_PREFIX = "/api/v1/voice/"


def envelope_json_response(
    code: ErrorCode, message: str, status: int, details: object = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def _body_limit(request: HttpRequest) -> int:
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/form-data"):
        # Room for every sample at its cap plus the form's own framing.
        return int(settings.VOICE_SAMPLES_MAX_TOTAL_BYTES) + 1024 * 1024
    return int(settings.API_MAX_JSON_BODY_BYTES)


class ApiEnvelopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            return envelope_json_response(
                ErrorCode.VALIDATION_ERROR, "Content-Length is not a number.", 400
            )
        limit = _body_limit(request)
        if length > limit:
            # Refuse before reading: nothing of the body is buffered or parsed.
            return envelope_json_response(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The request body is {length} bytes; the limit is {limit} bytes.",
                413,
            )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        logger.exception("unhandled_api_error path=%s", request.path)
        return envelope_json_response(ErrorCode.INTERNAL_ERROR, "An internal error occurred.", 500)


@csrf_exempt
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Any unknown path under the API prefix: a 404 envelope, never Django's HTML page."""
    return envelope_json_response(
        ErrorCode.NOT_FOUND, f"No API endpoint at {json.dumps(request.path)}.", 404
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals under the API answer in the envelope; elsewhere Django's page."""
    if request.path.startswith(API_PREFIX):
        return envelope_json_response(
            ErrorCode.PERMISSION_DENIED, f"CSRF check failed: {reason}", 403
        )
    return django_csrf_failure(request, reason)
