"""Fuzz every API operation from its own OpenAPI schema (schemathesis).

Each generated request must answer without a 5xx, in the envelope, and match the schema.
Runs in-process through Django's WSGI handler, inside the test's database transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from anvil_voice.accounts import services
from anvil_voice.accounts.models import Role

schema = schemathesis.openapi.from_wsgi("/api/v1/voice/schema/?format=json", get_wsgi_application())

# Each operation gets a handful of examples: enough to hit bad input paths, cheap enough for CI.
FUZZ_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Not applicable here: business rules (ids that must exist, E.164 numbers) reject schema-valid
# input by design; unknown query parameters are ignored like most APIs do; and we always send a
# valid key explicitly (authentication failures have their own tests).
EXCLUDED_CHECKS = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.ignored_auth,
]


@pytest.fixture(autouse=True)
def _keep_test_connection() -> Iterator[None]:
    # The WSGI handler closes "old" connections at the end of each request; in a test that
    # would close the transaction the test runs in. Django's test client does the same.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(acme) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = services.api_key_issue(organization=acme, name="fuzz", role=Role.OWNER)
    return {"Authorization": f"Bearer {issued.raw_key}"}


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_it_never_answers_5xx_and_keeps_the_envelope(case, bearer):
    response = case.call(headers=bearer)

    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    content_type = response.headers.get("Content-Type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if content_type.startswith("application/json"):
        body = json.loads(response.text)
        assert isinstance(body, dict)
        assert body["success"] is (response.status_code < 400)
        if response.status_code >= 400:
            assert set(body["error"]) <= {"code", "message", "details"}
    case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)
