"""Writes for the organization's do-not-call list. Removal is privileged and audited."""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from anvil_voice.accounts.models import ApiKey, Organization, Role
from campaigns import phones
from campaigns.models import DoNotCallEntry, DoNotCallRemoval

logger = logging.getLogger("campaigns.do_not_call")

REMOVAL_ROLE = Role.OWNER


def dnc_add(
    *,
    organization: Organization,
    phone_number: str,
    source: str = DoNotCallEntry.Source.MANUAL,
    reason: str = "",
    session_id: int | None = None,
) -> tuple[DoNotCallEntry, bool]:
    """Add a number (idempotent): (entry, created)."""
    try:
        number = phones.normalize_phone_number(phone_number)
    except phones.InvalidPhoneNumber as exc:
        raise ValidationError({"phone_number": [str(exc)]}) from exc
    entry, created = DoNotCallEntry.objects.get_or_create(
        organization=organization,
        phone_number=number,
        defaults={"source": source, "reason": reason[:300], "session_id_ref": session_id},
    )
    if created:
        logger.info(
            "dnc.added organization=%s number=%s source=%s",
            organization.pk,
            phones.mask(number),
            source,
        )
    return entry, created


def dnc_remove(
    *,
    entry: DoNotCallEntry,
    reason: str,
    role: str,
    user: User | None = None,
    api_key: ApiKey | None = None,
) -> DoNotCallRemoval:
    """Remove a number: owners only, with a reason, leaving a DoNotCallRemoval audit row."""
    if role != REMOVAL_ROLE:
        raise PermissionDenied("Only an owner can remove a number from the do-not-call list.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["A reason is required to remove a number."]})
    with transaction.atomic():
        locked = DoNotCallEntry.objects.select_for_update().get(pk=entry.pk)
        removal = DoNotCallRemoval.objects.create(
            organization_id=locked.organization_id,
            phone_number=locked.phone_number,
            reason=reason[:300],
            removed_by=user if user is not None and user.pk else None,
            removed_by_key=api_key,
            original_source=locked.source,
            original_created_at=locked.created_at,
        )
        locked.delete()
    logger.info(
        "dnc.removed organization=%s number=%s",
        removal.organization_id,
        phones.mask(removal.phone_number),
    )
    return removal
