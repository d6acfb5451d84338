"""Writes for contact lists and contacts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, ProtectedError

from anvil_voice.accounts.models import Organization
from anvil_voice.errors import Conflict
from campaigns import selectors
from campaigns.contact_fields import (
    Rejection,
    RejectReason,
    is_variable_name,
    normalize_contact,
)
from campaigns.importing import ImportReport, contacts_import
from campaigns.models import Contact, ContactList, DoNotCallEntry

CONTACT_TEXT_FIELDS = (
    "phone_number",
    "first_name",
    "last_name",
    "company",
    "email",
    "time_zone",
    "region",
    "consent_source",
)


def contact_list_create(*, organization: Organization, name: str) -> ContactList:
    return ContactList.objects.create(organization=organization, name=name.strip())


def contact_list_delete(*, contact_list: ContactList) -> None:
    try:
        with transaction.atomic():
            contact_list.delete()
    except ProtectedError as exc:
        names = selectors.contact_list_campaign_names(contact_list=contact_list)
        raise Conflict(
            "This contact list is used by campaigns and cannot be deleted: "
            + ", ".join(names)
            + ".",
            details={"campaigns": names},
        ) from exc


def contact_add(*, contact_list: ContactList, data: Mapping[str, Any]) -> Contact:
    """Add one contact; the same rules as a CSV row, answered as field errors."""
    fields = {name: str(data.get(name) or "") for name in CONTACT_TEXT_FIELDS}
    if consent_at := data.get("consent_at"):
        fields["consent_at"] = consent_at.isoformat()
    variables = {str(key): str(value) for key, value in (data.get("variables") or {}).items()}
    bad_names = [name for name in variables if not is_variable_name(name)]
    if bad_names:
        raise ValidationError(
            {
                "variables": [
                    f"'{name}' is not a variable name: use lowercase letters, digits and "
                    "underscores, starting with a letter."
                    for name in bad_names
                ]
            }
        )
    result = normalize_contact(fields, variables)
    if isinstance(result, Rejection):
        raise ValidationError({_error_field(result): [result.message]})
    with transaction.atomic():
        locked = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        if Contact.objects.filter(contact_list=locked, phone_number=result.phone_number).exists():
            raise Conflict("This number is already in the list.")
        if DoNotCallEntry.objects.filter(
            organization_id=locked.organization_id, phone_number=result.phone_number
        ).exists():
            raise ValidationError({"phone_number": ["This number is on the do-not-call list."]})
        contact = Contact.objects.create(
            organization_id=locked.organization_id,
            contact_list=locked,
            phone_number=result.phone_number,
            first_name=result.first_name,
            last_name=result.last_name,
            company=result.company,
            email=result.email,
            time_zone=result.time_zone,
            time_zone_source=result.time_zone_source,
            region=result.region,
            variables=result.variables,
            consent_source=result.consent_source,
            consent_at=result.consent_at,
        )
        names = sorted(set(locked.variable_names or []) | set(result.variables))
        ContactList.objects.filter(pk=locked.pk).update(
            contact_count=F("contact_count") + 1, variable_names=names
        )
    return contact


def _error_field(rejection: Rejection) -> str:
    if rejection.field in CONTACT_TEXT_FIELDS or rejection.field == "consent_at":
        return rejection.field
    if rejection.reason in (RejectReason.FORMULA, RejectReason.FIELD_TOO_LONG):
        return "variables"
    return rejection.field or "non_field_errors"


def contact_list_import(
    *,
    contact_list: ContactList,
    upload: IO[bytes],
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    detect: bool = True,
) -> ImportReport:
    return contacts_import(
        contact_list=contact_list, upload=upload, mapping=mapping, dry_run=dry_run, detect=detect
    )
