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


@pytest.mark.parametrize(
    ("moment", "status"),
    [
        # An offset PostgreSQL cannot hold (±15:59 at most): taken in UTC, not a 500.
        ("0093-09-06T06:23:37-18:19", 200),
        # A moment UTC cannot hold: a 400 naming the parameter, not a 500.
        ("0001-01-01T00:00:00+14:00", 400),
    ],
)
def test_a_datetime_filter_out_of_the_databases_range_is_not_a_500(owner, moment, status):
    response = owner.client.get("/api/v1/voice/scripts", {"updatedBefore": moment})

    assert response.status_code == status
    assert response.json()["success"] is (status == 200)
    if status == 400:
        assert "updatedBefore" in response.json()["error"]["details"]
