"""Organization scoping for the admin: the same rule as the API, for people.

Superusers see everything. Everyone else sees rows of the organizations they belong to, picks
only those organizations in forms, and can change data only with an owner or manager role.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from anvil_voice.accounts.models import WRITE_ROLES, Membership, Organization
from anvil_voice.accounts.selectors import organizations_for_user


def scope_queryset_for_user(
    queryset: QuerySet[Any], *, request: HttpRequest, organization_path: str = "organization"
) -> QuerySet[Any]:
    if request.user.is_superuser:
        return queryset
    organizations = organizations_for_user(user=request.user)
    return queryset.filter(**{f"{organization_path}__in": organizations})


def user_can_write(request: HttpRequest, organization: Organization | None = None) -> bool:
    if request.user.is_superuser:
        return True
    memberships = Membership.objects.filter(user_id=request.user.pk or 0, role__in=WRITE_ROLES)
    if organization is not None:
        memberships = memberships.filter(organization=organization)
    return memberships.exists()


class OrganizationScopedAdmin(admin.ModelAdmin):
    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return scope_queryset_for_user(
            queryset,
            request=request,
            organization_path=self.organization_path,
        )

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is None or request.user.is_superuser:
            return field
        related = db_field.related_model
        if related is Organization:
            field.queryset = organizations_for_user(user=request.user)
        elif (
            isinstance(related, type)
            and any(f.name == "organization" for f in related._meta.get_fields())
            and field.queryset is not None
        ):
            field.queryset = scope_queryset_for_user(field.queryset, request=request)
        return field

    def _organization_of(self, obj: Model | None) -> Organization | None:
        if obj is None:
            return None
        target: Any = obj
        for part in self.organization_path.split("__"):
            target = getattr(target, part, None)
        return target if isinstance(target, Organization) else None

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return super().has_add_permission(request, *args) and user_can_write(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and user_can_write(
            request, self._organization_of(obj)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and user_can_write(
            request, self._organization_of(obj)
        )


class ReadOnlyScopedAdmin(OrganizationScopedAdmin):
    """Rows the system writes (call sessions, scheduled callbacks): listed and shown, never
    added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
