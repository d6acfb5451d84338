"""`create_api_key --organization <slug> [--create] [--name N] [--role R] [--replace]`.

`--replace` first revokes the organization's active keys with the same name (`make run` uses it
so that only the demo key it printed last stays valid).

Prints the new key alone on the last line of stdout (scripts read it with `tail -n 1`).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anvil_voice.accounts import services
from anvil_voice.accounts.models import Organization, Role
from anvil_voice.errors import Conflict


class Command(BaseCommand):
    help = "Issue an API key for an organization and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="Organization slug")
        parser.add_argument(
            "--create", action="store_true", help="Create the organization if it does not exist"
        )
        parser.add_argument("--name", default="cli", help="A name to recognise the key by")
        parser.add_argument("--role", default=Role.MANAGER, choices=[r.value for r in Role])
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Revoke the organization's active keys with this name first",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["organization"]
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            if not options["create"]:
                raise CommandError(f"No organization with slug {slug!r} (use --create).")
            organization = services.organization_create(name=slug, slug=slug)
            self.stdout.write(f"Created organization {slug}.")
        if options["replace"]:
            previous = organization.api_keys.filter(name=options["name"], revoked_at__isnull=True)
            for api_key in previous:
                services.api_key_revoke(api_key=api_key)
            if previous_count := len(previous):
                self.stdout.write(f"Revoked {previous_count} previous {options['name']!r} key(s).")
        try:
            issued = services.api_key_issue(
                organization=organization, name=options["name"], role=options["role"]
            )
        except Conflict as exc:  # the organization's cap on active keys
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"API key {issued.api_key.prefix} for {organization.slug}; it is shown only once:"
        )
        self.stdout.write(issued.raw_key)
