"""Organization scoping for the admin: the same rules as the API, for people, per organization.

Superusers see everything. Everyone else sees rows of the organizations they belong to, and
what they may do with a row depends on their role *in that row's organization* (owner, manager:
write; viewer: read), as `IsOrganizationMember` decides for the API. `OrganizationScopedAdmin`
applies this by construction, so an admin class cannot forget it:

- object permissions (`has_change_permission(request, obj)`, delete likewise) ask the role in
  the object's organization; without an object they ask "may write somewhere" (which decides
  whether buttons and actions are shown at all);
- every list action is wrapped: before it runs, each selected row must pass the action's own
  permissions for that row, else nothing is done and a message names the organizations;
- foreign-key choices (the organization, and rows of other scoped models) offer only
  organizations where the user may write, so a forged POST fails the field's validation;
- every admin form re-checks, after cleaning, that the row it would save belongs to an
  organization where the user may write (a second lock, for paths a choice list cannot cover).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.options import Action, ActionLocation
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponseBase
from unfold.admin import ModelAdmin

from anvil_voice.accounts.models import WRITE_ROLES, Membership, Organization, Role
from anvil_voice.accounts.selectors import scope_queryset_for_user

# Higher grants more. A role may be handed out only by someone holding at least that role.
ROLE_RANK = {Role.VIEWER: 0, Role.MANAGER: 1, Role.OWNER: 2}

_ROLES_ATTRIBUTE = "_anvil_organization_roles"


def organization_roles(request: HttpRequest) -> dict[int, str]:
    """The signed-in user's role in each of her organizations, read once per request."""
    roles: dict[int, str] | None = getattr(request, _ROLES_ATTRIBUTE, None)
    if roles is None:
        roles = dict(
            Membership.objects.filter(user_id=request.user.pk or 0).values_list(
                "organization_id", "role"
            )
        )
        setattr(request, _ROLES_ATTRIBUTE, roles)
    return roles


def role_in(request: HttpRequest, organization_id: int | None) -> str | None:
    """The user's role in one organization (superusers act as owners everywhere), or None."""
    if request.user.is_superuser:
        return Role.OWNER
    if organization_id is None:
        return None
    return organization_roles(request).get(organization_id)


def user_can_write(request: HttpRequest, organization: Organization | None = None) -> bool:
    """May write in `organization`, or (without one) in at least one organization."""
    if request.user.is_superuser:
        return True
    if organization is None:
        return any(role in WRITE_ROLES for role in organization_roles(request).values())
    return role_in(request, organization.pk) in WRITE_ROLES


def writable_organization_ids(request: HttpRequest) -> list[int]:
    return [pk for pk, role in organization_roles(request).items() if role in WRITE_ROLES]


def organization_id_of(obj: Any, path: str) -> int | None:
    """Follow `path` ("organization", "contact_list__organization") to an organization id."""
    target = obj
    *hops, last = path.split("__")
    try:
        for hop in hops:
            target = getattr(target, hop, None)
            if target is None:
                return None
        if last == "id" and isinstance(target, Organization):
            return target.pk
        # The `_id` column avoids a query per row when the last hop is the organization itself.
        value = getattr(target, f"{last}_id", None)
        if value is None:
            organization = getattr(target, last, None)
            value = organization.pk if isinstance(organization, Organization) else None
    except ObjectDoesNotExist:
        return None
    return value if isinstance(value, int) else None


class OrganizationScopedAdmin(ModelAdmin):
    organization_path = "organization"
    # Shown when an action is refused; `{organizations}` lists where the role falls short.
    refused_action_message = (
        "Nothing was done: your role does not allow this on the selected rows of {organizations}."
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return scope_queryset_for_user(
            queryset,
            request=request,
            organization_path=self.organization_path,
        )

    # --- Permissions, per object's organization ----------------------------------------------

    def organization_id_of(self, obj: Model) -> int | None:
        return organization_id_of(obj, self.organization_path)

    def can_write(self, request: HttpRequest, obj: Model | None) -> bool:
        if obj is None:
            return user_can_write(request)
        return role_in(request, self.organization_id_of(obj)) in WRITE_ROLES

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return super().has_add_permission(request, *args) and user_can_write(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self.can_write(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self.can_write(request, obj)

    # --- List actions: checked row by row before they run ------------------------------------

    def get_actions(
        self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST
    ) -> dict[str, Action | None]:
        # Every action, the site's own (delete_selected) included, runs through the check.
        actions = super().get_actions(request, action_location=action_location)
        return {
            name: action and dataclasses.replace(action, func=self._role_checked(action.func))
            for name, action in actions.items()
        }

    def _role_checked(self, function: Callable[..., Any]) -> Callable[..., Any]:
        # An action declares what it needs (`permissions=["change"]`); one that declares nothing
        # changes data all the same, so it needs "change". The check runs for every selected
        # row, with the row, through the admin's own has_<permission>_permission: whatever a
        # subclass adds there (owner-only rows, say) applies to actions without extra code.
        needed: tuple[str, ...] = getattr(function, "allowed_permissions", ()) or ("change",)

        @functools.wraps(function)
        def checked(
            model_admin: Any, request: HttpRequest, queryset: QuerySet[Any]
        ) -> HttpResponseBase | None:
            refused = self.action_refusal(request, queryset, needed)
            if refused:
                self.message_user(request, refused, messages.ERROR)
                return None
            return function(model_admin, request, queryset)

        return checked

    def action_refusal(
        self, request: HttpRequest, queryset: QuerySet[Any], permissions: Iterable[str]
    ) -> str | None:
        """Why the action may not run on these rows, or None. All or nothing: see decisions."""
        refused: set[int | None] = set()
        for obj in queryset:
            for permission in permissions:
                check = getattr(self, f"has_{permission}_permission")
                allowed = check(request) if permission == "add" else check(request, obj)
                if not allowed:
                    refused.add(self.organization_id_of(obj))
        if not refused:
            return None
        names = Organization.objects.filter(
            pk__in=[pk for pk in refused if pk is not None]
        ).values_list("name", flat=True)
        return self.refused_action_message.format(
            organizations=", ".join(sorted(names)) or "an unknown organization"
        )

    # --- Forms: only organizations where the user writes -------------------------------------

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is None or request.user.is_superuser:
            return field
        related = db_field.related_model
        writable = writable_organization_ids(request)
        if related is Organization:
            field.queryset = Organization.objects.filter(pk__in=writable)
        elif (
            isinstance(related, type)
            and any(f.name == "organization" for f in related._meta.get_fields())
            and field.queryset is not None
        ):
            # A row may point only at rows it could itself be written next to.
            field.queryset = field.queryset.filter(organization_id__in=writable)
        return field

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form_class: type[forms.ModelForm] = super().get_form(request, obj, change, **kwargs)
        model_admin = self

        class RoleCheckedForm(form_class):  # type: ignore[valid-type,misc]
            def _post_clean(self) -> None:
                # After the instance has the submitted values: whatever the fields were, the
                # row must land in an organization where the user writes.
                super()._post_clean()
                model_admin.check_form_roles(request, self)

        RoleCheckedForm.__name__ = form_class.__name__
        return RoleCheckedForm

    def check_form_roles(self, request: HttpRequest, form: forms.ModelForm) -> None:
        """Add errors to `form` when the user's roles do not allow saving it. Extend per model."""
        organization_id = self.organization_id_of(form.instance)
        if organization_id is None and "organization" in form.errors:
            return  # the field already says what is wrong
        if role_in(request, organization_id) not in WRITE_ROLES:
            form.add_error(None, "Your role in this organization cannot change data.")


class ReadOnlyScopedAdmin(OrganizationScopedAdmin):
    """Rows the system writes (call sessions, scheduled callbacks): listed and shown, never
    added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
