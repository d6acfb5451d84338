from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from anvil_voice.accounts import services
from anvil_voice.accounts.admin_login import ThrottledAdminAuthenticationForm
from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin, scope_queryset_for_user
from anvil_voice.accounts.models import ApiKey, Membership, Organization

admin.site.site_header = "Anvil Voice"
admin.site.site_title = "Anvil Voice"
admin.site.index_title = "Dashboard"
# "View site" leads to the dashboard (the admin's index): the project has no other site.
admin.site.site_url = "/admin/"
# Wrong passwords are counted per account and per address (issue 15, item 10).
admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "ai_disclosure_required", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return scope_queryset_for_user(
            super().get_queryset(request), request=request, organization_path="id"
        )


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    autocomplete_fields = ["organization"]


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    list_display = [
        "name", "prefix", "organization", "role", "created_at", "last_used_at", "revoked_at"
    ]  # fmt: skip
    list_filter = ["role"]
    search_fields = ["name", "prefix"]
    # Keys are issued by the management command or API (the full key is shown once); the admin
    # lists and revokes them.
    fields = ["organization", "name", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
