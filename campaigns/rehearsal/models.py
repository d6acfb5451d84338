"""A rehearsal: a whole campaign played against simulated callees before anyone is called.

Imported by `campaigns.models` (so Django registers it with the campaigns app). The sessions a
rehearsal leaves behind are `CallSession` rows with `rehearsal` set: the sessions app's default
manager hides them, so no real statistic can count them (docs/decisions.md, "Campaign
rehearsal").
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.state_machine import StateMachine


class RehearsalStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


REHEARSAL_STATES = StateMachine.of(
    "status",
    {
        RehearsalStatus.QUEUED: {RehearsalStatus.RUNNING, RehearsalStatus.FAILED},
        RehearsalStatus.RUNNING: {RehearsalStatus.COMPLETED, RehearsalStatus.FAILED},
        RehearsalStatus.COMPLETED: set(),
        RehearsalStatus.FAILED: set(),
    },
)


class MixSource(models.TextChoices):
    GIVEN = "given", "Given with the request"
    HISTORY = "history", "Estimated from the organization's past sessions"


class Rehearsal(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="rehearsals"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="rehearsals"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=RehearsalStatus.choices, default=RehearsalStatus.QUEUED
    )
    # Persona key → share of the population (normalised to sum 1).
    mix = models.JSONField(default=dict)
    mix_source = models.CharField(max_length=16, choices=MixSource.choices)
    size = models.PositiveIntegerField()
    seed = models.BigIntegerField(default=0)
    # The simulated clock's start (the campaign's own start, or when it was asked for).
    simulated_start = models.DateTimeField()
    report = models.JSONField(default=dict, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "-id"], name="rehearsal_org_recent_idx")]

    def __str__(self) -> str:
        return f"Rehearsal {self.pk} of campaign {self.campaign_id} ({self.status})"
