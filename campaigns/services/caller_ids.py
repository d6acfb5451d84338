"""Caller IDs: the numbers an organization may call from (compliance rule 4).

Registration checks the number with the carrier account, behind `verify_caller_id`:
- "simulator" (embedded default, tests): any number in the NANP fictional range
  +1 NXX 555 01xx is accepted, as the Twilio simulator answers for those;
- "twilio": the number must be one of the account's incoming phone numbers
  (`client.incoming_phone_numbers.list(phone_number=...)`); its SID is stored.
`CAMPAIGNS_CALLER_ID_CHECK` picks the mode (see settings).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from anvil_voice.accounts.models import Organization
from anvil_voice.errors import Conflict, ServiceUnavailable
from campaigns import phones, selectors
from campaigns.models import CallerId

logger = logging.getLogger("campaigns.caller_ids")


class CallerIdRejected(Exception):
    pass


def _verify_with_simulator(phone_number: str) -> str:
    if not phones.FICTIONAL_NANP.match(phone_number):
        raise CallerIdRejected(
            "With the Twilio simulator, caller IDs must be in the fictional range "
            "+1 NXX 555 01xx (e.g. +15555550100)."
        )
    return ""


def _verify_with_twilio(phone_number: str) -> str:
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    try:
        numbers = client.incoming_phone_numbers.list(phone_number=phone_number, limit=1)
    except TwilioException as exc:
        logger.warning("caller_id.verify_failed error=%s", type(exc).__name__)
        raise ServiceUnavailable("Twilio could not be asked about this number; try again.") from exc
    if not numbers:
        raise CallerIdRejected("This number is not one of the Twilio account's phone numbers.")
    return str(numbers[0].sid)


def _already_registered() -> Conflict:
    return Conflict(
        "This number is already registered.",
        details={"phoneNumber": ["This number is already registered."]},
    )


def verify_caller_id(phone_number: str) -> str:
    """The carrier's id for `phone_number` ("" for the simulator), or CallerIdRejected."""
    if settings.CAMPAIGNS_CALLER_ID_CHECK == "twilio":
        return _verify_with_twilio(phone_number)
    return _verify_with_simulator(phone_number)


def caller_id_register(
    *, organization: Organization, phone_number: str, label: str = "", is_default: bool = False
) -> CallerId:
    """Register a number after the carrier check; `is_default` makes it the organization's
    default (the previous default, if any, stops being one in the same transaction)."""
    try:
        number = phones.normalize_phone_number(phone_number)
    except phones.InvalidPhoneNumber as exc:
        raise ValidationError({"phone_number": [str(exc)]}) from exc
    # Across organizations: a number belongs to one (the constraint `caller_id_number_one_
    # organization` holds it under races). The answer is the same whether the caller's own
    # organization or another one has it, so it never says who owns a number.
    if CallerId.objects.filter(phone_number=number).exists():
        raise _already_registered()
    try:
        carrier_sid = verify_caller_id(number)
    except CallerIdRejected as exc:
        raise ValidationError({"phone_number": [str(exc)]}) from exc
    try:
        with transaction.atomic():
            if is_default:
                CallerId.objects.filter(organization=organization, is_default=True).update(
                    is_default=False
                )
            return CallerId.objects.create(
                organization=organization,
                phone_number=number,
                label=label.strip(),
                carrier_sid=carrier_sid,
                is_default=is_default,
            )
    except IntegrityError as exc:
        raise _already_registered() from exc


def caller_id_for_new_campaign(*, organization: Organization) -> CallerId:
    """The caller ID a campaign created without one calls from: the organization's default,
    else its only one; with none or several (and no default) a field error naming it."""
    default = CallerId.objects.filter(organization=organization, is_default=True).first()
    if default is not None:
        return default
    numbers = list(CallerId.objects.filter(organization=organization)[:2])
    if len(numbers) == 1:
        return numbers[0]
    if not numbers:
        message = "Your organization has no caller ID: register one (/phone-numbers)."
    else:
        count = CallerId.objects.filter(organization=organization).count()
        message = f"Your organization has {count} caller IDs and none is the default: name one."
    raise ValidationError({"caller_id": [message]})


def caller_id_remove(*, caller_id: CallerId) -> None:
    try:
        with transaction.atomic():
            caller_id.delete()
    except ProtectedError as exc:
        names = selectors.caller_id_campaign_names(caller_id=caller_id)
        raise Conflict(
            "This number is used by campaigns and cannot be removed: " + ", ".join(names) + ".",
            details={"campaigns": names},
        ) from exc
