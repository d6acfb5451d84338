"""A campaign's cost (issue 19 part 3): what it spent per connected call and per success, by
script version and by hour, and its budget.

Spend is the sum of its calls' costs (`sessions.costs`), kept in `CampaignStats.cost_total` by
the outcome handler in the transaction that applies each finished call, so the budget check
reads one row; calls that ended and are not applied yet (a conversation still closing) are
added from the sessions (their price, or their carrier minutes before they are priced). Calls
still live are not counted: a campaign can end past its budget by at most what its live calls
cost (bounded by its concurrency), never by a new call placed after the budget was spent.

The budget, checked by the dialler under the campaign's lock before every claim
(`campaign_budget_pace`):

- below `CAMPAIGNS_BUDGET_SLOW_PERCENT` (default 90 %) of it: full pace;
- from there: half pace (half the concurrent calls, half the calls per second), and the
  dialling line says why;
- all of it spent: the campaign pauses (a `CampaignTransition` by "budget"), and its dialling
  state reads `paused` with the reason `budget`. Resuming it without raising the budget pauses
  it again at the next tick, with the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncHour

from anvil_voice.errors import ApplicationError, InvalidState
from anvil_voice.pricing import billed_minutes
from campaigns.models import BudgetState, Campaign, CampaignStats, CampaignStatus
from campaigns.services import lifecycle
from sessions.models import CallSession, Outcome, SessionKind

BUDGET_ACTOR = "budget"
CENTS = Decimal("0.0001")
MAX_BUDGET = Decimal("9999999999.99")


# --- the budget -------------------------------------------------------------------------------
def budget_state_for(*, amount: Decimal | None, spent: Decimal) -> str:
    """Where `spent` stands against a budget of `amount` (blank: no budget, or well under)."""
    if amount is None:
        return ""
    if spent >= amount:
        return BudgetState.SPENT
    if spent * 100 >= amount * settings.CAMPAIGNS_BUDGET_SLOW_PERCENT:
        return BudgetState.SLOW
    return ""


def _spent(campaign_id: int) -> Decimal:
    value = (
        CampaignStats.objects.filter(campaign_id=campaign_id)
        .values_list("cost_total", flat=True)
        .first()
    )
    return Decimal(value or 0)


def _ended_not_applied(campaign_id: int) -> Decimal:
    """What the campaign's calls that ended but are not in its counters yet cost: their price,
    or before they are priced (a conversation still closing), their carrier minutes at the
    table's price. Without it, the seconds between a call's end and its outcome let the dialler
    place another call past the budget. Reads the pending-outcome partial index."""
    pending = CallSession.objects.filter(
        campaign_id=campaign_id,
        target__isnull=False,
        outcome_applied_at__isnull=True,
        ended_at__isnull=False,
    ).values_list("cost", "carrier", "duration_seconds")
    total = Decimal("0")
    for cost, carrier, seconds in pending:
        if cost is not None:
            total += Decimal(cost)
            continue
        per_minute = settings.COST_PRICES.get(carrier, {}).get("per_minute", Decimal("0"))
        total += billed_minutes(int(seconds or 0)) * per_minute
    return total


def campaign_budget_pace(campaign: Campaign, *, now: datetime) -> float | None:
    """The share of its pacing the campaign may use now: 1, 0.5 near its budget, or None when
    its budget is spent (the campaign is paused here, inside the caller's transaction).

    Called by the dialler's claim with the campaign row locked; no query without a budget."""
    if campaign.budget_amount is None:
        if campaign.budget_state:
            Campaign.objects.filter(pk=campaign.pk).update(budget_state="")
        return 1.0
    spent = _spent(campaign.pk) + _ended_not_applied(campaign.pk)
    state = budget_state_for(amount=campaign.budget_amount, spent=spent)
    if state != campaign.budget_state:
        Campaign.objects.filter(pk=campaign.pk).update(budget_state=state)
        campaign.budget_state = state
    if state == BudgetState.SPENT:
        lifecycle.campaign_transition(
            campaign=campaign,
            to=CampaignStatus.PAUSED,
            actor=lifecycle.Actor.named(BUDGET_ACTOR),
            now=now,
        )
        return None
    return 0.5 if state == BudgetState.SLOW else 1.0


def paced(limit: int, pace: float) -> int:
    """`limit` at `pace`, never below one (a campaign at half pace still dials)."""
    return max(1, math.floor(limit * pace)) if pace < 1 else limit


def budget_errors(*, amount: Decimal | None, currency: str) -> dict[str, list[str]]:
    """What is wrong with a budget of `amount` in `currency` (empty: nothing). The admin's
    campaign form asks this too, so its errors are the API's, shown beside the field."""
    errors: dict[str, list[str]] = {}
    if amount is not None and not (Decimal("0.01") <= amount <= MAX_BUDGET):
        errors["amount"] = ["A budget is between 0.01 and 9999999999.99."]
    if currency.upper() != settings.COST_CURRENCY:
        errors["currency"] = [
            f"Calls are priced in {settings.COST_CURRENCY}; a budget must be in it too."
        ]
    return errors


def budget_refusal(status: str) -> str | None:
    """Why a campaign in `status` cannot have its budget changed (None: it can)."""
    if status in (CampaignStatus.STOPPED, CampaignStatus.COMPLETED):
        return f"A {status} campaign spends nothing more; its budget cannot change."
    return None


def campaign_budget_set(
    *, campaign: Campaign, amount: Decimal | None, currency: str | None = None
) -> Campaign:
    """Set, raise, lower or (None) remove the campaign's budget.

    The state is re-read at once, so a campaign paused at its budget shows plain "paused" once
    the budget is raised (it dials again when resumed)."""
    currency = (currency or settings.COST_CURRENCY).upper()
    errors = budget_errors(amount=amount, currency=currency)
    if errors:
        raise ApplicationError("The budget is not valid.", details=errors)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        refusal = budget_refusal(locked.status)
        if refusal:
            raise InvalidState(refusal, details={"status": locked.status})
        state = budget_state_for(amount=amount, spent=_spent(locked.pk))
        Campaign.objects.filter(pk=locked.pk).update(
            budget_amount=amount,
            budget_currency=currency if amount is not None else "",
            budget_state=state,
        )
        locked.refresh_from_db()
    return locked


def budget_payload(campaign: Campaign, spent: Decimal) -> dict[str, Any] | None:
    """The `budget` object of the API (null without a budget)."""
    if campaign.budget_amount is None:
        return None
    amount = Decimal(campaign.budget_amount)
    return {
        "amount": str(amount.quantize(Decimal("0.01"))),
        "currency": campaign.budget_currency or settings.COST_CURRENCY,
        "spent": str(spent.quantize(CENTS)),
        "spentPercent": float((spent * 100 / amount).quantize(Decimal("0.1"))) if amount else 0.0,
        "slowAtPercent": settings.CAMPAIGNS_BUDGET_SLOW_PERCENT,
        "state": campaign.budget_state or "ok",
    }


# The dialling line's words for the budget (`campaigns.next_dial`).
BUDGET_SLOW_TEXT = "At half pace: {percent} % or more of its budget is spent."
BUDGET_SPENT_TEXT = "Paused: its budget is spent."
BUDGET_SPENT_NEXT = "It dials again when the budget is raised and the campaign resumed."


# --- cost per connected call and per success ----------------------------------------------------
@dataclass(frozen=True)
class CostRow:
    calls: int
    priced: int
    connected: int
    successes: int
    total: Decimal
    carrier: Decimal
    stt: Decimal
    tts: Decimal
    llm: Decimal
    compute: Decimal
    cpu_seconds: float

    def payload(self) -> dict[str, Any]:
        def money(value: Decimal) -> str:
            return str(value.quantize(CENTS, rounding=ROUND_HALF_UP))

        def per(count: int) -> str | None:
            return money(self.total / count) if count else None

        return {
            "calls": self.calls,
            "pricedCalls": self.priced,
            "connectedCalls": self.connected,
            "successes": self.successes,
            "total": money(self.total),
            "perCall": per(self.priced),
            "perConnectedCall": per(self.connected),
            "perSuccess": per(self.successes),
            "breakdown": {
                "carrier": money(self.carrier),
                "speechToText": money(self.stt),
                "textToSpeech": money(self.tts),
                "llm": money(self.llm),
                "compute": money(self.compute),
            },
            "computeCpuSeconds": round(self.cpu_seconds, 3),
        }


def _metrics(success: list[str]) -> dict[str, Any]:
    zero = Decimal("0")
    return {
        "calls": Count("id"),
        "priced": Count("id", filter=Q(cost__isnull=False)),
        "connected": Count("id", filter=Q(answered_at__isnull=False)),
        "successes": Count("id", filter=Q(outcome__in=success)),
        "total": Coalesce(Sum("cost"), zero),
        "carrier": Coalesce(Sum("cost_detail__carrier_cost"), zero),
        "stt": Coalesce(Sum("cost_detail__stt_cost"), zero),
        "tts": Coalesce(Sum("cost_detail__tts_cost"), zero),
        "llm": Coalesce(Sum("cost_detail__llm_cost"), zero),
        "compute": Coalesce(Sum("cost_detail__compute_cost"), zero),
        "cpu_seconds": Coalesce(Sum("cost_detail__compute_cpu_seconds"), 0.0),
    }


def _row(values: Mapping[str, Any]) -> CostRow:
    return CostRow(
        calls=values["calls"],
        priced=values["priced"],
        connected=values["connected"],
        successes=values["successes"],
        total=Decimal(values["total"]),
        carrier=Decimal(values["carrier"]),
        stt=Decimal(values["stt"]),
        tts=Decimal(values["tts"]),
        llm=Decimal(values["llm"]),
        compute=Decimal(values["compute"]),
        cpu_seconds=float(values["cpu_seconds"] or 0),
    )


def success_outcomes(requested: list[str] | None = None) -> list[str]:
    """The outcomes that count as a success: those asked for, else the deployment's."""
    chosen = requested or list(settings.CAMPAIGNS_SUCCESS_OUTCOMES)
    unknown = [value for value in chosen if value not in Outcome.values]
    if unknown:
        raise ApplicationError(
            "Unknown outcome.",
            details={"success": [f"Not an outcome: {', '.join(sorted(unknown))}."]},
        )
    return chosen


def _finished_calls(campaign: Campaign) -> QuerySet[CallSession]:
    # Finished calls of the campaign that reached the carrier (a priced call), tests excluded.
    return CallSession.objects.filter(
        campaign_id=campaign.pk,
        organization_id=campaign.organization_id,
        kind__in=(SessionKind.CAMPAIGN, SessionKind.CALLBACK),
        ended_at__isnull=False,
    )


def campaign_costs(*, campaign: Campaign, success: list[str]) -> dict[str, Any]:
    """Cost per call, per connected call and per success: overall, by script version and by
    hour the call was placed (UTC). Three aggregate queries whatever the campaign's size
    (indexed by campaign)."""
    calls = _finished_calls(campaign)
    metrics = _metrics(success)
    overall = _row(calls.aggregate(**metrics))
    by_version = [
        {
            "scriptVersionId": row["script_version_id"],
            "scriptVersion": row["script_version__number"],
            **_row(row).payload(),
        }
        for row in calls.values("script_version_id", "script_version__number")
        .annotate(**metrics)
        .order_by("script_version__number")
    ]
    by_hour = [
        {"hour": row["hour"].isoformat() if row["hour"] else None, **_row(row).payload()}
        for row in calls.annotate(hour=TruncHour("queued_at"))
        .values("hour")
        .annotate(**metrics)
        .order_by("hour")
    ]
    return {
        "campaignId": campaign.pk,
        "currency": settings.COST_CURRENCY,
        "successOutcomes": success,
        "overall": overall.payload(),
        "byScriptVersion": by_version,
        "byHour": by_hour,
        "budget": budget_payload(campaign, _spent(campaign.pk)),
    }
