"""Reads for the campaigns app. Tenant scoping is the caller's (the base viewset, the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, CharField, Count, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from campaigns.models import (
    BudgetState,
    CallerId,
    Campaign,
    CampaignContact,
    CampaignContactState,
    CampaignStats,
    CampaignStatus,
    Contact,
    ContactList,
    DiallingReason,
)
from sessions.models import CallbackStatus, CallSession, Outcome, ScheduledCallback


def campaign_list() -> QuerySet[Campaign]:
    # Stats are one row per campaign: joined, never aggregated over contacts. The list is
    # joined too: a campaign not started yet counts its list's contacts (`campaign_stats`).
    # The next dial's zone is read along (`next_dial`): the API lists tell it for every row.
    return with_next_dial_zone(
        Campaign.objects.select_related("caller_id", "stats", "contact_list")
    )


def campaign_sessions(*, campaign: Campaign) -> QuerySet[CallSession]:
    return CallSession.objects.filter(campaign=campaign)


def contact_list_contacts(*, contact_list: ContactList) -> QuerySet[Contact]:
    return Contact.objects.filter(contact_list=contact_list)


def contact_list_campaign_names(*, contact_list: ContactList) -> list[str]:
    return list(
        Campaign.objects.filter(contact_list=contact_list)
        .order_by("name")
        .values_list("name", flat=True)
    )


def caller_id_campaign_names(*, caller_id: CallerId) -> list[str]:
    return list(
        Campaign.objects.filter(caller_id=caller_id).order_by("name").values_list("name", flat=True)
    )


DIALLING_STATES = ("dialling", "waiting", "idle")
DIALLING_REASONS = (*DiallingReason.values, "paused", "scheduled", "budget")


@dataclass(frozen=True)
class Dialling:
    """Whether a campaign dials now, and if not why and until when (`GET /campaigns/:id`).

    `state`: "dialling" (its last tick placed calls, or it just started), "waiting" (running or
    paused but placing no call: `reason`), "idle" (not started, stopped or completed).
    `reason`: a `DiallingReason` the dispatcher noted, "paused", or "scheduled" (a start time
    ahead: `next_dial_at`). `waiting_for_capacity`: due contacts the last tick left queued
    because the deployment was at its live-call capacity.
    """

    state: str
    reason: str | None
    next_dial_at: datetime | None
    waiting_for_capacity: int


def campaign_dialling(campaign: Campaign) -> Dialling:
    if campaign.status == CampaignStatus.RUNNING:
        if not campaign.dialling_reason:
            return Dialling("dialling", None, None, 0)
        waiting = (
            campaign.dialling_waiting if campaign.dialling_reason == DiallingReason.CAPACITY else 0
        )
        return Dialling("waiting", campaign.dialling_reason, campaign.next_dial_at, waiting)
    if campaign.status == CampaignStatus.PAUSED:
        # Paused by the dialler at its budget (`campaigns.costs`), or by a person.
        reason = "budget" if campaign.budget_state == BudgetState.SPENT else "paused"
        return Dialling("waiting", reason, None, 0)
    if campaign.status == CampaignStatus.SCHEDULED:
        return Dialling("waiting", "scheduled", campaign.start_at, 0)
    return Dialling("idle", None, None, 0)


# The annotation `with_next_dial_zone` adds to each campaign.
NEXT_DIAL_ZONE = "next_dial_time_zone"


def _zone_expression() -> Any:
    due_contact = CampaignContact.objects.filter(
        campaign_id=OuterRef("pk"),
        state=CampaignContactState.PENDING,
        next_attempt_at=OuterRef("next_dial_at"),
    ).order_by("id")
    due_callback = ScheduledCallback.objects.filter(
        campaign_id=OuterRef("pk"), status=CallbackStatus.PENDING, at=OuterRef("next_dial_at")
    ).order_by("id")
    first_pending = CampaignContact.objects.filter(
        campaign_id=OuterRef("pk"), state=CampaignContactState.PENDING
    ).order_by("next_attempt_at", "id")
    first_listed = Contact.objects.filter(contact_list_id=OuterRef("contact_list_id"))
    zone = Coalesce(
        # COALESCE stops at the first non-null: the later look-ups run only when needed.
        Subquery(due_contact.values("contact__time_zone")[:1]),
        Subquery(due_callback.values("contact__time_zone")[:1]),
        Subquery(first_pending.values("contact__time_zone")[:1]),
        Subquery(first_listed.order_by("id").values("time_zone")[:1]),
        output_field=CharField(),
    )
    # Only campaigns that can have a next dial pay for the look-ups.
    return Case(
        When(status__in=[CampaignStatus.RUNNING, CampaignStatus.SCHEDULED], then=zone),
        default=Value(None),
        output_field=CharField(),
    )


def with_next_dial_zone(queryset: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """`queryset` with each campaign's next-dial zone read along (`next_dial_zone`)."""
    return queryset.annotate(**{NEXT_DIAL_ZONE: _zone_expression()})


def next_dial_zone(campaign: Campaign) -> str:
    """The zone to tell `campaign.next_dial_at` in: the contact's due then (`next_dial`)."""
    if hasattr(campaign, NEXT_DIAL_ZONE):
        zone = getattr(campaign, NEXT_DIAL_ZONE)
    else:
        zone = (
            with_next_dial_zone(Campaign.objects.filter(pk=campaign.pk))
            .values_list(NEXT_DIAL_ZONE, flat=True)
            .first()
        )
    return zone or settings.CAMPAIGNS_DEFAULT_TIME_ZONE


def _ratio(part: int, whole: int, digits: int) -> float:
    return round(part / whole, digits) if whole > 0 else 0.0


def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """The `stats` object of `campaign`. Until its first start fixes who takes part, the
    counters know no contacts: its list's contacts are the ones that would, all pending (the
    list's `contact_count`; join `contact_list` when reading many campaigns)."""
    try:
        stats: CampaignStats | None = campaign.stats
    except CampaignStats.DoesNotExist:
        stats = None
    waiting = campaign_dialling(campaign).waiting_for_capacity
    if campaign.materialize_until_id is None:
        return campaign_stats_payload(
            stats, contacts_total=campaign.contact_list.contact_count, waiting_for_capacity=waiting
        )
    return campaign_stats_payload(stats, waiting_for_capacity=waiting)


def campaign_stats_payload(
    stats: CampaignStats | None,
    *,
    contacts_total: int | None = None,
    waiting_for_capacity: int = 0,
) -> dict[str, Any]:
    """The `stats` object of a campaign, from its counters (O(1) at any size).

    `contacts_total` stands in for the counters' total (a campaign not started yet);
    `waiting_for_capacity` is the dispatcher's note on the campaign row (`campaign_dialling`)."""
    stats = stats or CampaignStats()
    total = stats.contacts_total if contacts_total is None else contacts_total
    # Contacts not materialised yet are waiting, like pending ones.
    unmaterialized = max(0, total - stats.contacts_materialized)
    pending = max(0, stats.pending) + unmaterialized
    finished = stats.completed + stats.failed + stats.do_not_call + stats.exhausted
    placed = stats.sessions_created - stats.sessions_skipped
    return {
        "contacts": {
            "total": total,
            "pending": pending,
            "inProgress": max(0, stats.in_progress),
            "completed": stats.completed,
            "failed": stats.failed,
            "doNotCall": stats.do_not_call,
            "exhausted": stats.exhausted,
            # Of the pending ones: due, but left queued for lack of live-call capacity.
            "waitingForCapacity": waiting_for_capacity,
        },
        "calls": {
            "placed": placed,
            "finished": stats.calls_finished,
            "answered": stats.calls_answered,
            "human": stats.answered_human,
            "machine": stats.answered_machine,
            "busy": stats.calls_busy,
            "noAnswer": stats.calls_no_answer,
            "failed": stats.calls_failed,
        },
        "outcomes": {
            _camel(outcome): getattr(stats, f"outcome_{outcome}") for outcome in Outcome.values
        },
        "talkTime": {
            "totalSeconds": stats.talk_seconds,
            "averageSeconds": round(stats.talk_seconds / stats.calls_answered, 1)
            if stats.calls_answered
            else 0.0,
        },
        # Of the calls that reached the carrier and ended, how many were picked up.
        "answerRate": _ratio(stats.calls_answered, stats.calls_finished, 4),
        "progressPercent": round(100 * _ratio(finished, total, 6), 1),
        "cost": (
            {
                "total": str(Decimal(stats.cost_total).quantize(Decimal("0.0001"))),
                "currency": stats.cost_currency or None,
                "calls": stats.cost_calls,
            }
            if stats.cost_calls
            else None
        ),
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- Charts on the campaign page ------------------------------------------------------------

HOURLY_CHART_HOURS = 24


@dataclass(frozen=True)
class OutcomeCount:
    outcome: str
    label: str
    count: int


@dataclass(frozen=True)
class HourCount:
    start: datetime  # aware, in the time zone the buckets were cut in
    count: int


def campaign_outcome_breakdown(*, campaign: Campaign) -> list[OutcomeCount]:
    """Finished calls by outcome, from the campaign's counters (O(1), the same numbers as the
    API's `stats.outcomes`), in the order of `Outcome`; outcomes never seen are left out."""
    try:
        stats: CampaignStats | None = campaign.stats
    except CampaignStats.DoesNotExist:
        stats = None
    if stats is None:
        return []
    counts = [
        OutcomeCount(outcome=value, label=str(label), count=getattr(stats, f"outcome_{value}"))
        for value, label in Outcome.choices
    ]
    return [item for item in counts if item.count > 0]


def campaign_hourly_calls(
    *,
    campaign: Campaign,
    now: datetime | None = None,
    hours: int = HOURLY_CHART_HOURS,
    tz: tzinfo | None = None,
) -> list[HourCount]:
    """Calls placed (handed to the carrier) per clock hour over the last `hours` hours, oldest
    first, every hour present (zeros included). The current, partial hour is the last bucket.

    Buckets are cut in `tz` (default: the admin's active time zone, settings.TIME_ZONE): a
    campaign calls contacts in many time zones, so there is no single "campaign time zone",
    and the admin shows every other timestamp in the active one too. One grouped query over
    the campaign's sessions placed in the window.
    """
    zone = tz or timezone.get_current_timezone()
    moment = (now or timezone.now()).astimezone(zone)
    last = moment.replace(minute=0, second=0, microsecond=0)
    # Whole hours in `zone`; stepping in UTC keeps DST days at their true length.
    starts = [
        (last.astimezone(UTC) - timedelta(hours=offset)).astimezone(zone)
        for offset in range(hours - 1, -1, -1)
    ]
    counted = dict(
        CallSession.objects.filter(
            campaign=campaign, placed_at__gte=starts[0], placed_at__lte=moment
        )
        .annotate(hour=TruncHour("placed_at", tzinfo=zone))
        .values_list("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    by_instant = {hour.astimezone(UTC): n for hour, n in counted.items()}
    return [
        HourCount(start=start, count=by_instant.get(start.astimezone(UTC), 0)) for start in starts
    ]
