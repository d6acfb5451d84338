"""Reads for tenancy: which organization a request acts for, and what a user may see."""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest

from anvil_voice.accounts.models import ApiKey, Membership, Organization, hash_api_key


def api_key_cache_key(prefix: str) -> str:
    return f"api-key:{prefix}"


def api_key_find_active(*, raw_key: str) -> ApiKey | None:
    """The key for a raw bearer token, or None. Revoked keys are returned (callers say why).

    Every API request asks, so the key with its organization is kept in the cache (Redis in
    production: one process revoking reaches all) for API_KEY_CACHE_SECONDS; whatever changes
    a key or its organization deletes the entry (services, and the signals in
    accounts/signals.py). A token whose prefix has no key is not cached: it costs a query,
    as before."""
    prefix = ApiKey.prefix_of(raw_key)
    if prefix is None:
        return None
    cache_key = api_key_cache_key(prefix)
    api_key = cache.get(cache_key)
    if api_key is None:
        api_key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
        if api_key is None:
            return None
        cache.set(cache_key, api_key, settings.API_KEY_CACHE_SECONDS)
    if not hmac.compare_digest(api_key.key_hash, hash_api_key(raw_key)):
        return None
    return api_key


def membership_for(
    *, user: User | AnonymousUser, organization_slug: str | None = None
) -> Membership | None:
    """The membership a signed-in user acts through: the named organization, else the oldest."""
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("organization").filter(user=user)
    if organization_slug:
        memberships = memberships.filter(organization__slug=organization_slug)
    return memberships.order_by("created_at", "id").first()


def organizations_for_user(*, user: User | AnonymousUser) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    if getattr(user, "is_superuser", False):
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user)


def scope_queryset_for_user(
    queryset: QuerySet[Any], *, request: HttpRequest, organization_path: str = "organization"
) -> QuerySet[Any]:
    """Rows of the signed-in user's organizations (a superuser's: all). Here rather than in
    `admin_scoping`, which imports the admin theme: template tags use it too, and they load
    while the theme's admin module is still being imported."""
    if request.user.is_superuser:
        return queryset
    organizations = organizations_for_user(user=request.user)
    return queryset.filter(**{f"{organization_path}__in": organizations})
