"""The envelope on every response: success, lists and every class of error."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from anvil_voice.accounts.api import ApiKeySerializer
from anvil_voice.accounts.models import ApiKey

KEYS = "/api/v1/voice/api-keys"


def key_payload(api_key: ApiKey) -> dict[str, object]:
    return {
        "id": api_key.pk,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "role": api_key.role,
        "createdAt": api_key.created_at.isoformat().replace("+00:00", "Z"),
        "lastUsedAt": (
            api_key.last_used_at.isoformat().replace("+00:00", "Z")
            if api_key.last_used_at
            else None
        ),
        "revokedAt": None,
    }


def test_it_wraps_a_created_resource_in_the_envelope(owner):
    response = owner.client.post(KEYS, {"name": "ci", "role": "viewer"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    created = ApiKey.objects.get(name="ci")
    assert body["data"] == {**key_payload(created), "key": body["data"]["key"]}
    assert body["data"]["key"].startswith(created.prefix + ".")


def test_it_wraps_a_list_with_meta_and_camel_case_keys(owner):
    response = owner.client.get(KEYS)

    assert response.status_code == 200
    owner.api_key.refresh_from_db()
    assert response.json() == {
        "success": True,
        "data": [key_payload(owner.api_key)],
        "meta": {"total": 1, "cursor": None, "hasMore": False},
    }


def test_it_answers_validation_errors_with_field_details(owner):
    response = owner.client.post(KEYS, {"role": "emperor"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": {
                "name": ["This field is required."],
                "role": ['"emperor" is not a valid choice.'],
            },
        },
    }
    assert ApiKey.objects.count() == 1


def test_it_refuses_unknown_and_read_only_fields(owner):
    response = owner.client.post(
        KEYS, {"name": "x", "bogus": 1, "prefix": "avk_mine"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "bogus": ["Unknown field."],
        "prefix": ["This field is read-only."],
    }
    assert ApiKey.objects.count() == 1


def test_it_answers_malformed_json_with_parse_error(owner):
    response = owner.client.generic("POST", KEYS, '{"name": "x",', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "PARSE_ERROR"
    assert body["error"]["message"].startswith("JSON parse error")


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_it_refuses_deeply_nested_json_before_parsing_it(owner, opener):
    # 5 000 nested arrays made the recursive JSON parser raise RecursionError: a 500.
    response = owner.client.generic("POST", KEYS, opener * 5000, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {
            "code": "PARSE_ERROR",
            "message": "JSON parse error - nested deeper than 32 levels.",
        },
    }
    assert ApiKey.objects.count() == 1


def test_it_still_parses_json_nested_within_the_limit(owner):
    body = json.dumps({"name": "nested", "role": "viewer", "x": [[[[[[]]]]]]})

    response = owner.client.generic("POST", KEYS, body, content_type="application/json")

    # Parsed, then refused by the serializer for the unknown field: not a parse error.
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"x": ["Unknown field."]}


def test_it_refuses_deeply_nested_json_in_a_form_field(owner):
    response = owner.client.post(
        "/api/v1/voice/voices/clone", {"name": "Deep", "labels": "[" * 5000}
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"]["labels"] == ["Nested deeper than 32 levels."]


def test_it_answers_a_wrong_content_type_with_415(owner):
    response = owner.client.generic("POST", KEYS, "name=x", content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_it_refuses_an_oversized_body_before_reading_it(owner, settings):
    settings.API_MAX_JSON_BODY_BYTES = 2048
    body = json.dumps({"name": "x" * 5000})

    response = owner.client.generic("POST", KEYS, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert ApiKey.objects.count() == 1


def test_it_answers_405_for_an_unsupported_method(owner):
    response = owner.client.put(f"{KEYS}/{owner.api_key.pk}", {}, format="json")

    assert response.status_code == 405
    assert response.json() == {
        "success": False,
        "error": {"code": "METHOD_NOT_ALLOWED", "message": 'Method "PUT" not allowed.'},
    }


def test_it_answers_404_envelope_for_an_unknown_path_under_the_api(owner):
    response = owner.client.get("/api/v1/voice/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "success": False,
        "error": {
            "code": "NOT_FOUND",
            "message": 'No API endpoint at "/api/v1/voice/no-such-thing".',
        },
    }


def test_it_answers_404_envelope_for_a_non_numeric_id(owner):
    response = owner.client.delete(f"{KEYS}/abc")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_it_answers_an_unhandled_exception_with_a_logged_500_envelope(owner, monkeypatch, caplog):
    def explode(self, instance):
        raise RuntimeError("boom")

    monkeypatch.setattr(ApiKeySerializer, "to_representation", explode)

    response = owner.client.get(KEYS)

    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": {"code": "INTERNAL_ERROR", "message": "An internal error occurred."},
    }
    assert any("unhandled_api_error" in record.getMessage() for record in caplog.records)


def test_it_answers_401_without_credentials(anonymous, db):
    response = anonymous.get(KEYS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "success": False,
        "error": {
            "code": "UNAUTHENTICATED",
            "message": "Authentication credentials were not provided.",
        },
    }


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer nonsense", "Invalid API key."),
        ("Bearer avk_AAAAAAAAAA.wrong-secret", "Invalid API key."),
        ("Bearer two words", "Malformed Authorization header."),
        ("Bearer ", "Malformed Authorization header."),
    ],
)
def test_it_answers_401_for_malformed_or_unknown_keys(db, header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(KEYS)

    assert response.status_code == 401
    assert response.json()["error"] == {"code": "UNAUTHENTICATED", "message": message}


def test_it_answers_403_when_a_viewer_writes(viewer):
    response = viewer.client.post(KEYS, {"name": "nope"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert ApiKey.objects.filter(name="nope").count() == 0


def test_it_renders_the_browsable_api_with_the_envelope(owner, client):
    client.force_login(owner.membership.user)

    response = client.get(KEYS, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    content = response.content.decode()
    assert "&quot;success&quot;: true" in content
    assert "&quot;hasMore&quot;: false" in content


def test_it_renames_method_fields_without_losing_their_method():
    from rest_framework import serializers

    from anvil_voice.api.serializers import CamelCaseSerializer

    class Example(CamelCaseSerializer):
        talk_time = serializers.SerializerMethodField()
        first_name = serializers.CharField()

        def get_talk_time(self, obj: dict[str, object]) -> int:
            return 42

    assert Example({"first_name": "Ada"}).data == {"talkTime": 42, "firstName": "Ada"}


def test_it_answers_404_envelope_for_an_id_with_a_newline(owner):
    response = owner.client.delete(f"{KEYS}/1%0A2")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_it_needs_no_csrf_token_to_learn_a_path_is_unknown(owner):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner.membership.user)

    response = csrf_client.post("/api/v1/voice/no-such-thing", {})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
