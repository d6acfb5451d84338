"""Tenancy: organizations, who belongs to them, and the API keys they own."""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # Script validation warns when an opening line lacks this sentence (compliance rule 3).
    ai_disclosure_required = models.BooleanField(default=True)
    # Transcripts, summaries and recordings keep no card numbers, national ids, bank numbers or
    # e-mail addresses (issue 15 item 17): replaced by "[CARD_NUMBER]"-style placeholders
    # before they are stored, and muted in the recording. Off by default: a campaign that
    # collects an e-mail address on purpose would lose it.
    redact_pii = models.BooleanField(
        "redact personal data",
        default=False,
        help_text=(
            "Store transcripts with card numbers, national ids, bank account numbers and "
            "e-mail addresses replaced by placeholders, and mute them in recordings."
        ),
    )
    # The most calls a second this tenant's campaigns and callbacks may place together (issue
    # 15, item 3), on top of the fair share of the carrier account it gets anyway; blank: no
    # cap of its own. Set by an operator (a superuser) only: the admin shows it read-only to
    # everyone else, and the API never writes it.
    max_calls_per_second = models.DecimalField(
        "max calls per second",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Cap on this organization's calls per second, all campaigns and callbacks "
        "together; blank for none beyond the carrier account's (operators only).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    VIEWER = "viewer", "Viewer"


WRITE_ROLES = frozenset({Role.OWNER, Role.MANAGER})


def validate_e164(value: str) -> None:
    """A complete, valid international number written in E.164 (`+14155550100`)."""
    try:
        number = phonenumbers.parse(value, None) if value.startswith("+") else None
    except phonenumbers.NumberParseException:
        number = None
    if (
        number is None
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value
    ):
        raise ValidationError(
            "Enter a valid phone number in E.164 form (+14155550100).", code="e164"
        )


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER)
    # The member's own phone, where the live monitor's "transfer to me" sends a call.
    phone_number = models.CharField(
        max_length=16, blank=True, default="", validators=[validate_e164]
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


KEY_PREFIX = "avk_"
_PREFIX_LENGTH = 10


def hash_api_key(raw_key: str) -> str:
    # Keys carry ~190 bits of randomness, so a fast hash is enough: there is nothing to
    # brute-force, and a slow hash would cost every API request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The visible part ("avk_Ab12Cd34Ef"), shown in lists so people can tell keys apart.
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate_raw_key() -> tuple[str, str]:
        """Return (prefix, full key). The full key is shown once and never stored."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        visible = "".join(secrets.choice(alphabet) for _ in range(_PREFIX_LENGTH))
        prefix = f"{KEY_PREFIX}{visible}"
        return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"

    @staticmethod
    def prefix_of(raw_key: str) -> str | None:
        head, dot, secret = raw_key.partition(".")
        if not dot or not secret or not head.startswith(KEY_PREFIX):
            return None
        if len(head) != len(KEY_PREFIX) + _PREFIX_LENGTH:
            return None
        return head
