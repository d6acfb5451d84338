"""`create_api_key --organization <slug> [--create] [--name N] [--role R]`.

Prints the new key alone on the last line of stdout (scripts read it with `tail -n 1`).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anvil_voice.accounts import services
from anvil_voice.accounts.models import Organization, Role


class Command(BaseCommand):
    help = "Issue an API key for an organization and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="Organization slug")
        parser.add_argument(
            "--create", action="store_true", help="Create the organization if it does not exist"
        )
        parser.add_argument("--name", default="cli", help="A name to recognise the key by")
        parser.add_argument("--role", default=Role.MANAGER, choices=[r.value for r in Role])

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["organization"]
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            if not options["create"]:
                raise CommandError(f"No organization with slug {slug!r} (use --create).")
            organization = services.organization_create(name=slug, slug=slug)
            self.stdout.write(f"Created organization {slug}.")
        issued = services.api_key_issue(
            organization=organization, name=options["name"], role=options["role"]
        )
        self.stdout.write(
            f"API key {issued.api_key.prefix} for {organization.slug}; it is shown only once:"
        )
        self.stdout.write(issued.raw_key)
