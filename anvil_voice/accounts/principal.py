"""Who is calling and for which organization: the one object every scoped read starts from."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from anvil_voice.accounts.models import WRITE_ROLES, ApiKey, Organization


@dataclass(frozen=True)
class Principal:
    organization: Organization
    role: str
    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES

    @property
    def rate_limit_key(self) -> str:
        if self.api_key is not None:
            return f"key:{self.api_key.pk}"
        assert self.user is not None
        return f"user:{self.user.pk}"
