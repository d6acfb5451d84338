"""Turns every exception raised inside an API view into the error envelope."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from anvil_voice.api.errors import STATUS_BY_CODE, ErrorCode, error_body
from anvil_voice.api.serializers import to_camel
from anvil_voice.errors import ApplicationError, PayloadTooLarge

logger = logging.getLogger("anvil_voice.api")

_CODES: list[tuple[type[Exception], ErrorCode]] = [
    (exceptions.ValidationError, ErrorCode.VALIDATION_ERROR),
    (exceptions.ParseError, ErrorCode.PARSE_ERROR),
    (exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (exceptions.NotAuthenticated, ErrorCode.UNAUTHENTICATED),
    (exceptions.AuthenticationFailed, ErrorCode.UNAUTHENTICATED),
    (exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (exceptions.NotFound, ErrorCode.NOT_FOUND),
    (exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (exceptions.Throttled, ErrorCode.RATE_LIMITED),
]

_MESSAGES = {
    ErrorCode.VALIDATION_ERROR: "The request is not valid; see error.details.",
    ErrorCode.NOT_FOUND: "Not found.",
}


def _flatten_details(detail: Any) -> Any:
    """DRF's ErrorDetail tree → plain strings, keeping the field structure."""
    if isinstance(detail, dict):
        return {str(key): _flatten_details(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_details(item) for item in detail]
    return str(detail)


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge("The request body is too large.")
    elif isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        # Django's form parser refuses these before DRF sees a field; without this mapping they
        # fall through to the 500 branch below.
        what = "files" if isinstance(exc, TooManyFilesSent) else "fields"
        limit = getattr(settings, f"DATA_UPLOAD_MAX_NUMBER_{what.upper()}")
        exc = exceptions.ParseError(f"The form has more than {limit} {what}.")
    elif isinstance(exc, DjangoValidationError):
        # Services speak model field names; the API speaks camelCase.
        exc = exceptions.ValidationError(
            {to_camel(key): value for key, value in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"nonFieldErrors": exc.messages}
        )

    headers: dict[str, str] = {}
    status_code: int
    if isinstance(exc, ApplicationError):
        # A domain error: its code picks the status, its message and details go out as they are.
        body = error_body(exc.code, exc.message, exc.details)
        status_code = STATUS_BY_CODE[exc.code]
    elif isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _CODES if isinstance(exc, cls)), ErrorCode.INTERNAL_ERROR)
        if isinstance(exc, exceptions.ValidationError):
            details = _flatten_details(exc.detail)
            if not isinstance(details, dict):
                details = {"nonFieldErrors": details}
            body = error_body(code, _MESSAGES[code], details)
        else:
            message = str(exc.detail) if not isinstance(exc.detail, dict | list) else ""
            body = error_body(code, message or _MESSAGES.get(code, "Request failed."))
        status_code = exc.status_code
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            body["error"]["message"] = "Rate limit exceeded; retry after the Retry-After delay."
        if auth_header := getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = auth_header
    else:
        view = context.get("view")
        logger.exception("unhandled_api_error view=%s", type(view).__name__ if view else "-")
        body = error_body(ErrorCode.INTERNAL_ERROR, "An internal error occurred.")
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR

    # Nothing half-written: a request that errors rolls back its atomic block.
    set_rollback()
    response = Response(body, status=status_code, headers=headers)
    response.enveloped = True  # type: ignore[attr-defined]
    return response
