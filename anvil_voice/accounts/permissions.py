from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from anvil_voice.accounts.principal import Principal


class IsOrganizationMember(permissions.BasePermission):
    """Any member reads; only owners and managers (and their keys) write."""

    message = "Your role in this organization cannot change data."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.auth
        if not isinstance(principal, Principal):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return principal.can_write
