"""Customer webhooks: the URLs an organization registered and every delivery made to them."""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone

from anvil_voice.accounts.models import Organization


class WebhookEvent(models.TextChoices):
    SESSION_COMPLETED = "session.completed", "A call session finished"
    CAMPAIGN_COMPLETED = "campaign.completed", "A campaign completed"


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_hex(32)}"


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # The signing key; shown to the customer once, when the endpoint is created.
    secret = models.CharField(max_length=80, default=new_webhook_secret, editable=False)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "active"], name="webhook_org_active_idx")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first attempt or a retry (next_retry_at)
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # every attempt failed


class WebhookDelivery(models.Model):
    """One event for one endpoint, retried with backoff until delivered or out of attempts."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The same for every attempt, so receivers can drop duplicates.
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The retry sweep: pending deliveries that are due.
            models.Index(fields=["status", "next_retry_at"], name="webhook_delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """Audit row: one HTTP request of a delivery and what came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.response_code or self.error}"
