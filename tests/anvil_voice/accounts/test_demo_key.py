"""`make run` prints a fresh demo key each time and revokes the ones it printed before."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from rest_framework.test import APIClient

from anvil_voice.accounts import services
from anvil_voice.accounts.models import ApiKey, Organization
from anvil_voice.run_embedded import DEMO_KEY_ARGS, DEMO_KEY_NAME


def issue_demo_key() -> str:
    out = StringIO()
    call_command(*DEMO_KEY_ARGS, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def status_with(raw_key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get("/api/v1/voice/api-keys").status_code


def test_each_make_run_key_revokes_the_previous_ones(db):
    call_command("seed_demo", stdout=StringIO())
    demo = Organization.objects.get(slug="demo")
    other = services.api_key_issue(organization=demo, name="ci").raw_key

    first = issue_demo_key()
    second = issue_demo_key()
    third = issue_demo_key()

    assert status_with(first) == 401
    assert status_with(second) == 401
    assert status_with(third) == 200
    assert status_with(other) == 200
    keys = ApiKey.objects.filter(organization=demo, name=DEMO_KEY_NAME)
    assert keys.count() == 3
    assert keys.filter(revoked_at__isnull=True).count() == 1


def test_create_api_key_keeps_other_keys_without_replace(db):
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()

    call_command("create_api_key", "--organization", "demo", "--name", "cli", stdout=out)
    call_command("create_api_key", "--organization", "demo", "--name", "cli", stdout=out)

    assert ApiKey.objects.filter(name="cli", revoked_at__isnull=True).count() == 2
