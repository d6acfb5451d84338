"""The dialler: every second, claim due contacts of running campaigns and queue their calls.

Each tick first plans how many calls each organization's callbacks and each campaign may claim
(`fair_share`: the carrier account's calls this second split fairly between organizations, then
between an organization's campaigns; `_plan_tick`), then claims. The plan bounds what a claim
asks for; the buckets of step 4 are what holds every cap.

One claim transaction per campaign:
1. lock the campaign row (FOR NO KEY UPDATE): dispatchers take turns per campaign, and a
   pause or stop waits for the claim in flight, then no new claim sees `running`;
2. free concurrency = max_concurrent_calls - the campaign's sessions still queued, initiated,
   ringing or in progress (counted under that lock, so two dispatchers cannot both fill it),
   and no more than the deployment's free live-call capacity (`dialling.capacity`: live
   sessions of every campaign, callback and test call, counted under one deployment-wide lock);
   contacts left out for capacity stay pending, untouched, and go first when a slot frees;
3. lock due pending contacts (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
   serialises writers instead);
4. take tokens for up to that many calls (and no more than the plan's share) from the
   campaign's, the organization's (when capped) and the account's CPS buckets,
   then run the compliance gate on contacts until the tokens are used: DNC → `do_not_call`,
   attempts used up → `exhausted`, outside the calling window → rescheduled to the next allowed
   local moment, no window at all → `failed`; unused tokens go back;
5. for each granted contact: state → in_progress, attempts += 1, and a queued `CallSession`
   with attempt_number = attempts. The unique (target, attempt_number) constraint makes a
   second session for the same attempt impossible, whatever the queue redelivers;
6. after commit, enqueue `session_place_call_task` for each new session;
7. note on the campaign row why the tick placed no call, if it did not (`DiallingReason`:
   capacity, pacing, window, nothing due), read by `GET /campaigns/:id` as `dialling`.

A contact with a pending scheduled callback in the campaign is not claimed: the callback is its
next call (whoever asked for it, the callee on the call or a person).

Scheduled callbacks (`claim_due_callbacks`, same tick, before the campaigns): due pending
callbacks of campaigns in any status but paused (a completed campaign's callbacks still happen;
a stopped campaign's are skipped), re-checked for do-not-call and the calling window, become
`callback` sessions within the free live-call capacity (the rest stay pending and due). When
the contact is still pending in the campaign, the callback claims it (pending → in_progress,
attempts + 1) and the session is that attempt (`target`, `attempt_number`), so the campaign's
outcome handler applies it; otherwise it is a call outside the contact's attempts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet
from django.utils import timezone

from anvil_voice.errors import InvalidState
from anvil_voice.state_machine import transition
from campaigns import best_time, costs
from campaigns.compliance import GateReason, Schedule, evaluate
from campaigns.dialling import capacity, fair_share, pacing
from campaigns.experiments import experiment_arm_chooser
from campaigns.models import (
    CAMPAIGN_CONTACT_STATES,
    Campaign,
    CampaignContact,
    CampaignContactState,
    CampaignStats,
    CampaignStatus,
    DiallingReason,
    DoNotCallEntry,
)
from campaigns.services import lifecycle
from scripts.models import ScriptVersion
from sessions.models import (
    CALLBACK_STATES,
    LIVE_CALL_STATUSES,
    CallbackStatus,
    CallEvent,
    CallSession,
    ScheduledCallback,
    SessionKind,
)
from sessions.selectors import live_call_count
from sessions.tasks import session_place_call_task

logger = logging.getLogger("campaigns.dialler")

ACTIVE_CALL_STATUSES = LIVE_CALL_STATUSES
# Contacts looked at per claim beyond the free slots: some will be out of their window.
SCAN_FACTOR = 4
SCAN_MIN = 20
SCAN_MAX = 1000
# Due contacts counted as waiting for capacity, at most: the count runs every tick for every
# campaign that waits (an index range scan each), and past this "1 000 waiting" says enough.
WAITING_COUNT_MAX = 1_000


@dataclass
class ClaimResult:
    session_ids: list[int] = field(default_factory=list)
    rescheduled: int = 0
    do_not_call: int = 0
    exhausted: int = 0
    failed: int = 0


def _enqueue_placement(session_ids: list[int]) -> None:
    for session_id in session_ids:
        session_place_call_task.delay(session_id)


def _due_contacts(campaign_id: int, *, now: datetime) -> QuerySet[CampaignContact]:
    return CampaignContact.objects.filter(
        campaign_id=campaign_id,
        state=CampaignContactState.PENDING,
        next_attempt_at__lte=now,
    ).exclude(
        # Waiting for a scheduled callback: that callback is the contact's next call.
        Exists(
            ScheduledCallback.objects.filter(
                campaign_id=campaign_id,
                contact_id=OuterRef("contact_id"),
                status=CallbackStatus.PENDING,
            )
        )
    )


def _note_dialling(
    campaign: Campaign,
    *,
    reason: str,
    now: datetime,
    waiting: int = 0,
    next_dial_at: datetime | None = None,
) -> None:
    """Record why this tick placed no call (`reason`) or that it placed some (blank).

    The campaign row is locked by the claim; it is written only when something changed, so a
    campaign waiting for hours costs no write a second."""
    changes: dict[str, Any] = {}
    if reason == DiallingReason.NOTHING_DUE and campaign.dialling_reason == DiallingReason.WINDOW:
        # The window's reschedule is what left nothing due: still the reason, until it opens.
        reason = DiallingReason.WINDOW
    if (campaign.dialling_reason, campaign.dialling_waiting, campaign.next_dial_at) != (
        reason,
        waiting,
        next_dial_at,
    ):
        changes.update(dialling_reason=reason, dialling_waiting=waiting, next_dial_at=next_dial_at)
    if not reason:
        changes["last_dialled_at"] = now
    if changes:
        Campaign.objects.filter(pk=campaign.pk).update(**changes)


def _next_due(campaign_id: int, *, now: datetime) -> datetime | None:
    """When the campaign calls someone next: its next pending contact's due time (a retry, a
    window opening) or its next scheduled callback, whichever comes first; None if neither."""
    contact_due = (
        CampaignContact.objects.filter(
            campaign_id=campaign_id, state=CampaignContactState.PENDING, next_attempt_at__gt=now
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    callback_due = (
        ScheduledCallback.objects.filter(campaign_id=campaign_id, status=CallbackStatus.PENDING)
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )
    moments = [moment for moment in (contact_due, callback_due) if moment is not None]
    return min(moments) if moments else None


def claim_due_contacts(*, campaign_id: int, now: datetime, share: int | None = None) -> ClaimResult:
    """Claim the campaign's due contacts; at most `share` calls when the tick's fair-share plan
    gave it one (`fair_share`; None: only the buckets limit it)."""
    result = ClaimResult()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(no_key=True, of=("self",))
            .select_related("caller_id", "script", "organization")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            return result
        # Its budget (`campaigns.costs`): spent → paused here; near it → half pace.
        pace = costs.campaign_budget_pace(campaign, now=now)
        if pace is None:
            return result
        due = _due_contacts(campaign.pk, now=now)
        # Unlocked look first: an idle campaign takes no deployment-wide lock.
        if not due.exists():
            _note_dialling(
                campaign,
                reason=DiallingReason.NOTHING_DUE,
                now=now,
                next_dial_at=_next_due(campaign.pk, now=now),
            )
            return result
        active = CallSession.objects.filter(
            campaign_id=campaign.pk, status__in=ACTIVE_CALL_STATUSES
        ).count()
        free = costs.paced(campaign.max_concurrent_calls, pace) - active
        if free <= 0:
            _note_dialling(campaign, reason=DiallingReason.PACING, now=now)
            return result
        # Counted under the deployment-wide lock, held until this transaction commits its
        # sessions; taken before the contact rows (the lock order in `dialling.capacity`).
        free_deployment = capacity.free_live_calls(now=now)
        if free_deployment <= 0:
            # The due contacts stay pending as they are: no attempt used, first in line later.
            waiting = due[:WAITING_COUNT_MAX].count()
            _note_dialling(campaign, reason=DiallingReason.CAPACITY, now=now, waiting=waiting)
            return result
        free = min(free, free_deployment)
        if share is not None:
            if share <= 0:
                # The account's calls this tick went to other tenants (or to this one's other
                # campaigns) by the fair-share plan: a pacing wait, like an empty bucket.
                _note_dialling(campaign, reason=DiallingReason.PACING, now=now)
                return result
            free = min(free, share)
        scan = min(max(free * SCAN_FACTOR, SCAN_MIN), SCAN_MAX)
        candidates = list(
            best_time.order_due(due, campaign=campaign, now=now)
            .select_related("contact")
            .select_for_update(skip_locked=True, of=("self",))[:scan]
        )
        if not candidates:
            return result  # locked by another dispatcher, which is dialling them
        listed = set(
            DoNotCallEntry.objects.filter(
                organization_id=campaign.organization_id,
                phone_number__in=[target.contact.phone_number for target in candidates],
            ).values_list("phone_number", flat=True)
        )
        buckets = [
            (pacing.campaign_bucket(campaign.pk), float(campaign.calls_per_second) * pace),
            *pacing.organization_buckets(
                campaign.organization_id, campaign.organization.max_calls_per_second
            ),
            *pacing.account_buckets(),
        ]
        # Tokens first, so the gate runs only for as many contacts as may be dialled now;
        # what the gate turns away is given back below (the bucket rows stay locked by us).
        budget = pacing.take_tokens(want=min(free, len(candidates)), buckets=buckets, now=now)
        if budget <= 0:
            _note_dialling(campaign, reason=DiallingReason.PACING, now=now)
            return result
        schedule = Schedule.of(campaign)
        allowed: list[tuple[CampaignContact, dict[str, Any]]] = []
        # Rows moved on without a call, grouped by what they become: one UPDATE per group.
        moved: dict[tuple[str, str, datetime | None], list[int]] = defaultdict(list)
        window_opens: datetime | None = None  # the earliest reschedule, if any
        for target in candidates:
            if len(allowed) >= budget:
                break  # the rest stay as they are for the next tick
            decision = evaluate(
                contact=target.contact,
                schedule=schedule,
                now=now,
                on_do_not_call_list=target.contact.phone_number in listed,
                counted_attempts=target.counted_attempts,
                max_attempts=campaign.max_attempts,
                callback_requested=target.last_outcome == "callback_requested",
            )
            if decision.allowed:
                allowed.append((target, decision.evidence))
                continue
            if decision.reason == GateReason.DO_NOT_CALL:
                moved[(CampaignContactState.DO_NOT_CALL, "do_not_call", None)].append(target.pk)
                result.do_not_call += 1
            elif decision.reason == GateReason.ATTEMPTS_EXHAUSTED:
                moved[(CampaignContactState.EXHAUSTED, target.last_outcome, None)].append(target.pk)
                result.exhausted += 1
            elif decision.reason == GateReason.NO_CALLING_WINDOW:
                moved[(CampaignContactState.FAILED, "no_calling_window", None)].append(target.pk)
                result.failed += 1
            elif decision.reason == GateReason.OUTSIDE_CALLING_WINDOW:
                # Contacts in one zone share their next opening: few distinct values.
                key = (CampaignContactState.PENDING, target.last_outcome, decision.next_allowed_at)
                moved[key].append(target.pk)
                result.rescheduled += 1
                if decision.next_allowed_at is not None:
                    window_opens = min(
                        window_opens or decision.next_allowed_at, decision.next_allowed_at
                    )
            # CAMPAIGN_ENDED: the dispatcher stops the campaign; the contact stays pending.

        pacing.return_tokens(count=budget - len(allowed), buckets=buckets)
        claimed = allowed
        sessions: list[CallSession] = []
        if claimed:
            script_version = ScriptVersion.objects.get(
                script_id=campaign.script_id, number=campaign.script.version
            )
            # A campaign running a script experiment: each call gets an arm's version and voice.
            choose_arm = experiment_arm_chooser(campaign=campaign, now=now)
            for target, evidence in claimed:
                arm = choose_arm() if choose_arm is not None else None
                # The row is locked by us: attempts + 1 is what the UPDATE below will store.
                target.attempts += 1
                evidence["rules"].append(
                    {
                        "rule": "caller-id",
                        "result": f"{campaign.caller_id.phone_number} is registered to the "
                        "organization",
                    }
                )
                sessions.append(
                    CallSession(
                        organization_id=campaign.organization_id,
                        kind=SessionKind.CAMPAIGN,
                        campaign_id=campaign.pk,
                        target=target,
                        contact=target.contact,
                        attempt_number=target.attempts,
                        script_version=arm.script_version if arm else script_version,
                        voice_id=arm.voice_id if arm else campaign.voice_id,
                        experiment_arm=arm,
                        to_number=target.contact.phone_number,
                        from_number=campaign.caller_id.phone_number,
                        variables=target.contact.template_variables(),
                        compliance=evidence,
                        queued_at=now,
                        created_at=now,
                    )
                )
        for (state, last_outcome, next_attempt_at), ids in moved.items():
            # Only rows still pending move (they are locked by us, so all of them do).
            rows = CampaignContact.objects.filter(pk__in=ids, state=CampaignContactState.PENDING)
            changes: dict[str, Any] = {"last_outcome": last_outcome, "updated_at": now}
            if next_attempt_at is not None:
                changes["next_attempt_at"] = next_attempt_at
            if state == CampaignContactState.PENDING:
                rows.update(**changes)  # rescheduled: still pending, not a transition
            else:
                transition(rows, machine=CAMPAIGN_CONTACT_STATES, to=state, updates=changes)
        if claimed:
            transition(
                CampaignContact.objects.filter(
                    pk__in=[target.pk for target, _ in claimed],
                    state=CampaignContactState.PENDING,
                ),
                machine=CAMPAIGN_CONTACT_STATES,
                to=CampaignContactState.IN_PROGRESS,
                updates={"attempts": F("attempts") + 1, "updated_at": now},
            )
        created = CallSession.objects.bulk_create(sessions) if sessions else []
        result.session_ids = [session.pk for session in created]
        left_pending = len(result.session_ids) + result.do_not_call + result.exhausted
        left_pending += result.failed
        if left_pending:
            CampaignStats.objects.filter(campaign_id=campaign.pk).update(
                pending=F("pending") - left_pending,
                in_progress=F("in_progress") + len(result.session_ids),
                do_not_call=F("do_not_call") + result.do_not_call,
                exhausted=F("exhausted") + result.exhausted,
                failed=F("failed") + result.failed,
                sessions_created=F("sessions_created") + len(result.session_ids),
            )
        if result.session_ids:
            _note_dialling(campaign, reason="", now=now)
            session_ids = list(result.session_ids)
            transaction.on_commit(lambda: _enqueue_placement(session_ids))
        elif window_opens is not None:
            _note_dialling(
                campaign, reason=DiallingReason.WINDOW, now=now, next_dial_at=window_opens
            )
    if result.session_ids or result.rescheduled:
        logger.info(
            "dialler.claimed campaign=%s sessions=%d rescheduled=%d",
            campaign_id,
            len(result.session_ids),
            result.rescheduled,
        )
    return result


# Due callbacks looked at per tick (they are few; the rest wait for the next second).
CALLBACK_BATCH = 100


def _callback_gate(callback: ScheduledCallback, *, now: datetime, listed: bool) -> Any:
    """The campaign gate for a callback: do-not-call and the calling window, without the
    attempt cap (a callback is not one of the campaign's attempts) or the campaign's end."""
    schedule = dataclasses.replace(Schedule.of(callback.campaign), end_at=None)
    decision = evaluate(
        contact=callback.contact,
        schedule=schedule,
        now=now,
        on_do_not_call_list=listed,
        counted_attempts=0,
        max_attempts=1,
    )
    if decision.allowed:
        rules = decision.evidence["rules"]
        rules[:] = [rule for rule in rules if rule["rule"] != "attempt-cap"]
        rules.append(
            {
                "rule": "scheduled-callback",
                "result": f"callback {callback.pk} from session {callback.source_session_id}, "
                "outside the campaign's attempt cap",
            }
        )
        rules.append(
            {
                "rule": "caller-id",
                "result": f"{callback.campaign.caller_id.phone_number} is registered to the "
                "organization",
            }
        )
    return decision


def claim_due_callbacks(*, now: datetime, shares: Mapping[int, int] | None = None) -> ClaimResult:
    """Turn due pending callbacks into queued `callback` sessions, each at most once.

    Each organization's callbacks take from the account's bucket and the organization's own
    (when capped), at most `shares[organization id]` of them when the tick's fair-share plan
    gave shares (None: only the buckets limit them).

    Rows are locked with SKIP LOCKED on PostgreSQL; on every backend the pending → placed move
    is a conditional UPDATE done before the session is created, in the same transaction, so a
    second dispatcher (or SQLite's unlocked read) finds nothing left to place.
    """
    result = ClaimResult()
    with transaction.atomic():
        due = list(
            _due_callbacks()
            .filter(at__lte=now)
            .select_related(
                "organization", "campaign", "campaign__caller_id", "campaign__script", "contact"
            )
            .order_by("at", "id")
            .select_for_update(skip_locked=True, of=("self",))[:CALLBACK_BATCH]
        )
        if not due:
            return result
        listed = set(
            DoNotCallEntry.objects.filter(
                organization_id__in={callback.organization_id for callback in due},
                phone_number__in={callback.contact.phone_number for callback in due},
            ).values_list("organization_id", "phone_number")
        )
        # A contact on a call right now (a campaign attempt, say) is called back next tick.
        on_a_call = set(
            CallSession.objects.filter(
                contact_id__in={callback.contact_id for callback in due},
                status__in=ACTIVE_CALL_STATUSES,
            ).values_list("contact_id", flat=True)
        )
        allowed: list[tuple[ScheduledCallback, dict[str, Any]]] = []
        for callback in due:
            if callback.campaign.status == CampaignStatus.STOPPED:
                _skip_callback(callback, reason="campaign_stopped", now=now)
                result.failed += 1
                continue
            key = (callback.organization_id, callback.contact.phone_number)
            decision = _callback_gate(callback, now=now, listed=key in listed)
            if decision.reason == GateReason.DO_NOT_CALL:
                _skip_callback(callback, reason="do_not_call", now=now)
                result.do_not_call += 1
            elif decision.reason == GateReason.NO_CALLING_WINDOW:
                _skip_callback(callback, reason="no_calling_window", now=now)
                result.failed += 1
            elif decision.reason == GateReason.OUTSIDE_CALLING_WINDOW:
                # The rules or the contact changed since it was scheduled: the next opening.
                ScheduledCallback.objects.filter(pk=callback.pk).update(
                    at=decision.next_allowed_at, updated_at=now
                )
                result.rescheduled += 1
            elif decision.allowed and callback.contact_id not in on_a_call:
                allowed.append((callback, decision.evidence))
        if allowed:
            # Callbacks are calls too: within the deployment's capacity (the rest stay pending
            # and due, placed first at a later tick: `dispatch_due` runs them before campaigns).
            allowed = allowed[: capacity.free_live_calls(now=now)]
        # Per organization: its callbacks count against its share and its cap.
        by_organization: dict[int, list[tuple[ScheduledCallback, dict[str, Any]]]] = {}
        for callback, evidence in allowed:
            by_organization.setdefault(callback.organization_id, []).append((callback, evidence))
        granted: list[tuple[ScheduledCallback, dict[str, Any]]] = []
        taken: dict[int, tuple[int, list[tuple[str, float]]]] = {}
        for organization_id, callbacks in by_organization.items():
            want = len(callbacks)
            if shares is not None:
                want = min(want, shares.get(organization_id, 0))
            buckets = [
                *pacing.organization_buckets(
                    organization_id, callbacks[0][0].organization.max_calls_per_second
                ),
                *pacing.account_buckets(),
            ]
            count = pacing.take_tokens(want=want, buckets=buckets, now=now)
            taken[organization_id] = (count, buckets)
            granted.extend(callbacks[:count])
        placed_by_organization: dict[int, int] = defaultdict(int)
        versions: dict[int, ScriptVersion] = {}
        for callback, evidence in granted:
            placed = transition(
                ScheduledCallback.objects.filter(pk=callback.pk, status=CallbackStatus.PENDING),
                machine=CALLBACK_STATES,
                to=CallbackStatus.PLACED,
                updates={"updated_at": now},
            )
            if not placed:
                continue  # placed or cancelled by someone else meanwhile
            campaign = callback.campaign
            if campaign.pk not in versions:
                versions[campaign.pk] = ScriptVersion.objects.get(
                    script_id=campaign.script_id, number=campaign.script.version
                )
            # Still pending in the campaign: this call is the contact's next attempt. Otherwise
            # (finished there, or no campaign contact) it is outside the contact's attempts.
            target = _claim_contact_for_callback(callback, now=now)
            if target is not None:
                evidence["rules"].append(
                    {
                        "rule": "campaign-attempt",
                        "result": f"attempt {target.attempts} of the contact in the campaign",
                    }
                )
            session = CallSession.objects.create(
                organization_id=callback.organization_id,
                kind=SessionKind.CALLBACK,
                campaign_id=campaign.pk,
                target=target,
                attempt_number=target.attempts if target is not None else 1,
                contact=callback.contact,
                script_version=versions[campaign.pk],
                voice_id=campaign.voice_id,
                to_number=callback.contact.phone_number,
                from_number=campaign.caller_id.phone_number,
                variables=callback.contact.template_variables(),
                compliance=evidence,
                queued_at=now,
                created_at=now,
            )
            ScheduledCallback.objects.filter(pk=callback.pk).update(placed_session=session)
            CallEvent.objects.create(
                session=session,
                kind="callback.placed",
                data={
                    "callback": callback.pk,
                    "sourceSession": callback.source_session_id,
                    "scheduledAt": callback.at.isoformat(),
                    "note": callback.note,
                },
                at=now,
            )
            result.session_ids.append(session.pk)
            placed_by_organization[callback.organization_id] += 1
        for organization_id, (count, buckets) in taken.items():
            unused = count - placed_by_organization[organization_id]
            pacing.return_tokens(count=unused, buckets=buckets)
        if result.session_ids:
            session_ids = list(result.session_ids)
            transaction.on_commit(lambda: _enqueue_placement(session_ids))
    if result.session_ids or result.rescheduled or result.do_not_call or result.failed:
        logger.info(
            "dialler.callbacks sessions=%d rescheduled=%d do_not_call=%d skipped=%d",
            len(result.session_ids),
            result.rescheduled,
            result.do_not_call,
            result.failed,
        )
    return result


def _claim_contact_for_callback(
    callback: ScheduledCallback, *, now: datetime
) -> CampaignContact | None:
    """Move the callback's campaign contact pending → in_progress (attempts + 1) if it is still
    pending; None when it is not (finished in the campaign, or on a call)."""
    if callback.target_id is None:
        return None
    target = CampaignContact.objects.filter(
        pk=callback.target_id, state=CampaignContactState.PENDING
    ).first()
    if target is None:
        return None
    if not transition(
        CampaignContact.objects.filter(
            pk=target.pk, state=CampaignContactState.PENDING, attempts=target.attempts
        ),
        machine=CAMPAIGN_CONTACT_STATES,
        to=CampaignContactState.IN_PROGRESS,
        updates={"attempts": F("attempts") + 1, "updated_at": now},
    ):
        return None
    target.attempts += 1
    target.state = CampaignContactState.IN_PROGRESS
    CampaignStats.objects.filter(campaign_id=target.campaign_id).update(
        pending=F("pending") - 1,
        in_progress=F("in_progress") + 1,
        sessions_created=F("sessions_created") + 1,
    )
    return target


def _skip_callback(callback: ScheduledCallback, *, reason: str, now: datetime) -> None:
    transition(
        ScheduledCallback.objects.filter(pk=callback.pk, status=CallbackStatus.PENDING),
        machine=CALLBACK_STATES,
        to=CallbackStatus.SKIPPED,
        updates={"skip_reason": reason, "updated_at": now},
    )


@dataclass(frozen=True)
class _Running:
    """A running campaign as the tick's plan sees it."""

    pk: int
    organization_id: int
    calls_per_second: float
    max_concurrent_calls: int
    organization_cap: Decimal | None
    last_dialled_at: datetime | None


def _due_callbacks() -> QuerySet[ScheduledCallback]:
    # Paused: held until the campaign runs again (or completes); the rest go ahead.
    return ScheduledCallback.objects.filter(status=CallbackStatus.PENDING).exclude(
        campaign__status=CampaignStatus.PAUSED
    )


def _plan_tick(
    running: list[_Running], *, now: datetime, with_callbacks: bool = True
) -> fair_share.Plan:
    """What each organization's callbacks and each campaign may claim this tick (`fair_share`).

    Read without locks: a plan, not a grant. A few cheap queries a tick: the buckets, live
    calls per campaign, due callbacks per organization, and per campaign a due count bounded by
    what it could dial anyway (its CPS burst), so a million pending contacts cost no more."""
    demands: dict[int, fair_share.OrganizationDemand] = defaultdict(fair_share.OrganizationDemand)
    caps: dict[int, Decimal | None] = {
        item.organization_id: item.organization_cap for item in running
    }
    # Who dialled longest ago gets the calls equal shares leave over (an organization: when
    # its campaigns last did; its callbacks alone count as never).
    organization_dialled: dict[int, datetime | None] = {}
    for item in running:
        latest = organization_dialled.get(item.organization_id)
        moments = [moment for moment in (latest, item.last_dialled_at) if moment is not None]
        organization_dialled[item.organization_id] = max(moments) if moments else None
    if with_callbacks:
        due = (
            _due_callbacks()
            .filter(at__lte=now)
            .values("organization_id", "organization__max_calls_per_second")
            .annotate(count=Count("pk"))
        )
        for row in due:
            demands[row["organization_id"]].callbacks = min(row["count"], CALLBACK_BATCH)
            caps[row["organization_id"]] = row["organization__max_calls_per_second"]
            organization_dialled.setdefault(row["organization_id"], None)
    buckets = [
        *pacing.account_buckets(),
        *[(pacing.campaign_bucket(item.pk), item.calls_per_second) for item in running],
        *[bucket for org, cap in caps.items() for bucket in pacing.organization_buckets(org, cap)],
    ]
    available = pacing.available_tokens(buckets=buckets, now=now)
    live = dict(
        CallSession.objects.filter(
            campaign_id__in=[item.pk for item in running], status__in=ACTIVE_CALL_STATUSES
        )
        .values("campaign_id")
        .annotate(count=Count("pk"))
        .values_list("campaign_id", "count")
    )
    turn = int(now.timestamp())  # moves the rotation of ties on by one each tick
    by_organization: dict[int, dict[int, _Running]] = defaultdict(dict)
    for item in running:
        by_organization[item.organization_id][item.pk] = item
    for org, campaigns in by_organization.items():
        dialled = {pk: item.last_dialled_at for pk, item in campaigns.items()}
        for pk in fair_share.turn_order(dialled, turn=turn):
            item = campaigns[pk]
            could = min(
                available[pacing.campaign_bucket(pk)],
                item.max_concurrent_calls - live.get(pk, 0),
            )
            if could > 0:
                could = _due_contacts(pk, now=now)[:could].count()
            demands[org].campaigns[pk] = max(0, could)
    for org, cap in caps.items():
        if cap is not None:
            demands[org].cap = available[pacing.organization_bucket(org)]
    budget = min(
        available[pacing.ACCOUNT_BUCKET], capacity.deployment_capacity() - live_call_count()
    )
    organizations = {
        org: demands[org] for org in fair_share.turn_order(organization_dialled, turn=turn)
    }
    return fair_share.plan_tick(budget=budget, organizations=organizations)


def dispatch_due(*, now: datetime | None = None) -> int:
    """One dispatcher tick over every running campaign; returns how many calls it queued."""
    moment = now or timezone.now()
    lifecycle.campaign_start_due(now=moment)
    # The campaign that placed a call longest ago claims first: when capacity is short (the
    # plan counts it unlocked; claims count it under the lock), slots go round the campaigns.
    rows = (
        Campaign.objects.filter(status=CampaignStatus.RUNNING)
        .order_by(F("last_dialled_at").asc(nulls_first=True), "pk")
        .values_list(
            "pk",
            "end_at",
            "organization_id",
            "calls_per_second",
            "max_concurrent_calls",
            "organization__max_calls_per_second",
            "last_dialled_at",
        )
    )
    running: list[_Running] = []
    for pk, end_at, organization_id, cps, concurrency, organization_cap, dialled in list(rows):
        try:
            if end_at is not None and moment >= end_at:
                _stop_at_end(pk)
                continue
            lifecycle.campaign_materialize_batch(campaign_id=pk, now=moment)
            running.append(
                _Running(pk, organization_id, float(cps), concurrency, organization_cap, dialled)
            )
        except Exception:
            # One campaign's failure (a lock timeout, bad data) must not starve the others.
            logger.exception("dialler.campaign_failed campaign=%s", pk)
    plan = _plan_tick(running, now=moment)
    claimed = 0
    # Callbacks first: each was promised for a time, and under capacity the campaigns' new
    # attempts could otherwise take every slot that frees.
    try:
        claimed += len(claim_due_callbacks(now=moment, shares=plan.callbacks).session_ids)
    except Exception:
        logger.exception("dialler.callbacks_failed")
    full: list[_Running] = []
    unused = plan.unshared  # grows by what each claim leaves of its share
    for item in running:
        share = plan.campaign_share(item.pk)
        try:
            result = claim_due_contacts(campaign_id=item.pk, now=moment, share=share)
            claimed += len(result.session_ids)
            lifecycle.campaign_complete_if_finished(campaign_id=item.pk, now=moment)
        except Exception:
            logger.exception("dialler.campaign_failed campaign=%s", item.pk)
            continue
        unused += share - len(result.session_ids)
        if share > 0 and len(result.session_ids) >= share and plan.held_back(item.pk):
            full.append(item)
    # Calls a share left unused (the gate rescheduled contacts outside their window, a
    # concurrent dispatcher got there first) go, planned the same way, to the campaigns that
    # used all of theirs and wanted more: the account's second is not wasted. Nobody held back
    # (the account was not the limit): no second pass.
    if full and unused > 0:
        claimed += _claim_leftover(full, now=moment)
    return claimed


def _claim_leftover(running: list[_Running], *, now: datetime) -> int:
    plan = _plan_tick(running, now=now, with_callbacks=False)
    claimed = 0
    for item in running:
        share = plan.campaign_share(item.pk)
        if share <= 0:
            continue
        try:
            result = claim_due_contacts(campaign_id=item.pk, now=now, share=share)
            claimed += len(result.session_ids)
        except Exception:
            logger.exception("dialler.campaign_failed campaign=%s", item.pk)
    return claimed


def _stop_at_end(campaign_id: int) -> None:
    campaign = Campaign.objects.get(pk=campaign_id)
    # Paused or stopped meanwhile: nothing to do.
    with contextlib.suppress(InvalidState):
        lifecycle.campaign_stop(
            campaign=campaign, actor=lifecycle.Actor.named("dispatcher: end time reached")
        )
