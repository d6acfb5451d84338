"""API keys: only a hash is stored, the key is shown once, revocation is immediate."""

from __future__ import annotations

import hashlib

from django.core.management import call_command
from rest_framework.test import APIClient

from anvil_voice.accounts import services
from anvil_voice.accounts.models import ApiKey, Organization


def test_it_stores_only_a_hash_and_a_visible_prefix(acme):
    issued = services.api_key_issue(organization=acme, name="ci")

    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert row.key_hash == hashlib.sha256(issued.raw_key.encode()).hexdigest()
    assert issued.raw_key.startswith(row.prefix + ".")
    stored = " ".join(str(value) for value in ApiKey.objects.values().get(pk=row.pk).values())
    assert issued.raw_key not in stored
    assert issued.raw_key.split(".", 1)[1] not in stored


def test_it_refuses_a_revoked_key(owner):
    services.api_key_revoke(api_key=owner.api_key)

    response = owner.client.get("/api/v1/voice/api-keys")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "UNAUTHENTICATED",
        "message": "This API key has been revoked.",
    }


def test_it_keeps_the_first_revocation_time(owner):
    first = services.api_key_revoke(api_key=owner.api_key).revoked_at
    second = services.api_key_revoke(api_key=owner.api_key).revoked_at

    assert first == second


def test_it_records_last_use(owner):
    owner.client.get("/api/v1/voice/api-keys")

    owner.api_key.refresh_from_db()
    assert owner.api_key.last_used_at is not None


def test_create_api_key_prints_the_key_alone_on_the_last_line(db, capsys):
    call_command("create_api_key", "--organization", "newco", "--create", "--name", "deploy")

    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = client.get("/api/v1/voice/api-keys")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["data"]] == ["deploy"]
    assert Organization.objects.get(slug="newco")


def test_create_api_key_refuses_an_unknown_organization_without_create(db):
    import pytest
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No organization"):
        call_command("create_api_key", "--organization", "ghost")
    assert not Organization.objects.filter(slug="ghost").exists()


def test_seed_demo_is_idempotent(db, django_user_model):
    call_command("seed_demo")
    call_command("seed_demo")

    organization = Organization.objects.get(slug="demo")
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("anvil-demo")
    assert organization.memberships.get(user=admin).role == "owner"
    assert Organization.objects.filter(slug="demo").count() == 1
    assert organization.scripts.count() == 1
    assert organization.scripts.get().version == 1
    assert organization.caller_ids.count() == 1
    assert organization.contact_lists.get().contacts.count() == 10
