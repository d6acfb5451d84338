"""One convention for every DELETE: 204 No Content, no body (not even the envelope).

Errors keep the envelope (a 404, a 409 while a campaign uses the object). The schema says the
same: each DELETE documents 204 as its only success, without content.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from anvil_voice.accounts import services as account_services
from anvil_voice.accounts.models import ApiKey, Role
from anvil_voice.webhooks import services as webhook_services
from anvil_voice.webhooks.models import WebhookEndpoint
from campaigns.factories import (
    CallerIdFactory,
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    DoNotCallEntryFactory,
)
from campaigns.models import CallerId, Campaign, ContactList, DoNotCallEntry
from scripts.factories import ScriptFactory
from scripts.models import Script
from sessions.factories import CallSessionFactory
from sessions.models import CallbackStatus, ScheduledCallback
from voices.factories import VoiceFactory
from voices.models import Voice

API = "/api/v1/voice"


def _callback_session(organization: Any) -> int:
    campaign = CampaignFactory(organization=organization)
    contact = ContactFactory(contact_list=campaign.contact_list)
    session = CallSessionFactory(organization=organization, campaign=campaign, contact=contact)
    moment = timezone.now() + timedelta(days=1)
    ScheduledCallback.objects.create(
        organization=organization,
        source_session=session,
        campaign=campaign,
        contact=contact,
        at=moment,
        requested_at=moment,
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return int(session.pk)


def _webhook(organization: Any) -> int:
    endpoint = webhook_services.webhook_endpoint_create(
        organization=organization, url="https://hooks.example.com/a", events=["session.completed"]
    )
    return int(endpoint.pk)


def _spare_key(organization: Any) -> int:
    issued = account_services.api_key_issue(
        organization=organization, name="spare", role=Role.OWNER
    )
    return int(issued.api_key.pk)


# path, a factory returning the id to delete, and what is true once it is deleted.
DELETES: dict[str, tuple[str, Callable[[Any], int], Callable[[int], bool]]] = {
    "voices": (
        "/voices/{id}",
        lambda org: VoiceFactory(organization=org).pk,
        lambda pk: not Voice.objects.filter(pk=pk).exists(),
    ),
    "scripts": (
        "/scripts/{id}",
        lambda org: ScriptFactory(organization=org).pk,
        lambda pk: not Script.objects.filter(pk=pk).exists(),
    ),
    "contact-lists": (
        "/contact-lists/{id}",
        lambda org: ContactListFactory(organization=org).pk,
        lambda pk: not ContactList.objects.filter(pk=pk).exists(),
    ),
    "phone-numbers": (
        "/phone-numbers/{id}",
        lambda org: CallerIdFactory(organization=org).pk,
        lambda pk: not CallerId.objects.filter(pk=pk).exists(),
    ),
    "do-not-call": (
        "/do-not-call/{id}?reason=Added%20by%20mistake",
        lambda org: DoNotCallEntryFactory(organization=org).pk,
        lambda pk: not DoNotCallEntry.objects.filter(pk=pk).exists(),
    ),
    "webhooks": (
        "/webhooks/{id}",
        _webhook,
        lambda pk: not WebhookEndpoint.objects.filter(pk=pk).exists(),
    ),
    "api-keys": (
        "/api-keys/{id}",
        _spare_key,
        lambda pk: ApiKey.objects.get(pk=pk).revoked_at is not None,
    ),
    "campaigns-budget": (
        "/campaigns/{id}/budget",
        lambda org: CampaignFactory(organization=org, budget_amount=Decimal("50.00")).pk,
        lambda pk: Campaign.objects.get(pk=pk).budget_amount is None,
    ),
    "sessions-callback": (
        "/sessions/{id}/callback",
        _callback_session,
        lambda pk: (
            ScheduledCallback.objects.get(source_session_id=pk).status == CallbackStatus.CANCELLED
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(DELETES))
def test_every_delete_answers_204_without_a_body(owner, name):
    path, make, gone = DELETES[name]
    pk = make(owner.organization)
    url = API + path.format(id=pk)

    response = owner.client.delete(url)
    again = owner.client.delete(url)

    assert (response.status_code, response.content) == (204, b"")
    assert "Content-Type" not in response.headers
    assert gone(pk)
    # Revoking a key twice keeps the first revocation, removing a budget twice leaves none:
    # both still 204.
    if name not in {"api-keys", "campaigns-budget"}:
        assert again.status_code == 404
        assert again.json()["error"]["code"] == "NOT_FOUND"


def test_the_schema_documents_204_without_content_for_every_delete():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    deletes = {
        path: item["delete"]["responses"]
        for path, item in schema["paths"].items()
        if "delete" in item
    }

    assert len(deletes) == len(DELETES)
    for path, responses in deletes.items():
        successes = {code: body for code, body in responses.items() if str(code).startswith("2")}
        assert list(successes) == ["204"], path
        assert "content" not in successes["204"], path
