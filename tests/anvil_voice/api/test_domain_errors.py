"""The API's exception handler maps each domain error to its status and the envelope."""

from __future__ import annotations

import pytest
from django.core.exceptions import RequestDataTooBig
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from anvil_voice.api.errors import STATUS_BY_CODE
from anvil_voice.api.exceptions import envelope_exception_handler
from anvil_voice.errors import (
    VALIDATION_MESSAGE,
    ApplicationError,
    Conflict,
    ErrorCode,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ApplicationError("Bad."), 400, "VALIDATION_ERROR"),
        (NotFound("Bad."), 404, "NOT_FOUND"),
        (InvalidState("Bad."), 409, "INVALID_STATE"),
        (Conflict("Bad."), 409, "CONFLICT"),
        (PayloadTooLarge("Bad."), 413, "PAYLOAD_TOO_LARGE"),
        (ServiceUnavailable("Bad."), 503, "SERVICE_UNAVAILABLE"),
        (ApplicationError("Bad.", code=ErrorCode.PERMISSION_DENIED), 403, "PERMISSION_DENIED"),
    ],
)
def test_it_maps_each_domain_error_to_its_status_and_envelope(error, status, code):
    response = envelope_exception_handler(error, {})

    assert response.status_code == status
    assert response.data == {"success": False, "error": {"code": code, "message": "Bad."}}


def test_it_passes_details_through_unchanged():
    error = ApplicationError(VALIDATION_MESSAGE, details={"scriptId": ["No such script."]})

    response = envelope_exception_handler(error, {})

    assert response.status_code == 400
    assert response.data == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": {"scriptId": ["No such script."]},
        },
    }


def test_it_answers_django_request_data_too_big_as_payload_too_large():
    response = envelope_exception_handler(RequestDataTooBig("too big"), {})

    assert response.status_code == 413
    assert response.data["error"] == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": "The request body is too large.",
    }


def test_every_error_code_has_one_status():
    assert set(STATUS_BY_CODE) == set(ErrorCode)


class _Refusing(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def get(self, request: Request) -> Response:
        raise Conflict("This number is already registered.")


def test_a_view_raising_a_domain_error_answers_the_envelope():
    request = APIRequestFactory().get("/anything")

    response = _Refusing.as_view()(request)

    assert response.status_code == 409
    assert response.data == {
        "success": False,
        "error": {"code": "CONFLICT", "message": "This number is already registered."},
    }
