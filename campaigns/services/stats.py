"""Recomputing a campaign's counters from its rows (repair, and the tests' cross-check).

The live counters are updated with F() expressions by the code that changes what they count;
this recomputes the same numbers with aggregates over CampaignContact and CallSession.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Case, CharField, Count, Q, Sum, Value, When

from campaigns.dialling.rules import PRE_DIAL_DO_NOT_CALL
from campaigns.models import Campaign, CampaignContact, CampaignStats
from sessions.models import TERMINAL_CALL_STATUSES, AnsweredBy, CallSession, CallStatus, Outcome


def _effective_outcome() -> Case:
    # Mirrors campaigns.dialling.rules.effective_outcome.
    return Case(
        When(~Q(outcome=""), then="outcome"),
        When(status=CallStatus.BUSY, then=Value(Outcome.BUSY.value)),
        When(
            status__in=(CallStatus.NO_ANSWER, CallStatus.CANCELED),
            then=Value(Outcome.NO_ANSWER.value),
        ),
        When(status=CallStatus.FAILED, then=Value(Outcome.FAILED.value)),
        When(answered_by=AnsweredBy.MACHINE, then=Value(Outcome.VOICEMAIL.value)),
        When(answered_by=AnsweredBy.HUMAN, then=Value(Outcome.COMPLETED.value)),
        default=Value(Outcome.NO_CONVERSATION.value),
        output_field=CharField(),
    )


def campaign_stats_rebuild(*, campaign: Campaign, save: bool = True) -> CampaignStats:
    """Counters recomputed from rows. Sessions count as finished calls once their contact has
    moved on (the outcome handler has seen them) and they reached the carrier."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        stats, _ = CampaignStats.objects.get_or_create(campaign=locked)
        states = dict(
            CampaignContact.objects.filter(campaign=locked)
            .values_list("state")
            .annotate(count=Count("id"))
            .values_list("state", "count")
        )
        values: dict[str, Any] = {
            "contacts_materialized": sum(states.values()),
            "pending": states.get("pending", 0),
            "in_progress": states.get("in_progress", 0),
            "completed": states.get("completed", 0),
            "failed": states.get("failed", 0),
            "do_not_call": states.get("do_not_call", 0),
            "exhausted": states.get("exhausted", 0),
        }
        sessions = CallSession.objects.filter(campaign=locked, target__isnull=False)
        values["sessions_created"] = sessions.count()
        # Mirrors campaigns.dialling.rules.was_dialled: sessions that never reached the carrier.
        not_counted = (Q(carrier_call_sid__isnull=True) | Q(carrier_call_sid="")) & (
            Q(status=CallStatus.CANCELED)
            | Q(end_reason__in=PRE_DIAL_DO_NOT_CALL)
            | Q(end_reason__startswith="compliance:")
        )
        terminal = sessions.filter(status__in=TERMINAL_CALL_STATUSES)
        values["sessions_skipped"] = terminal.filter(not_counted).count()
        finished = terminal.exclude(not_counted)
        answered = Q(answered_at__isnull=False) | Q(
            answered_by__in=(AnsweredBy.HUMAN, AnsweredBy.MACHINE)
        )
        totals = finished.aggregate(
            calls_finished=Count("id"),
            calls_answered=Count("id", filter=answered),
            answered_human=Count("id", filter=Q(answered_by=AnsweredBy.HUMAN)),
            answered_machine=Count("id", filter=Q(answered_by=AnsweredBy.MACHINE)),
            calls_busy=Count("id", filter=Q(status=CallStatus.BUSY)),
            calls_no_answer=Count("id", filter=Q(status=CallStatus.NO_ANSWER)),
            calls_failed=Count("id", filter=Q(status=CallStatus.FAILED)),
            talk_seconds=Sum("duration_seconds", filter=answered),
            cost_total=Sum("cost"),
            cost_calls=Count("id", filter=Q(cost__isnull=False)),
        )
        totals["talk_seconds"] = totals["talk_seconds"] or 0
        # SQLite sums decimals as floats (0.840000000000001): back to the column's 4 places,
        # the counters' own precision.
        totals["cost_total"] = Decimal(totals["cost_total"] or 0).quantize(Decimal("0.0001"))
        values.update(totals)
        outcomes = dict(
            finished.annotate(effective=_effective_outcome())
            .values_list("effective")
            .annotate(count=Count("id"))
            .values_list("effective", "count")
        )
        for outcome in Outcome.values:
            values[f"outcome_{outcome}"] = outcomes.get(outcome, 0)
        for name, value in values.items():
            setattr(stats, name, value)
        if save:
            stats.save()
    return stats
