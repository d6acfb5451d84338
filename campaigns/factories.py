"""Factories for contacts, caller IDs and campaigns (tests, seeding, the benchmark).

Sub-factories keep one organization across the graph: a campaign's script, voice, list and
caller ID all belong to the campaign's organization.
"""

from __future__ import annotations

from typing import Any

import factory

from anvil_voice.accounts.factories import OrganizationFactory
from campaigns.models import (
    CallerId,
    Campaign,
    CampaignStats,
    Contact,
    ContactList,
    DoNotCallEntry,
    TimeZoneSource,
)
from scripts.factories import ScriptFactory
from voices.factories import VoiceFactory


class ContactListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactList

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"List {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    """A New York contact (212 area code) in the simulator's fictional 555-01xx range."""

    class Meta:
        model = Contact

    contact_list = factory.SubFactory(ContactListFactory)
    organization = factory.SelfAttribute("contact_list.organization")
    phone_number = factory.Sequence(lambda n: f"+1212555{100 + n % 9900:04d}")
    first_name = factory.Sequence(lambda n: f"Person{n}")
    last_name = "Example"
    time_zone = "America/New_York"
    time_zone_source = TimeZoneSource.EXPLICIT
    region = "NY"

    @classmethod
    def _create(cls, model_class: type[Contact], *args: Any, **kwargs: Any) -> Contact:
        contact = super()._create(model_class, *args, **kwargs)
        ContactList.objects.filter(pk=contact.contact_list_id).update(
            contact_count=Contact.objects.filter(contact_list_id=contact.contact_list_id).count()
        )
        return contact


class CallerIdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallerId
        django_get_or_create = ("organization", "phone_number")

    organization = factory.SubFactory(OrganizationFactory)
    phone_number = factory.Sequence(lambda n: f"+1555555{100 + n % 100:04d}")


class DoNotCallEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoNotCallEntry

    organization = factory.SubFactory(OrganizationFactory)
    phone_number = "+12125550199"


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign with a ready voice, a versioned script, a list and a caller ID."""

    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    script = factory.SubFactory(ScriptFactory, organization=factory.SelfAttribute("..organization"))
    voice = factory.SubFactory(VoiceFactory, organization=factory.SelfAttribute("..organization"))
    contact_list = factory.SubFactory(
        ContactListFactory, organization=factory.SelfAttribute("..organization")
    )
    caller_id = factory.SubFactory(
        CallerIdFactory, organization=factory.SelfAttribute("..organization")
    )

    @factory.post_generation
    def stats(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        campaign: Any = self  # factory-boy hands the created Campaign to the hook
        if create:
            CampaignStats.objects.get_or_create(campaign=campaign)
