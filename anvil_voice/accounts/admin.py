from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from anvil_voice.accounts import services
from anvil_voice.accounts.admin_scoping import (
    ROLE_RANK,
    OrganizationScopedAdmin,
    organization_roles,
    role_in,
    writable_organization_ids,
)
from anvil_voice.accounts.models import ApiKey, Membership, Organization, Role

# Django's own user and group pages, on the theme's base class and forms (as Unfold documents)
# so the operator's pages look like the rest; what they do is Django's.
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class UserAdmin(DjangoUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    pass


LAST_OWNER_MESSAGE = "An organization keeps at least one owner."


def _outranks(role: str, holder_role: str | None) -> bool:
    """True when `role` is above what `holder_role` may hand out (a role grants at most itself)."""
    if holder_role is None:
        return True
    return ROLE_RANK[Role(role)] > ROLE_RANK[Role(holder_role)]


def _stored_role(obj: Membership | ApiKey) -> str | None:
    """The role as saved. A submitted form has already set the new one on the instance, and
    permissions must be decided on what the row is, not on what the request wants it to be."""
    if obj.pk is None:
        return None
    return type(obj).objects.filter(pk=obj.pk).values_list("role", flat=True).first()


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    """An organization's own settings (the AI-disclosure rule, PII redaction) and its deletion,
    which takes every row it owns with it: owners only. New organizations come from an operator."""

    organization_path = "id"
    list_display = [
        "name",
        "slug",
        "ai_disclosure_required",
        "redact_pii",
        "max_calls_per_second",
        "created_at",
    ]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    # The tenant's share of the carrier account (issue 15, item 3) is the operator's to set:
    # an owner who could raise her own cap could take the other tenants' calls.
    OPERATOR_FIELDS = ["max_calls_per_second"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += self.OPERATOR_FIELDS
        return readonly

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # Nobody would belong to it, so nobody but a superuser could ever see it again.
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._owned(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._owned(request, obj)

    @staticmethod
    def _owned(request: HttpRequest, obj: Model | None) -> bool:
        if obj is None:
            return any(role == Role.OWNER for role in organization_roles(request).values()) or (
                bool(request.user.is_superuser)
            )
        return role_in(request, obj.pk) == Role.OWNER


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    """Who belongs where. Owner is granted and removed only by owners, and never disappears.

    A member is added by picking someone who already belongs to an organization the editor
    manages (a superuser creates new accounts and their first membership):
    the list never shows other tenants' people, and never answers "does this e-mail exist?".
    """

    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    # The member's own phone ("transfer to me" rings it) is theirs to set, on the live monitor:
    # nobody else may send the calls they take to another number.
    exclude = ["phone_number"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # A membership's person and organization are what it is; changing it changes the role.
        return ["organization", "user"] if obj is not None else []

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and field is not None and not request.user.is_superuser:
            field.queryset = (
                get_user_model()
                .objects.filter(memberships__organization_id__in=writable_organization_ids(request))
                .distinct()
                .order_by("username")
            )
        return field

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return not self._is_owner_membership(obj) or self._editor_is_owner(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if not self._is_owner_membership(obj):
            return True
        assert isinstance(obj, Membership)
        return self._editor_is_owner(request, obj) and self._other_owners(obj).exists()

    def check_form_roles(self, request: HttpRequest, form: forms.ModelForm) -> None:
        super().check_form_roles(request, form)
        membership = form.instance
        new_role = form.cleaned_data.get("role")
        if not new_role or form.errors:
            return
        editor_role = role_in(request, membership.organization_id)
        old_role = _stored_role(membership)
        if _outranks(new_role, editor_role):
            form.add_error("role", f"You cannot grant a role above your own ({editor_role}).")
        elif old_role and membership.user_id == request.user.pk and _outranks(new_role, old_role):
            form.add_error("role", "You cannot raise your own role.")
        elif (
            old_role == Role.OWNER
            and new_role != Role.OWNER
            and not self._other_owners(membership).exists()
        ):
            form.add_error("role", LAST_OWNER_MESSAGE)

    def action_refusal(
        self, request: HttpRequest, queryset: QuerySet[Any], permissions: Iterable[str]
    ) -> str | None:
        permissions = tuple(permissions)
        refused = super().action_refusal(request, queryset, permissions)
        if refused or "delete" not in permissions:
            return refused
        # Each owner may be deletable alone, yet not all of them together.
        if self._removes_every_owner(queryset):
            return f"Nothing was done: {LAST_OWNER_MESSAGE}"
        return None

    def save_model(
        self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool
    ) -> None:
        with transaction.atomic():
            stepping_down = _stored_role(obj) == Role.OWNER and obj.role != Role.OWNER
            super().save_model(request, obj, form, change)
            if stepping_down:
                self._ensure_owners_remain([obj.organization_id])

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        self.delete_queryset(request, Membership.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        with transaction.atomic():
            owners_of = list(queryset.filter(role=Role.OWNER).values_list("organization_id"))
            super().delete_queryset(request, queryset)
            self._ensure_owners_remain(organization_id for (organization_id,) in owners_of)

    @staticmethod
    def _is_owner_membership(obj: Model | None) -> bool:
        return isinstance(obj, Membership) and _stored_role(obj) == Role.OWNER

    @staticmethod
    def _editor_is_owner(request: HttpRequest, obj: Model | None) -> bool:
        assert isinstance(obj, Membership)
        return role_in(request, obj.organization_id) == Role.OWNER

    @staticmethod
    def _other_owners(membership: Membership) -> QuerySet[Membership]:
        return Membership.objects.filter(
            organization_id=membership.organization_id, role=Role.OWNER
        ).exclude(pk=membership.pk)

    @staticmethod
    def _removes_every_owner(queryset: QuerySet[Membership]) -> bool:
        selected = set(queryset.filter(role=Role.OWNER).values_list("organization_id", "pk"))
        for organization_id in {organization_id for organization_id, _ in selected}:
            owners = Membership.objects.filter(organization_id=organization_id, role=Role.OWNER)
            if set(owners.values_list("organization_id", "pk")) <= selected:
                return True
        return False

    @staticmethod
    def _ensure_owners_remain(organization_ids: Iterable[int]) -> None:
        # The last guard, after the write and inside its transaction: two owners demoting each
        # other at the same moment both passed the form's check; one of them must fail here.
        for organization_id in set(organization_ids):
            owners = Membership.objects.select_for_update().filter(
                organization_id=organization_id, role=Role.OWNER
            )
            if not owners.exists():
                raise PermissionDenied(LAST_OWNER_MESSAGE)


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    list_display = [
        "name", "prefix", "organization", "role", "created_at", "last_used_at", "revoked_at"
    ]  # fmt: skip
    list_filter = ["role"]
    search_fields = ["name", "prefix"]
    # Keys are issued by the management command or API (the full key is shown once); the admin
    # lists, renames, lowers and revokes them. A key stays in its organization.
    fields = ["organization", "name", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["organization", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        # As the API: only an owner issues (and so edits) an owner key.
        return not (isinstance(obj, ApiKey) and _stored_role(obj) == Role.OWNER) or (
            role_in(request, obj.organization_id) == Role.OWNER
        )

    def has_revoke_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # As DELETE /api-keys/:id: any writer of the key's organization revokes, owner keys too
        # (revoking is how a leaked key is stopped; it grants nothing).
        return super().has_change_permission(request, obj)

    def check_form_roles(self, request: HttpRequest, form: forms.ModelForm) -> None:
        super().check_form_roles(request, form)
        role = form.cleaned_data.get("role")
        editor_role = role_in(request, form.instance.organization_id)
        if role and _outranks(role, editor_role):
            form.add_error("role", f"A key cannot have a role above your own ({editor_role}).")

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
