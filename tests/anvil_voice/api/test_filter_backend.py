"""`FilterBackend` skips django-filter when no filter parameter is given, and only then."""

from __future__ import annotations

import pytest

from voices.factories import VoiceFactory
from voices.filters import VoiceFilter
from voices.models import VoiceStatus


@pytest.fixture
def built(monkeypatch) -> list[dict]:  # type: ignore[type-arg]
    forms: list[dict] = []  # type: ignore[type-arg]
    original = VoiceFilter.__init__

    def counting(self, data=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        forms.append(dict(data or {}))
        original(self, data, *args, **kwargs)

    monkeypatch.setattr(VoiceFilter, "__init__", counting)
    return forms


def test_a_listing_without_filters_builds_no_filterset(owner, built):
    VoiceFactory.create_batch(2, organization=owner.organization)

    response = owner.client.get("/api/v1/voice/voices?limit=1")

    assert response.status_code == 200
    assert response.json()["meta"]["total"] == 2
    assert built == []


def test_a_filter_parameter_still_filters_and_validates(owner, built):
    VoiceFactory.create(organization=owner.organization, status=VoiceStatus.READY)
    VoiceFactory.create(organization=owner.organization, status=VoiceStatus.FAILED)

    ready = owner.client.get("/api/v1/voice/voices?status=ready")
    bad = owner.client.get("/api/v1/voice/voices?status=sideways")

    assert [row["status"] for row in ready.json()["data"]] == ["ready"]
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"
    assert len(built) == 2
