"""The API side of the error catalogue: each code's HTTP status, and the envelope body.

Every error response is `{"success": false, "error": {"code", "message", "details"?}}`;
`details` maps camelCase field names to lists of messages for validation errors. The codes
themselves, and the domain errors services raise, live in the framework-free
`anvil_voice.errors`; `ErrorCode` is re-exported here for the API layer.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status

from anvil_voice.errors import ErrorCode

__all__ = ["STATUS_BY_CODE", "ErrorCode", "error_body"]

# The one mapping of an error code to its HTTP status (an ApplicationError answers with this).
STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: status.HTTP_400_BAD_REQUEST,
    ErrorCode.PARSE_ERROR: status.HTTP_400_BAD_REQUEST,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.PAYLOAD_TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.UNAUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: status.HTTP_403_FORBIDDEN,
    ErrorCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED: status.HTTP_405_METHOD_NOT_ALLOWED,
    ErrorCode.NOT_ACCEPTABLE: status.HTTP_406_NOT_ACCEPTABLE,
    ErrorCode.INVALID_STATE: status.HTTP_409_CONFLICT,
    ErrorCode.CONFLICT: status.HTTP_409_CONFLICT,
    ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorCode.SERVICE_UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCode.INTERNAL_ERROR: status.HTTP_500_INTERNAL_SERVER_ERROR,
}


def error_body(code: ErrorCode, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": str(code), "message": message}
    if details:
        error["details"] = details
    return {"success": False, "error": error}
