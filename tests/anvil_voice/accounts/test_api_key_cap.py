"""Active API keys per organization are capped (issue 15, item 15): more keys must not mean more
of anything, and a leaked admin session cannot mint keys without end."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from anvil_voice.accounts import services
from anvil_voice.accounts.models import ApiKey

KEYS = "/api/v1/voice/api-keys"


def test_it_refuses_a_key_over_the_organizations_cap_with_the_envelope(owner, outsider, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_ORGANIZATION = 3
    # The owner's own key is the first of Acme's three.
    created = [owner.client.post(KEYS, {"name": f"ci-{n}"}, format="json") for n in range(2)]

    refused = owner.client.post(KEYS, {"name": "one-too-many"}, format="json")
    elsewhere = outsider.client.post(KEYS, {"name": "globex-ci"}, format="json")

    assert [response.status_code for response in created] == [201, 201]
    assert refused.status_code == 409
    assert refused.json() == {
        "success": False,
        "error": {
            "code": "CONFLICT",
            "message": "The organization already has 3 active API keys (the limit is 3); "
            "revoke one before issuing another.",
            "details": {"activeKeys": 3, "limit": 3},
        },
    }
    assert elsewhere.status_code == 201
    assert ApiKey.objects.filter(organization=owner.organization).count() == 3


def test_a_revoked_key_frees_its_place(owner, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_ORGANIZATION = 2
    spare = services.api_key_issue(organization=owner.organization, name="spare").api_key
    assert owner.client.post(KEYS, {"name": "third"}, format="json").status_code == 409

    owner.client.delete(f"{KEYS}/{spare.pk}")
    issued = owner.client.post(KEYS, {"name": "third"}, format="json")

    assert issued.status_code == 201
    assert ApiKey.objects.filter(organization=owner.organization).count() == 3
    assert ApiKey.objects.filter(organization=owner.organization, revoked_at=None).count() == 2


def test_the_default_cap_is_twenty_and_the_command_obeys_it(acme):
    for n in range(20):
        services.api_key_issue(organization=acme, name=f"key-{n}")

    with pytest.raises(CommandError, match=r"already has 20 active API keys"):
        call_command("create_api_key", "--organization", "acme", "--name", "deploy")

    assert ApiKey.objects.filter(organization=acme).count() == 20
