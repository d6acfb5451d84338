"""Writes for call sessions: placing a single test call.

A test call is a real call through the configured carrier (the simulator by default) with the
same compliance rules as a campaign call: a valid E.164 number not on the organization's
do-not-call list, from a caller ID registered to the organization. It counts toward the
deployment's live-call capacity (`campaigns.dialling.capacity`); at capacity it is refused
(503 `SERVICE_UNAVAILABLE`), never queued.
"""

from __future__ import annotations

import logging
from typing import Any

import phonenumbers
from django.db import transaction
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.errors import VALIDATION_MESSAGE, ApplicationError, Conflict, ServiceUnavailable
from campaigns.dialling import capacity
from campaigns.models import CallerId, DoNotCallEntry
from scripts.models import Script, ScriptVersion
from sessions.models import CallEvent, CallSession, SessionKind
from sessions.tasks import session_place_call_task
from voices.models import Voice, VoiceStatus

logger = logging.getLogger("anvil_voice.sessions")

E164_MESSAGE = "Enter a valid phone number in E.164 form (+14155550100)."
# A caller ID given by id: anything longer cannot be a primary key (and would overflow SQLite).
MAX_ID_DIGITS = 18


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(VALIDATION_MESSAGE, details={field: [message]})


def normalize_e164(raw: str) -> str | None:
    """The number in E.164, or None unless it is a complete, valid international number."""
    if not raw.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _caller_id(*, organization: Organization, value: str | None) -> CallerId:
    caller_ids = CallerId.objects.filter(organization=organization)
    if value is None:
        caller_id = caller_ids.order_by("id").first()
        if caller_id is None:
            raise _invalid("from", "The organization has no registered caller ID.")
        return caller_id
    if value.isdigit() and len(value) <= MAX_ID_DIGITS:
        caller_id = caller_ids.filter(pk=int(value)).first()
    else:
        caller_id = caller_ids.filter(phone_number=normalize_e164(value) or value).first()
    if caller_id is None:
        raise _invalid("from", "This caller ID is not registered to your organization.")
    return caller_id


def _enqueue_placement(session_id: int) -> None:
    session_place_call_task.delay(session_id)


def session_test_call_create(
    *,
    organization: Organization,
    to: str,
    script_id: int,
    voice_id: int,
    variables: dict[str, Any],
    caller: str | None = None,
) -> CallSession:
    """Validate, create a queued test session and hand it to the carrier after commit."""
    to_number = normalize_e164(to.strip())
    if to_number is None:
        raise _invalid("to", E164_MESSAGE)
    script = Script.objects.filter(organization=organization, pk=script_id).first()
    if script is None:
        raise _invalid("script", "No such script in your organization.")
    voice = Voice.objects.filter(organization=organization, pk=voice_id).first()
    if voice is None:
        raise _invalid("voice", "No such voice in your organization.")
    if voice.status != VoiceStatus.READY:
        raise _invalid("voice", f"This voice is not ready (status: {voice.status}).")
    caller_id = _caller_id(organization=organization, value=caller)
    if DoNotCallEntry.objects.filter(organization=organization, phone_number=to_number).exists():
        raise Conflict(
            "This number is on your organization's do-not-call list.",
            details={"to": ["This number is on the do-not-call list."]},
        )

    with transaction.atomic():
        # A test call takes a live-call slot like any other call. It is refused rather than
        # queued when none is free: the person asked for a call now (and may be holding the
        # phone); a call that rang minutes later, when a campaign call ends, would surprise.
        if capacity.free_live_calls(now=timezone.now()) <= 0:
            raise ServiceUnavailable(
                "Every live-call slot of this deployment is in use "
                f"({capacity.deployment_capacity()} calls); try again when a call ends.",
                details={"to": ["No live-call capacity is free right now."]},
            )
        version = ScriptVersion.objects.get(script=script, number=script.version)
        session = CallSession.objects.create(
            organization=organization,
            kind=SessionKind.TEST,
            script_version=version,
            voice=voice,
            to_number=to_number,
            from_number=caller_id.phone_number,
            variables=variables,
        )
        CallEvent.objects.create(
            session=session,
            kind="test_call.requested",
            data={"script": script.pk, "scriptVersion": version.number, "voice": voice.pk},
        )
        transaction.on_commit(lambda: _enqueue_placement(session.pk))
    logger.info("test_call_created session=%s organization=%s", session.pk, organization.pk)
    return session
