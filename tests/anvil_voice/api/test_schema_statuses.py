"""The schema documents every status and shape the API answers (issue 13).

Each answer below is checked against the operation's documented response for its status:
the status must be listed and the body must validate against the documented JSON schema.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from campaigns.factories import DoNotCallEntryFactory
from sessions.factories import CallSessionFactory, TranscriptTurnFactory

API = "/api/v1/voice"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable` in JSON Schema terms, and refs into one document."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def assert_documented(schema: dict[str, Any], method: str, path: str, response: Any) -> None:
    responses = schema["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path} answered {status}; documents {list(responses)}"
    content = responses[status].get("content")
    if content is None:
        assert response.content == b""
        return
    body_schema = content["application/json"]["schema"]
    document = _nullable_to_json_schema({**body_schema, "components": schema["components"]})
    jsonschema.validate(response.json(), document)


def test_adding_a_listed_number_again_answers_a_documented_200(owner, schema):
    DoNotCallEntryFactory(organization=owner.organization, phone_number="+12125550108")

    response = owner.client.post(
        f"{API}/do-not-call", {"phoneNumber": "+12125550108"}, format="json"
    )

    assert response.status_code == 200
    assert_documented(schema, "POST", f"{API}/do-not-call", response)


def test_registering_a_caller_id_twice_answers_a_documented_409(owner, schema):
    body = {"phoneNumber": "+15555550100"}
    assert owner.client.post(f"{API}/phone-numbers", body, format="json").status_code == 201

    response = owner.client.post(f"{API}/phone-numbers", body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "CONFLICT")
    assert_documented(schema, "POST", f"{API}/phone-numbers", response)


def test_the_transcript_is_documented_as_it_answers_every_turn_without_meta(owner, schema):
    session = CallSessionFactory(organization=owner.organization)
    TranscriptTurnFactory(session=session, index=0)
    TranscriptTurnFactory(session=session, index=1)

    response = owner.client.get(f"{API}/sessions/{session.pk}/transcript")

    assert response.status_code == 200
    assert set(response.json()) == {"success", "data"}
    assert len(response.json()["data"]) == 2
    documented = schema["paths"][f"{API}/sessions/{{id}}/transcript"]["get"]["responses"]["200"]
    assert "meta" not in documented["content"]["application/json"]["schema"]["properties"]
    assert_documented(schema, "GET", f"{API}/sessions/{{id}}/transcript", response)


def test_every_operation_documents_the_errors_any_request_can_meet(schema):
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "413", "429"):
                assert status in responses, (method, path, status)
            if "requestBody" in operation:
                assert "415" in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"] == {"application/json": {"schema": envelope}}
            assert responses["429"]["headers"]["Retry-After"]["required"] is True


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/campaigns/{id}/start", "409"),
        ("POST", "/campaigns/{id}/pause", "409"),
        ("POST", "/campaigns/{id}/stop", "409"),
        ("POST", "/contact-lists/{id}/contacts", "409"),
        ("DELETE", "/contact-lists/{id}", "409"),
        ("POST", "/phone-numbers", "409"),
        ("POST", "/phone-numbers", "503"),
        ("DELETE", "/phone-numbers/{id}", "409"),
        ("DELETE", "/scripts/{id}", "409"),
        ("DELETE", "/voices/{id}", "409"),
        ("POST", "/voices/{id}/preview", "409"),
        ("POST", "/voices/{id}/preview", "503"),
        ("POST", "/calls/test", "409"),
        ("POST", "/calls/test", "503"),
        ("POST", "/sessions/{id}/callback", "409"),
        ("DELETE", "/do-not-call/{id}", "415"),
        ("GET", "/health", "503"),
    ],
)
def test_each_business_rule_error_is_documented(schema, method, path, status):
    assert status in schema["paths"][API + path][method.lower()]["responses"]
