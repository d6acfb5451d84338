"""DRF authentication: `Authorization: Bearer <key>` for API users, Django sessions for people.

Both put a `Principal` in `request.auth`, so permissions and scoping never care which was used.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from anvil_voice.accounts import selectors, services
from anvil_voice.accounts.principal import Principal

ORGANIZATION_HEADER = "HTTP_X_ANVIL_ORGANIZATION"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key or " " in raw_key:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        api_key = selectors.api_key_find_active(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        services.api_key_touch(api_key=api_key)
        principal = Principal(organization=api_key.organization, role=api_key.role, api_key=api_key)
        return AnonymousUser(), principal

    def authenticate_header(self, request: Request) -> str:
        # Answering with a challenge makes DRF use 401 (not 403) for missing credentials.
        return f'{self.keyword} realm="api"'


class OrganizationSessionAuthentication(authentication.SessionAuthentication):
    """A signed-in member acts for their organization (header X-Anvil-Organization picks one)."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        membership = selectors.membership_for(
            user=user, organization_slug=request.META.get(ORGANIZATION_HEADER)
        )
        if membership is None:
            raise exceptions.PermissionDenied("You are not a member of any organization.")
        principal = Principal(organization=membership.organization, role=membership.role, user=user)
        return user, principal


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "API key: Bearer avk_…"}


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = OrganizationSessionAuthentication
    name = "SessionAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
