"""Cursor pagination: meta, limits, bad cursors, and stability under concurrent inserts."""

from __future__ import annotations

import base64

from anvil_voice.accounts import services
from anvil_voice.accounts.models import ApiKey

KEYS = "/api/v1/voice/api-keys"


def issue(owner, count: int, label: str) -> list[int]:
    return [
        services.api_key_issue(organization=owner.organization, name=f"{label}{i}").api_key.pk
        for i in range(count)
    ]


def test_it_walks_every_page_once_while_rows_are_inserted_between_pages(owner):
    existing = [owner.api_key.pk, *issue(owner, 6, "before")]

    first = owner.client.get(KEYS, {"limit": 3}).json()
    inserted = issue(owner, 4, "during")  # newer rows land before the cursor, not after it
    second = owner.client.get(KEYS, {"limit": 3, "cursor": first["meta"]["cursor"]}).json()
    third = owner.client.get(KEYS, {"limit": 3, "cursor": second["meta"]["cursor"]}).json()

    seen = [row["id"] for page in (first, second, third) for row in page["data"]]
    assert seen == sorted(existing, reverse=True)
    assert first["meta"] == {"total": 7, "cursor": first["meta"]["cursor"], "hasMore": True}
    assert second["meta"]["hasMore"] is True
    assert third["meta"] == {"total": 11, "cursor": None, "hasMore": False}
    assert not set(inserted) & set(seen)


def test_it_uses_a_default_page_of_fifty(owner, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_ORGANIZATION = 60  # keys are just the rows paginated here
    issue(owner, 55, "k")

    body = owner.client.get(KEYS).json()

    assert len(body["data"]) == 50
    assert body["meta"]["total"] == 56
    assert body["meta"]["hasMore"] is True


def test_it_allows_limit_up_to_two_hundred(owner):
    response = owner.client.get(KEYS, {"limit": 200})

    assert response.status_code == 200


def test_it_refuses_out_of_range_limits(owner):
    for limit in ("0", "201", "100000", "-1", "ten"):
        response = owner.client.get(KEYS, {"limit": limit})

        assert response.status_code == 400, limit
        assert response.json()["error"]["details"] == {
            "limit": ["Must be a whole number from 1 to 200."]
        }


def test_it_refuses_bad_cursors(owner):
    nested = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")  # was a 500
    for cursor in (
        "garbage",
        "W10",
        "eyJhIjoxfQ",
        "WyJ4Il0",
        "W3siZHQiOiJub3QgYSBkYXRlIn1d",
        nested,
    ):
        response = owner.client.get(KEYS, {"cursor": cursor})

        assert response.status_code == 400, cursor
        assert response.json()["error"] == {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": {"cursor": ["This cursor is not valid."]},
        }
    assert ApiKey.objects.count() == 1
