"""Factories for scripts (tests and seeding)."""

from __future__ import annotations

from typing import Any

import factory

from anvil_voice.accounts.factories import OrganizationFactory
from scripts import services
from scripts.models import Script


class ScriptFactory(factory.django.DjangoModelFactory):
    """Goes through the service, so every script has its first version like real ones."""

    class Meta:
        model = Script

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Script {n}")
    opening_line = (
        "Hi {{first_name|there}}, this is Alex, an AI assistant calling from {{business_name}}."
    )
    closing_line = "Great, I'll send the details by email. Goodbye!"
    system_prompt = "You sell solar panels politely."

    @classmethod
    def _create(cls, model_class: type[Script], *args: Any, **kwargs: Any) -> Script:
        objections = kwargs.pop("objection_responses", [])
        organization = kwargs.pop("organization")
        return services.script_create(
            organization=organization, fields=kwargs, objection_responses=objections
        )
