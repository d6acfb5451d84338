"""Voices: a cloned (or stock) voice, the samples it was cloned from, and its stored previews.

Audio lives in the default storage (local MEDIA_ROOT or S3), never in the database: rows keep the
object key and the facts measured when the file was decoded (format, duration, size, hash).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.state_machine import StateMachine

DEFAULT_SAMPLE_SENTENCE = (
    "Hello, this is a quick preview of my voice. I will be calling you about your appointment."
)


class VoiceStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


# The whole state machine. A failed clone can be retried; a ready voice stays ready until it
# is deleted (deleting is not a status: the row goes away). Every change goes through
# `voices.services._voice_transition`, which writes a `VoiceEvent` when the row moved.
VOICE_STATES = StateMachine.of(
    "status",
    {
        VoiceStatus.PROCESSING: {VoiceStatus.READY, VoiceStatus.FAILED},
        VoiceStatus.FAILED: {VoiceStatus.PROCESSING},
        VoiceStatus.READY: set(),
    },
)


class Voice(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="voices")
    # Names the voice's storage folder. Files are stored before the row exists (uploads never
    # run inside a database transaction), so the folder cannot be named after the primary key.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    # Free-form descriptors (language, accent, gender, age, use case), passed to the provider.
    labels = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=32)
    provider_voice_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(
        max_length=16, choices=VoiceStatus.choices, default=VoiceStatus.PROCESSING
    )
    failure_reason = models.CharField(max_length=500, blank=True)
    # False when the provider speaks with a stock voice (the local provider): never pretend.
    is_clone = models.BooleanField(default=False)
    provider_note = models.CharField(max_length=300, blank=True)
    sample_sentence = models.CharField(max_length=500, default=DEFAULT_SAMPLE_SENTENCE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Lists are newest first per organization, often filtered by status.
            models.Index(fields=["organization", "-id"], name="voice_org_id_idx"),
            models.Index(fields=["organization", "status"], name="voice_org_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def storage_folder(self) -> str:
        return f"voices/{self.organization_id}/{self.uid.hex}"


class VoiceEvent(models.Model):
    """One row per status change: when, from what, to what, and why (the audit trail)."""

    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.voice_id}: {self.from_status or '-'} -> {self.to_status}"


class VoiceSample(models.Model):
    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="samples")
    # A server-generated key (voices/<org>/<voice uid>/samples/<uuid>.<ext>); the client's file
    # name is kept for display only and never reaches the storage path.
    file = models.FileField(max_length=255)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=8)
    duration_seconds = models.FloatField()
    sample_rate = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name


class VoicePreview(models.Model):
    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="previews")
    # Up to a script line's length: a preview may speak a script's rendered opening line.
    text = models.CharField(max_length=1000)
    text_sha256 = models.CharField(max_length=64)
    file = models.FileField(max_length=255)
    duration_seconds = models.FloatField()
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The same text for the same voice is synthesised (and paid for) once.
            models.UniqueConstraint(fields=["voice", "text_sha256"], name="voice_preview_unique")
        ]

    def __str__(self) -> str:
        return f"{self.voice_id}: {self.text[:40]}"
