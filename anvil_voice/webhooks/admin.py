"""Webhook endpoints and the delivery log, organization-scoped like every admin page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from unfold.admin import TabularInline

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from anvil_voice.webhooks.forms import WebhookEndpointForm
from anvil_voice.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrganizationScopedAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "organization", "events", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    fields = ["organization", "url", "description", "events", "active", "created_at"]
    readonly_fields = ["created_at"]


class WebhookAttemptInline(TabularInline):
    model = WebhookAttempt
    fields = ["number", "at", "response_code", "error", "duration_ms"]
    readonly_fields = ["number", "at", "response_code", "error", "duration_ms"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OrganizationScopedAdmin):
    """The delivery log: read-only; a delivery changes only through attempts."""

    list_display = [
        "id",
        "event",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "next_retry_at",
        "created_at",
    ]
    list_filter = ["status", "event"]
    search_fields = ["endpoint__url", "event_id"]
    list_select_related = ["endpoint"]
    inlines = [WebhookAttemptInline]
    readonly_fields = [
        "organization",
        "endpoint",
        "event_id",
        "event",
        "payload",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "next_retry_at",
        "created_at",
        "updated_at",
        "delivered_at",
    ]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
