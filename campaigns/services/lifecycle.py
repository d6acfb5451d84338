"""Campaigns: creation, the state machine, starting (materialisation), pausing, stopping.

The state machine is `campaigns.models.CAMPAIGN_STATES` (`ALLOWED_TRANSITIONS` here is its map);
`campaign_transition` is the only code that writes `Campaign.status`. It locks the row, checks
the map, applies the move with `anvil_voice.state_machine.transition` (a conditional update) and
writes a `CampaignTransition` audit row when the row moved, in one transaction; anything else
answers INVALID_STATE.

Lock order, everywhere: the campaign row first (FOR NO KEY UPDATE, so foreign-key inserts that
point at it still proceed), then campaign contacts, then the stats row. The dispatcher, the
outcome handler and these services all follow it, so they never deadlock each other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from anvil_voice.accounts.models import ApiKey, Organization
from anvil_voice.accounts.principal import Principal
from anvil_voice.errors import InvalidState
from anvil_voice.state_machine import transition
from anvil_voice.telephony.carrier import get_carrier
from campaigns.calling_rules import LEGAL_WINDOW
from campaigns.models import (
    CAMPAIGN_STATES,
    CallerId,
    Campaign,
    CampaignContact,
    CampaignContactState,
    CampaignStats,
    CampaignStatus,
    CampaignTransition,
    Contact,
    ContactList,
    DoNotCallEntry,
    VoicemailBehaviour,
)
from campaigns.phones import InvalidPhoneNumber, normalize_phone_number
from campaigns.services.caller_ids import caller_id_for_new_campaign
from campaigns.tasks import cancel_campaign_calls
from scripts.models import Script
from sessions.carrier.calls import outbound_call
from sessions.models import CallSession, CallStatus
from voices.models import Voice, VoiceStatus

logger = logging.getLogger("campaigns.lifecycle")

# The map itself lives beside CampaignStatus; this name is kept for the admin and callers.
ALLOWED_TRANSITIONS: Mapping[str, frozenset[str]] = CAMPAIGN_STATES.allowed
# Contacts materialised per batch (at start, then one batch per dispatcher tick).
MATERIALIZE_BATCH = 5000
MAX_RETRY_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class Actor:
    """Who changed a campaign: a person, an API key, or the system (named)."""

    user: User | None = None
    api_key: ApiKey | None = None
    system: str = ""

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(user=principal.user, api_key=principal.api_key)

    @classmethod
    def named(cls, system: str) -> Actor:
        return cls(system=system)


# --- The state machine ---------------------------------------------------------------------


def _refused(status: str, to: str) -> InvalidState:
    return InvalidState(
        f"A {status} campaign cannot become {to}.",
        details={"status": status, "requested": to},
    )


def campaign_transition(
    *, campaign: Campaign, to: str, actor: Actor, now: datetime | None = None
) -> Campaign:
    """Move `campaign` to `to` if the map allows it from its *current* (locked) status."""
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        from_status = locked.status
        if not CAMPAIGN_STATES.can(from_status, to):
            raise _refused(from_status, to)
        updates: dict[str, Any] = {"updated_at": moment}
        if to == CampaignStatus.RUNNING and locked.started_at is None:
            updates["started_at"] = moment
        if to in (CampaignStatus.COMPLETED, CampaignStatus.STOPPED):
            updates["completed_at"] = moment
        moved = transition(
            Campaign.objects.filter(pk=locked.pk, status=from_status),
            machine=CAMPAIGN_STATES,
            to=to,
            updates=updates,
            audit=lambda _moved: CampaignTransition.objects.create(
                campaign=locked,
                from_status=from_status,
                to_status=to,
                actor_user=actor.user if actor.user is not None and actor.user.pk else None,
                actor_api_key=actor.api_key,
                actor_system=actor.system,
                at=moment,
            ),
        )
        if not moved:
            # Not reachable while the row lock holds; never report a move that did not happen.
            current = Campaign.objects.filter(pk=locked.pk).values_list("status", flat=True)
            raise _refused(current.first() or from_status, to)
        locked.status = to
        for name, value in updates.items():
            setattr(locked, name, value)
    logger.info(
        "campaign.transition campaign=%s from=%s to=%s actor=%s",
        locked.pk,
        from_status,
        to,
        actor.system or (f"key:{actor.api_key.pk}" if actor.api_key else "user"),
    )
    return locked


# --- Creation ------------------------------------------------------------------------------


def campaign_settings_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Schedule, pacing and attempt rules (model field names); empty when valid."""
    errors: dict[str, list[str]] = {}
    start: time = values.get("window_start", LEGAL_WINDOW.start)
    end: time = values.get("window_end", LEGAL_WINDOW.end)
    if start < LEGAL_WINDOW.start:
        errors.setdefault("window_start", []).append(
            f"Calls may not start before {LEGAL_WINDOW.start:%H:%M} local time."
        )
    if end > LEGAL_WINDOW.end:
        errors.setdefault("window_end", []).append(
            f"Calls may not go past {LEGAL_WINDOW.end:%H:%M} local time."
        )
    if end <= start:
        errors.setdefault("window_end", []).append("The window must end after it starts.")
    days = values.get("days_of_week", [0, 1, 2, 3, 4, 5, 6])
    if (
        not isinstance(days, list | tuple)
        or not days
        or any(
            not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6 for day in days
        )
        or len(set(days)) != len(days)
    ):
        errors["days_of_week"] = ["Give distinct days from 0 (Monday) to 6 (Sunday)."]
    start_at, end_at = values.get("start_at"), values.get("end_at")
    if start_at and end_at and end_at <= start_at:
        errors["end_at"] = ["The campaign must end after it starts."]
    concurrency = values.get("max_concurrent_calls", 5)
    cap = int(settings.CAMPAIGNS_MAX_CONCURRENT_CALLS)
    if not 1 <= concurrency <= cap:
        errors["max_concurrent_calls"] = [f"Must be from 1 to {cap}."]
    cps = Decimal(str(values.get("calls_per_second", "1")))
    cps_cap = Decimal(settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND)
    if not Decimal("0") < cps <= cps_cap:
        errors["calls_per_second"] = [
            f"Must be above 0 and at most {cps_cap} (the carrier account's cap)."
        ]
    if not 1 <= values.get("max_attempts", 3) <= 10:
        errors["max_attempts"] = ["Must be from 1 to 10."]
    for name in ("retry_no_answer_minutes", "retry_busy_minutes", "retry_voicemail_minutes"):
        if name in values and not 1 <= values[name] <= MAX_RETRY_MINUTES:
            errors[name] = [f"Must be from 1 to {MAX_RETRY_MINUTES} minutes (a week)."]
    return errors


def campaign_voicemail_errors(
    *, voicemail_behaviour: str | None, script: Script | None
) -> dict[str, list[str]]:
    """ "Leave the script's voicemail message" needs a script that has one (model field names).

    Refused rather than defaulted: a message nobody wrote should not be left on anyone's phone.
    """
    if voicemail_behaviour != VoicemailBehaviour.LEAVE_MESSAGE or script is None:
        return {}
    if script.voicemail_message.strip():
        return {}
    return {
        "voicemail_behaviour": [
            f'The script "{script.name}" has no voicemail message: add one to the script, '
            f'or choose "{VoicemailBehaviour.HANG_UP}".'
        ]
    }


def campaign_transfer_errors(
    *, organization_id: int, transfer_number: str | None
) -> dict[str, list[str]]:
    """The campaign's transfer number (overriding its script's): E.164 and not on the
    organization's do-not-call list. Re-checked when the transfer happens."""
    if not transfer_number:
        return {}
    try:
        normalized = normalize_phone_number(transfer_number)
    except InvalidPhoneNumber as error:
        return {"transfer_number": [str(error)]}
    if normalized != transfer_number:
        return {"transfer_number": [f"Give the number in E.164 form: {normalized}."]}
    if DoNotCallEntry.objects.filter(
        organization_id=organization_id, phone_number=transfer_number
    ).exists():
        return {"transfer_number": ["The transfer number is on the do-not-call list."]}
    return {}


def _owned(model: type[Any], organization: Organization, pk: Any, field: str) -> Any:
    obj = model.objects.filter(organization=organization, pk=pk).first() if pk else None
    if obj is None:
        raise ValidationError({field: ["Not found in your organization."]})
    return obj


SETTING_FIELDS = (
    "start_at",
    "end_at",
    "days_of_week",
    "window_start",
    "window_end",
    "max_concurrent_calls",
    "calls_per_second",
    "max_attempts",
    "retry_no_answer_minutes",
    "retry_busy_minutes",
    "retry_voicemail_minutes",
    "voicemail_behaviour",
    "record_calls",
    "transfer_number",
    "transfer_target_kind",
    "dial_order",
)


@transaction.atomic
def campaign_create(*, organization: Organization, data: Mapping[str, Any]) -> Campaign:
    """Create a draft campaign. Every id must belong to `organization` (else a field error);
    without a caller ID, the organization's default one (or its only one) is used."""
    errors: dict[str, list[str]] = {}
    related: dict[str, Any] = {}
    for key, model, attribute in (
        ("script_id", Script, "script"),
        ("voice_id", Voice, "voice"),
        ("contact_list_id", ContactList, "contact_list"),
        ("caller_id", CallerId, "caller_id"),
    ):
        try:
            if key == "caller_id" and data.get(key) is None:
                # Optional: the organization's default caller ID, else its only one.
                related[attribute] = caller_id_for_new_campaign(organization=organization)
            else:
                related[attribute] = _owned(model, organization, data.get(key), key)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    settings_values = {key: data[key] for key in SETTING_FIELDS if key in data}
    errors.update(campaign_settings_errors(settings_values))
    errors.update(
        campaign_transfer_errors(
            organization_id=organization.pk,
            transfer_number=settings_values.get("transfer_number"),
        )
    )
    errors.update(
        campaign_voicemail_errors(
            voicemail_behaviour=settings_values.get("voicemail_behaviour"),
            script=related.get("script"),
        )
    )
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    campaign = Campaign.objects.create(
        organization=organization,
        name=str(data["name"]).strip(),
        created_at=now,
        updated_at=now,
        **related,
        **settings_values,
    )
    CampaignStats.objects.create(campaign=campaign)
    return campaign


# --- Start, pause, stop --------------------------------------------------------------------


def campaign_readiness_errors(
    campaign: Campaign, *, now: datetime | None = None
) -> dict[str, list[str]]:
    """Why `campaign` cannot dial yet (API field names in model form); empty when ready."""
    errors: dict[str, list[str]] = {}
    if campaign.end_at is not None and campaign.end_at <= (now or timezone.now()):
        errors["end_at"] = ["The campaign's end time has passed."]
    organization_id = campaign.organization_id
    script = Script.objects.filter(pk=campaign.script_id).first()
    if script is None or script.organization_id != organization_id:
        errors["script_id"] = ["The script no longer exists."]
    elif script.version < 1 or not script.versions.filter(number=script.version).exists():
        errors["script_id"] = ["The script has no saved version yet."]
    else:
        # The script may have lost its message since the campaign was created.
        errors.update(
            campaign_voicemail_errors(
                voicemail_behaviour=campaign.voicemail_behaviour, script=script
            )
        )
    voice = Voice.objects.filter(pk=campaign.voice_id).first()
    if voice is None or voice.organization_id != organization_id:
        errors["voice_id"] = ["The voice no longer exists."]
    elif voice.status != VoiceStatus.READY:
        errors["voice_id"] = [f"The voice is {voice.status}; only a ready voice can call."]
    contact_list = ContactList.objects.filter(pk=campaign.contact_list_id).first()
    if contact_list is None or contact_list.organization_id != organization_id:
        errors["contact_list_id"] = ["The contact list no longer exists."]
    elif not Contact.objects.filter(contact_list=contact_list).exists():
        errors["contact_list_id"] = ["The contact list is empty."]
    caller_id = CallerId.objects.filter(pk=campaign.caller_id_id).first()
    if caller_id is None or caller_id.organization_id != organization_id:
        errors["caller_id"] = ["The caller ID is not registered to your organization."]
    errors.update(
        campaign_transfer_errors(
            organization_id=organization_id, transfer_number=campaign.transfer_number
        )
    )
    return errors


def campaign_start(*, campaign: Campaign, actor: Actor, now: datetime | None = None) -> Campaign:
    """Draft → scheduled (start_at ahead) or running; scheduled/paused → running (resume).

    The first start fixes which contacts take part (the list's contacts up to its newest id)
    and materialises the first batch; the dispatcher materialises the rest, a batch a tick.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in (
            CampaignStatus.DRAFT,
            CampaignStatus.SCHEDULED,
            CampaignStatus.PAUSED,
        ):
            raise InvalidState(
                f"A {locked.status} campaign cannot be started.",
                details={"status": locked.status, "requested": CampaignStatus.RUNNING},
            )
        if errors := campaign_readiness_errors(locked, now=moment):
            raise ValidationError(errors)
        target = CampaignStatus.RUNNING
        if (
            locked.status == CampaignStatus.DRAFT
            and locked.start_at is not None
            and locked.start_at > moment
        ):
            target = CampaignStatus.SCHEDULED
        if locked.materialize_until_id is None:
            _fix_participants(locked)
        locked = campaign_transition(campaign=locked, to=target, actor=actor, now=moment)
    if target == CampaignStatus.RUNNING:
        campaign_materialize_batch(campaign_id=locked.pk, now=moment)
    return locked


def _fix_participants(campaign: Campaign) -> None:
    contacts = Contact.objects.filter(contact_list_id=campaign.contact_list_id)
    until = contacts.aggregate(until=Max("id"))["until"] or 0
    total = contacts.filter(id__lte=until).count()
    Campaign.objects.filter(pk=campaign.pk).update(materialize_until_id=until)
    campaign.materialize_until_id = until
    CampaignStats.objects.update_or_create(campaign=campaign, defaults={"contacts_total": total})


def campaign_pause(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Running → paused: the dispatcher claims nothing more; live calls finish; queued calls
    not yet dialled are held back by the pre-dial check and go back to pending."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.RUNNING:
            raise InvalidState(
                f"Only a running campaign can be paused; this one is {locked.status}.",
                details={"status": locked.status, "requested": CampaignStatus.PAUSED},
            )
        return campaign_transition(campaign=locked, to=CampaignStatus.PAUSED, actor=actor)


def campaign_stop(*, campaign: Campaign, actor: Actor) -> Campaign:
    """→ stopped (final). After commit, queued/initiated/ringing calls are cancelled at the
    carrier; answered calls are left to finish (hanging up on a person mid-sentence is worse
    than letting the conversation end), and their outcomes are still recorded."""
    stopped = campaign_transition(campaign=campaign, to=CampaignStatus.STOPPED, actor=actor)

    def enqueue() -> None:
        cancel_campaign_calls.delay(stopped.pk)

    transaction.on_commit(enqueue)
    return stopped


def campaign_cancel_calls(*, campaign_id: int) -> int:
    """Cancel the campaign's not-yet-answered calls at the carrier, tolerating failures."""
    carrier = get_carrier()
    cancelled = 0
    sessions = CallSession.objects.filter(
        campaign_id=campaign_id,
        status__in=(CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING),
    ).select_related("campaign")
    for session in sessions.iterator():
        try:
            carrier.cancel(outbound_call(session))
            cancelled += 1
        except Exception as exc:  # one failed cancel must not stop the others
            logger.warning(
                "campaign.cancel_failed campaign=%s session=%s error=%s",
                campaign_id,
                session.pk,
                type(exc).__name__,
            )
    return cancelled


# --- Materialisation and completion ---------------------------------------------------------


def campaign_materialize_batch(
    *, campaign_id: int, now: datetime | None = None, batch_size: int | None = None
) -> int:
    """Create the next batch of CampaignContact rows (numbers on the DNC list start as
    `do_not_call`). Idempotent and safe with several dispatchers: the campaign row lock makes
    them take turns, and the cursor only moves forward."""
    moment = now or timezone.now()
    batch_size = batch_size or MATERIALIZE_BATCH
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()
        if campaign is None or campaign.materialize_until_id is None:
            return 0
        through, until = campaign.materialized_through_id, campaign.materialize_until_id
        if through >= until:
            return 0
        rows = list(
            Contact.objects.filter(
                contact_list_id=campaign.contact_list_id, id__gt=through, id__lte=until
            )
            .order_by("id")
            .values_list("id", "phone_number")[:batch_size]
        )
        last_id = rows[-1][0] if rows else until
        if len(rows) < batch_size:
            last_id = until
        listed = set(
            DoNotCallEntry.objects.filter(
                organization_id=campaign.organization_id,
                phone_number__in=[number for _id, number in rows],
            ).values_list("phone_number", flat=True)
        )
        CampaignContact.objects.bulk_create(
            [
                CampaignContact(
                    organization_id=campaign.organization_id,
                    campaign_id=campaign.pk,
                    contact_id=contact_id,
                    state=(
                        CampaignContactState.DO_NOT_CALL
                        if number in listed
                        else CampaignContactState.PENDING
                    ),
                    last_outcome="do_not_call" if number in listed else "",
                    next_attempt_at=moment,
                    updated_at=moment,
                )
                for contact_id, number in rows
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        Campaign.objects.filter(pk=campaign.pk).update(materialized_through_id=last_id)
        do_not_call = sum(1 for _id, number in rows if number in listed)
        CampaignStats.objects.filter(campaign_id=campaign.pk).update(
            contacts_materialized=F("contacts_materialized") + len(rows),
            pending=F("pending") + len(rows) - do_not_call,
            do_not_call=F("do_not_call") + do_not_call,
        )
    return len(rows)


def campaign_is_finished(campaign: Campaign, stats: CampaignStats) -> bool:
    materialized = (
        campaign.materialize_until_id is not None
        and campaign.materialized_through_id >= campaign.materialize_until_id
    )
    return materialized and stats.pending <= 0 and stats.in_progress <= 0


def campaign_complete_if_finished(*, campaign_id: int, now: datetime | None = None) -> bool:
    """Running → completed (by the system) once every contact is finished."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            return False
        stats = CampaignStats.objects.get(campaign_id=campaign_id)
        if not campaign_is_finished(campaign, stats):
            return False
        campaign_transition(
            campaign=campaign, to=CampaignStatus.COMPLETED, actor=Actor.named("dialler"), now=now
        )
    return True


def campaign_start_due(*, now: datetime) -> list[int]:
    """Scheduled campaigns whose start time has come → running (by the system)."""
    started = []
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, start_at__lte=now)
    for campaign in due.only("pk"):
        try:
            campaign_transition(
                campaign=campaign,
                to=CampaignStatus.RUNNING,
                actor=Actor.named("dispatcher: start time reached"),
                now=now,
            )
        except InvalidState:
            continue  # another dispatcher (or a person) moved it first
        started.append(campaign.pk)
    return started
