"""Fixtures for the campaigns tests: a ready campaign graph for the `owner` persona."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from anvil_voice.accounts.models import Organization
from campaigns.factories import CampaignFactory, ContactFactory, ContactListFactory
from campaigns.models import Campaign

# A Tuesday, 15:00 UTC = 10:00 in New York (EST): inside every window.
TUESDAY_MORNING_NY = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _campaign_settings(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CAMPAIGNS_CALLER_ID_CHECK = "simulator"
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 50
    settings.CAMPAIGNS_DEFAULT_REGION = "US"
    settings.CAMPAIGNS_DEFAULT_TIME_ZONE = "America/New_York"
    # The personas' passwords are hashed on creation; the production hasher costs ~1 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_campaign(db: None) -> Callable[..., Campaign]:
    """A draft campaign whose list holds `contacts` New York contacts."""

    def make(organization: Organization, contacts: int = 3, **fields: object) -> Campaign:
        contact_list = ContactListFactory(organization=organization)
        for _ in range(contacts):
            ContactFactory(contact_list=contact_list)
        fields.setdefault("max_concurrent_calls", 10)
        fields.setdefault("calls_per_second", 10)
        return CampaignFactory(organization=organization, contact_list=contact_list, **fields)

    return make
