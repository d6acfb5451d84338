"""OpenAPI schema generation and the health endpoint."""

from __future__ import annotations

from django.core.management import call_command


def test_it_generates_the_schema_without_warnings(db, tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--fail-on-warn", "--file", str(target))

    text = target.read_text()
    assert "ErrorEnvelope" in text
    assert "hasMore" in text


def test_it_serves_the_schema_and_swagger_ui(owner):
    schema = owner.client.get("/api/v1/voice/schema/", HTTP_ACCEPT="application/json")
    docs = owner.client.get("/api/v1/voice/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/voice/api-keys" in paths
    listed = paths["/api/v1/voice/api-keys"]["get"]["responses"]["200"]
    ref = listed["content"]["application/json"]["schema"]["$ref"]
    envelope = schema.json()["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert envelope["required"] == ["success", "data", "meta"]
    assert envelope["properties"]["meta"] == {"$ref": "#/components/schemas/PageMeta"}
    assert docs.status_code == 200


def test_it_reports_every_component_healthy(anonymous, db):
    response = anonymous.get("/api/v1/voice/health")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    assert set(body["data"]["components"]) == {"database", "cache", "channelLayer", "broker"}
    assert all(component["ok"] for component in body["data"]["components"].values())


def test_it_answers_503_when_a_component_is_down(anonymous, db, monkeypatch):
    from anvil_voice.api import health

    def broken() -> None:
        raise ConnectionError("down")

    monkeypatch.setitem(health.CHECKS, "cache", broken)

    response = anonymous.get("/api/v1/voice/health")

    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["details"]["components"]["cache"]["ok"] is False


def test_liveness_answers_without_touching_any_component(
    anonymous, db, monkeypatch, django_assert_num_queries
):
    # Liveness must not follow a dependency down: with every check broken (and no database
    # query allowed), the process still says it lives, while readiness (`health`) says 503.
    from anvil_voice.api import health

    def broken() -> None:
        raise ConnectionError("down")

    for name in list(health.CHECKS):
        monkeypatch.setitem(health.CHECKS, name, broken)

    with django_assert_num_queries(0):
        live = anonymous.get("/api/v1/voice/live")
    ready = anonymous.get("/api/v1/voice/health")

    assert live.status_code == 200
    assert live.json()["data"] == {"status": "ok"}
    assert ready.status_code == 503
