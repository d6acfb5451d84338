"""The campaigns app's dial gate (`settings.DIAL_GATE`): placement asks it right before dialling.

The dispatcher checked the contact when it claimed it; the gate checks again what may have
changed since (a do-not-call entry, a pause or stop, the calling window closing, the caller ID
removed) and then spaces the create from the campaign's, the organization's and the account's
previous ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from time import sleep as _sleep

from django.utils import timezone

from anvil_voice.accounts.models import Organization
from campaigns.compliance import (
    LEGAL_SCHEDULE,
    Callee,
    GateReason,
    Schedule,
    next_allowed_moment,
)
from campaigns.dialling import pacing
from campaigns.models import CallerId, Campaign, CampaignContact, CampaignStatus, DoNotCallEntry
from sessions.carrier.dial_gate import DialDecision
from sessions.models import CallSession, SessionKind

logger = logging.getLogger(__name__)

# A slot further away than this means a backlog (redelivered tasks, a sweep): dial after this
# wait rather than hold a worker for long; the dispatcher's buckets keep the average rate.
MAX_DIAL_WAIT_SECONDS = 3.0


def is_on_do_not_call_list(*, organization_id: int, phone_number: str) -> bool:
    return DoNotCallEntry.objects.filter(
        organization_id=organization_id, phone_number=phone_number
    ).exists()


def check_before_dial(session: CallSession, *, now: datetime | None = None) -> DialDecision:
    """Re-check the gate right before the carrier is asked to dial `session`.

    A refusal ends the session without a call (`sessions.carrier.placement`): as a do-not-call
    failure for `do_not_call`, otherwise `canceled` with `end_reason = "compliance:<reason>"`; the
    campaign's outcome handler then puts the contact back (rescheduled, or do-not-call) without
    counting the attempt. Test calls are checked against the do-not-call list and, unless their
    request overrode it, the legal calling window at the number.
    """
    moment = now or timezone.now()
    if is_on_do_not_call_list(
        organization_id=session.organization_id, phone_number=session.to_number
    ):
        return DialDecision(False, GateReason.DO_NOT_CALL.value)
    if session.kind == SessionKind.TEST:
        return _check_test_call_window(session, moment)
    if session.kind != SessionKind.CAMPAIGN or session.target_id is None:
        return DialDecision.allow()
    target = CampaignContact.objects.select_related("campaign", "contact").get(pk=session.target_id)
    campaign = target.campaign
    if campaign.status != CampaignStatus.RUNNING:
        return DialDecision(False, GateReason.CAMPAIGN_NOT_RUNNING.value)
    if not CallerId.objects.filter(
        organization_id=campaign.organization_id, phone_number=session.from_number
    ).exists():
        return DialDecision(False, GateReason.CALLER_ID_NOT_REGISTERED.value)
    schedule = Schedule.of(campaign)
    if schedule.end_at is not None and moment >= schedule.end_at:
        return DialDecision(False, GateReason.CAMPAIGN_ENDED.value)
    allowed_at = next_allowed_moment(callee=Callee.of(target.contact), schedule=schedule, at=moment)
    if allowed_at is None:
        return DialDecision(False, GateReason.NO_CALLING_WINDOW.value)
    if allowed_at > moment:
        return DialDecision(False, GateReason.OUTSIDE_CALLING_WINDOW.value)
    return DialDecision.allow()


def _check_test_call_window(session: CallSession, moment: datetime) -> DialDecision:
    # `session_test_call_create` checked the window when the call was requested and wrote
    # `calling_window` into the evidence; checked again here as for campaign calls (a request
    # at 20:59:59 must not ring at 21:00). An override recorded there holds.
    window = session.compliance.get("calling_window")
    if not isinstance(window, dict) or window.get("overridden"):
        return DialDecision.allow()
    callee = Callee.of_number(session.to_number)
    allowed_at = next_allowed_moment(callee=callee, schedule=LEGAL_SCHEDULE, at=moment)
    if allowed_at is None:
        return DialDecision(False, GateReason.NO_CALLING_WINDOW.value)
    if allowed_at > moment:
        return DialDecision(False, GateReason.OUTSIDE_CALLING_WINDOW.value)
    return DialDecision.allow()


def check_transfer_target(
    session: CallSession, number: str, *, person: bool = True, now: datetime | None = None
) -> DialDecision:
    """May `session`'s caller be handed to `number` now? Never to a number on the do-not-call
    list. A person (the default: a rep's own mobile) is rung only inside the legal calling
    window at the number, its local time from its country and area code as the dialler reads
    a contact's (`Callee.of_number`); a business line (a staffed desk or switchboard, as the
    script or campaign says) at any time. See docs/decisions.md, "ctl"."""
    if is_on_do_not_call_list(organization_id=session.organization_id, phone_number=number):
        return DialDecision(False, GateReason.DO_NOT_CALL.value)
    if not person:
        return DialDecision.allow()
    moment = now or timezone.now()
    allowed_at = next_allowed_moment(
        callee=Callee.of_number(number), schedule=LEGAL_SCHEDULE, at=moment
    )
    if allowed_at is None:
        return DialDecision(False, GateReason.NO_CALLING_WINDOW.value)
    if allowed_at > moment:
        return DialDecision(False, GateReason.OUTSIDE_CALLING_WINDOW.value)
    return DialDecision.allow()


def wait_for_dial_slot(session: CallSession, *, sleep: Callable[[float], None] = _sleep) -> float:
    """Space this create from the campaign's, the organization's (when an operator capped it)
    and the account's previous ones, so each cap holds in every wall-clock second.

    Runs in the placement worker outside any transaction, right before the carrier is asked.
    """
    organization_cap = (
        Organization.objects.filter(pk=session.organization_id)
        .values_list("max_calls_per_second", flat=True)
        .first()
    )
    buckets = [
        *pacing.account_buckets(),
        *pacing.organization_buckets(session.organization_id, organization_cap),
    ]
    if session.campaign_id is not None:
        cps = Campaign.objects.filter(pk=session.campaign_id).values_list(
            "calls_per_second", flat=True
        )
        rate = cps.first()
        if rate:
            buckets.append((pacing.campaign_bucket(session.campaign_id), float(rate)))
    delay = pacing.reserve_dial_slot(buckets=buckets, now=timezone.now())
    if delay > MAX_DIAL_WAIT_SECONDS:
        logger.warning("dialler.dial_slot_backlog session=%s wait=%.2f", session.pk, delay)
    wait = min(delay, MAX_DIAL_WAIT_SECONDS)
    if wait > 0:
        sleep(wait)
    return wait


class CampaignDialGate:
    """`sessions.carrier.dial_gate.DialGate` for campaign and test calls."""

    def check(self, session: CallSession) -> DialDecision:
        return check_before_dial(session)

    def check_transfer(
        self, session: CallSession, number: str, *, person: bool = True
    ) -> DialDecision:
        return check_transfer_target(session, number, person=person)

    def wait_for_slot(self, session: CallSession) -> float:
        return wait_for_dial_slot(session)
