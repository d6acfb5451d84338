"""Writes for call sessions: placing a single test call.

A test call is a real call through the configured carrier (the simulator by default) with the
same compliance rules as a campaign call: a valid E.164 number that is not premium-rate or
otherwise non-geographic (`phones.REFUSED_NUMBER_TYPES`), not on the organization's
do-not-call list, from a caller ID registered to the organization, inside the legal calling
window in every zone the number may be in. The window (and only the window) can be overridden
by an explicit request with a reason, e.g. to test with one's own phone at night; the override,
who asked and why, is in the session's compliance evidence. It counts toward the
deployment's live-call capacity (`campaigns.dialling.capacity`); at capacity it is refused
(503 `SERVICE_UNAVAILABLE`), never queued.

A test call is recorded like a campaign call (it is how a manager hears a script before a
campaign: issue 17), with the script's recording disclosure when it requires one, unless the
request says `record: false`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import phonenumbers
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from anvil_voice.accounts.models import ApiKey, Organization
from anvil_voice.errors import VALIDATION_MESSAGE, ApplicationError, Conflict, ServiceUnavailable
from campaigns import phones
from campaigns.compliance import (
    LEGAL_SCHEDULE,
    Callee,
    legal_window_evidence,
    next_allowed_moment,
)
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


def _calling_window_evidence(
    *,
    to_number: str,
    now: datetime,
    override: bool,
    override_reason: str,
    user: User | None,
    api_key: ApiKey | None,
) -> dict[str, Any]:
    """The legal window at `now` in every zone of the number, refused unless overridden;
    what was checked (and any override) becomes the session's compliance evidence."""
    callee = Callee.of_number(to_number)
    allowed_at = next_allowed_moment(callee=callee, schedule=LEGAL_SCHEDULE, at=now)
    inside = allowed_at == now
    evidence = legal_window_evidence(callee=callee, now=now)
    local = ", ".join(evidence["local_times"].values())
    if not inside and not override:
        when = (
            f"the next allowed time is {allowed_at.isoformat()}"
            if allowed_at
            else ("there is no allowed time in the coming week")
        )
        raise _invalid(
            "to",
            f"Outside the calling window at the number's local time ({local}); {when}. "
            "Send overrideCallingWindow: true with an overrideReason to call anyway.",
        )
    window: dict[str, Any] = {
        "inside": inside,
        "next_allowed_at": allowed_at.isoformat() if allowed_at and not inside else None,
        "overridden": not inside,
    }
    if not inside:
        window["override_reason"] = override_reason
        window["overridden_by"] = {
            "user": user.pk if user is not None else None,
            "api_key": api_key.pk if api_key is not None else None,
        }
        why = f"Local time {local} is outside the calling window; overridden: {override_reason}"
    else:
        why = f"Local time {local} is inside every calling window"
    evidence["calling_window"] = window
    evidence["allowed"] = True
    evidence["rules"] += [
        {"rule": "number-type", "result": "not premium-rate or other non-geographic"},
        {"rule": "do-not-call", "result": "not on the organization's list"},
    ]
    evidence["why"] = f"{why}; the number is not on the do-not-call list."
    return evidence


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
    override_calling_window: bool = False,
    override_reason: str = "",
    record: bool = True,
    user: User | None = None,
    api_key: ApiKey | None = None,
) -> CallSession:
    """Validate, create a queued test session and hand it to the carrier after commit."""
    to_number = normalize_e164(to.strip())
    if to_number is None:
        raise _invalid("to", E164_MESSAGE)
    if kind := phones.refused_number_kind(to_number):
        raise _invalid("to", f"This is {kind}; test calls do not call those.")
    override_reason = override_reason.strip()
    if override_calling_window and not override_reason:
        raise _invalid("overrideReason", "Say why the calling window is overridden.")
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
    evidence = _calling_window_evidence(
        to_number=to_number,
        now=timezone.now(),
        override=override_calling_window,
        override_reason=override_reason,
        user=user,
        api_key=api_key,
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
            compliance=evidence,
            test_call_recorded=record,
        )
        CallEvent.objects.create(
            session=session,
            kind="test_call.requested",
            data={
                "script": script.pk,
                "scriptVersion": version.number,
                "voice": voice.pk,
                "record": record,
                "user": user.pk if user is not None else None,
            },
        )
        if evidence["calling_window"]["overridden"]:
            CallEvent.objects.create(
                session=session,
                kind="test_call.calling_window_overridden",
                data={"reason": override_reason, "localTimes": evidence["local_times"]},
            )
        transaction.on_commit(lambda: _enqueue_placement(session.pk))
    logger.info("test_call_created session=%s organization=%s", session.pk, organization.pk)
    return session
