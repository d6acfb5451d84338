"""Writes for organizations, memberships and API keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from anvil_voice.accounts.models import ApiKey, Membership, Organization, Role, hash_api_key
from anvil_voice.accounts.selectors import api_key_cache_key
from anvil_voice.errors import Conflict

# last_used_at is informational; writing it on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str


def organization_create(*, name: str, slug: str) -> Organization:
    return Organization.objects.create(name=name, slug=slug)


def membership_add(
    *, organization: Organization, user: User, role: str = Role.MANAGER
) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def api_key_issue(
    *,
    organization: Organization,
    name: str,
    role: str = Role.MANAGER,
    created_by: User | None = None,
) -> IssuedApiKey:
    """Issue a key, within the organization's cap on active keys (issue 15, item 15)."""
    # The organization's row is the lock: two requests at 19 active keys cannot both issue.
    Organization.objects.select_for_update().get(pk=organization.pk)
    limit = settings.API_KEYS_MAX_ACTIVE_PER_ORGANIZATION
    active = ApiKey.objects.filter(organization=organization, revoked_at__isnull=True).count()
    if active >= limit:
        raise Conflict(
            f"The organization already has {active} active API keys (the limit is {limit}); "
            "revoke one before issuing another.",
            details={"activeKeys": active, "limit": limit},
        )
    prefix, raw_key = ApiKey.generate_raw_key()
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        key_hash=hash_api_key(raw_key),
        role=role,
        created_by=created_by,
    )
    return IssuedApiKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    # Conditional update: revoking twice keeps the first revocation time.
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    api_key_forget(prefixes=[api_key.prefix])
    return api_key


def api_key_forget(*, prefixes: Iterable[str]) -> None:
    """Drop cached keys (accounts.selectors.api_key_find_active) now and again when the
    transaction commits: a request that read the row before the commit may have cached it."""
    keys = [api_key_cache_key(prefix) for prefix in prefixes]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def api_key_touch(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    # The cached copy carries the new time, or every request after the first minute would
    # write it again. `add`-like: only while the entry is still there (a revoke may have
    # dropped it in between, and must win).
    cache_key = api_key_cache_key(api_key.prefix)
    if cache.get(cache_key) is not None:
        cache.set(cache_key, api_key, settings.API_KEY_CACHE_SECONDS)
