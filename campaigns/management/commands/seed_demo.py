"""`seed_demo`: the demo organization with an admin user. Safe to run any number of times."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from anvil_voice.accounts import services
from anvil_voice.accounts.models import Organization, Role
from campaigns.services.demo import campaign_seed_demo
from scripts.demo import script_seed_demo
from voices.services import voice_seed_demo

DEMO_SLUG = "demo"
DEMO_USERNAME = "admin"
DEMO_PASSWORD_DEFAULT = "anvil-demo"


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and its admin user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_ADMIN_PASSWORD", DEMO_PASSWORD_DEFAULT),
            help="Password for the demo admin user",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        organization, created = Organization.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo Co"}
        )
        user_model = get_user_model()
        user, user_created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = True
        user.is_superuser = True
        if user_created:
            user.set_password(options["password"])
        user.save()
        services.membership_add(organization=organization, user=user, role=Role.OWNER)
        self._seed_resources(organization)
        state = "created" if created else "already present"
        self.stdout.write(f"Demo organization {organization.slug!r} {state}.")
        self.stdout.write(f"Admin login: {DEMO_USERNAME} / {options['password']}")

    def _seed_resources(self, organization: Organization) -> None:
        """Each resource app seeds its own demo rows, idempotently."""
        voice_seed_demo(organization)
        script_seed_demo(organization)
        campaign_seed_demo(organization)
