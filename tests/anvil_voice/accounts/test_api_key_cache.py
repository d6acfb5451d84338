"""Cached API keys (issue 18): a request after the first reads no key row, and anything that
changes the key or its organization is seen by the next request."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from anvil_voice.accounts import services
from anvil_voice.accounts.models import ApiKey


def _key_queries(client) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/voice/voices").status_code == 200
    return sum(
        '"accounts_apikey"' in query["sql"] and "SELECT" in query["sql"] for query in queries
    )


def test_a_second_request_reads_no_key_row(owner):
    assert _key_queries(owner.client) == 1
    assert _key_queries(owner.client) == 0


def test_revoking_a_cached_key_refuses_the_next_request(owner):
    assert owner.client.get("/api/v1/voice/voices").status_code == 200

    services.api_key_revoke(api_key=ApiKey.objects.get(pk=owner.api_key.pk))

    response = owner.client.get("/api/v1/voice/voices")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has been revoked."


def test_deleting_a_cached_key_refuses_the_next_request(owner):
    assert owner.client.get("/api/v1/voice/voices").status_code == 200

    ApiKey.objects.get(pk=owner.api_key.pk).delete()

    assert owner.client.get("/api/v1/voice/voices").status_code == 401


def test_an_organization_change_is_seen_by_the_next_request(owner):
    assert owner.client.get("/api/v1/voice/voices").status_code == 200
    organization = owner.organization
    organization.redact_pii = not organization.redact_pii
    organization.save()

    assert _key_queries(owner.client) == 1  # read again, with the organization as it is now


def test_last_use_is_written_once_a_minute_not_on_every_request(owner):
    assert owner.client.get("/api/v1/voice/voices").status_code == 200
    first = ApiKey.objects.get(pk=owner.api_key.pk).last_used_at
    assert first is not None

    assert owner.client.get("/api/v1/voice/voices").status_code == 200
    assert ApiKey.objects.get(pk=owner.api_key.pk).last_used_at == first

    # A minute later (the cached copy says when it was last written), it is written again.
    ApiKey.objects.filter(pk=owner.api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    cached = services.cache.get(services.api_key_cache_key(owner.api_key.prefix))
    cached.last_used_at = first - timedelta(minutes=2)
    services.cache.set(services.api_key_cache_key(owner.api_key.prefix), cached)
    assert owner.client.get("/api/v1/voice/voices").status_code == 200
    assert ApiKey.objects.get(pk=owner.api_key.pk).last_used_at > first - timedelta(minutes=1)
    assert ApiKey.objects.get(pk=owner.api_key.pk).last_used_at <= timezone.now()
