"""Domain errors: what services, selectors and importers raise when a business rule says no.

Framework-free on purpose (neither Django nor DRF is imported here): the API's exception
handler (`anvil_voice.api.exceptions`) maps an `ApplicationError` to the error envelope, with
the HTTP status chosen from its `code` in `anvil_voice.api.errors`; the admin shows its
`message` (and `details`) as a message or a form error.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The one catalogue of error codes, shared by the domain errors and the API envelope."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    PARSE_ERROR = "PARSE_ERROR"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    INVALID_STATE = "INVALID_STATE"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# The message of a validation error whose specifics are in `details`.
VALIDATION_MESSAGE = "The request is not valid; see error.details."


class ApplicationError(Exception):
    """An error raised on purpose; a validation error unless a subclass or `code` says otherwise.

    `details` maps field names (as the API spells them) to lists of messages.
    """

    code: ErrorCode = ErrorCode.VALIDATION_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class NotFound(ApplicationError):
    code = ErrorCode.NOT_FOUND


class InvalidState(ApplicationError):
    """The object is not in a state that allows this (a running campaign, a voice in progress)."""

    code = ErrorCode.INVALID_STATE


class Conflict(ApplicationError):
    """It would clash with something that exists (a duplicate number, a voice in use)."""

    code = ErrorCode.CONFLICT


class PayloadTooLarge(ApplicationError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class ServiceUnavailable(ApplicationError):
    """A provider the operation depends on (Twilio, the speech provider) did not answer."""

    code = ErrorCode.SERVICE_UNAVAILABLE
