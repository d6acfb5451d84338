"""Cached API keys (accounts.selectors.api_key_find_active) are dropped when the key or its
organization changes by any path: the admin, a service, a shell. Revoking goes through
`services.api_key_revoke`, a queryset update that sends no signal, so it drops them itself."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from anvil_voice.accounts.models import ApiKey, Organization
from anvil_voice.accounts.services import api_key_forget


@receiver([post_save, post_delete], sender=ApiKey)
def _api_key_changed(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    api_key_forget(prefixes=[instance.prefix])


@receiver([post_save, post_delete], sender=Organization)
def _organization_changed(
    sender: type[Organization], instance: Organization, **kwargs: Any
) -> None:
    api_key_forget(
        prefixes=ApiKey.objects.filter(organization_id=instance.pk).values_list("prefix", flat=True)
    )
