"""Fuzz every API operation from its own OpenAPI schema (schemathesis).

Each generated request must answer without a 5xx, in the envelope, and conform to the schema:
a documented status code, a documented content type, documented headers (Retry-After on a
429) and a body that validates against the documented response schema. Runs in-process
through Django's WSGI handler, inside the test's database transaction, on whichever database
the suite runs on (SQLite, then PostgreSQL in CI).

The rate limits are raised for the run: a 429 here would hide the answer being checked.
The last test checks that every operation of the schema was fuzzed, none skipped.
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

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# Each operation gets a handful of examples: enough to hit bad input paths, cheap enough for CI.
FUZZ_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every other built-in check runs (not_a_server_error, status_code_conformance,
# content_type_conformance, response_headers_conformance, response_schema_conformance,
# missing_required_header, unsupported_method, ...). Not applicable here:
# - positive_data_acceptance: business rules reject schema-valid input by design (ids that must
#   exist in the caller's organization, E.164 numbers, a ready voice);
# - negative_data_rejection: DRF turns a number into the string a CharField wants
#   (`{"name": 0}`), and django-filter reads an empty filter (`?updatedBefore=`) or a repeated
#   one as absent; both are framework behaviour we keep, not schema shapes we promise;
# - ignored_auth: every request carries a valid key explicitly (authentication failures have
#   their own tests in test_envelope.py and test_tenancy.py).
EXCLUDED_CHECKS = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.ignored_auth,
]

# Operation labels ("GET /api/v1/voice/voices") whose fuzz test body ran at least once.
FUZZED: set[str] = set()


def schema_operations() -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


@pytest.fixture(autouse=True)
def _keep_test_connection() -> Iterator[None]:
    # The WSGI handler closes "old" connections at the end of each request; in a test that
    # would close the transaction the test runs in. Django's test client does the same.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_rate_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_RATE_LIMIT = "1000000/m"
    settings.API_ORGANIZATION_RATE_LIMIT = "1000000/m"
    settings.TEST_CALL_RATE_LIMIT = "1000000/m"


@pytest.fixture
def bearer(acme) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = services.api_key_issue(organization=acme, name="fuzz", role=Role.OWNER)
    return {"Authorization": f"Bearer {issued.raw_key}"}


def test_it_fuzzes_every_operation_of_the_schema():
    loaded = [result.ok().label for result in schema.get_all_operations()]

    assert sorted(loaded) == sorted(schema_operations())
    # docs/api.md section 3 lists the same operations (test_api_doc.py checks it).
    assert len(loaded) == 60


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_it_never_answers_5xx_and_keeps_the_envelope(case, bearer):
    FUZZED.add(case.operation.label)
    response = case.call(headers=bearer)

    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    assert response.status_code != 429, "the rate limit is raised for this run"
    content_type = response.headers.get("Content-Type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if content_type.startswith("application/json"):
        body = json.loads(response.text)
        assert isinstance(body, dict)
        assert body["success"] is (response.status_code < 400)
        if response.status_code >= 400:
            assert set(body["error"]) <= {"code", "message", "details"}
    case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)


def test_no_operation_was_skipped(request):
    # Runs after the fuzz tests above (file order); compares with the ones selected in this run,
    # so running a single operation with -k still passes.
    selected = {
        item.operation_label
        for item in request.session.items
        if getattr(item, "originalname", "").startswith("test_it_never_answers_5xx")
    }

    assert selected <= schema_operations()
    assert selected == FUZZED
