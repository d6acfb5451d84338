"""A call's usage and cost (issue 19 part 3): recorded as the call ends, priced once it finished.

- `session_usage_record`: the live call's counters (`anvil_voice.usage`), added when its
  conversation closes, inside the close's claim (so once per conversation; a caller back from
  a transfer has a second conversation, whose usage adds to the first's).
- `session_cost_record`: the cost, from that usage, the carrier's duration (`duration_seconds`
  from Twilio's final status callback; each transfer leg's talk time billed on its own) and the
  price table (`anvil_voice.pricing`, `settings.COST_PRICES`). It overwrites the cost fields
  with what the same inputs give, so running it twice changes nothing; it runs right before
  `session_finished` is sent, so the campaign counters (`CampaignStats.cost_total`) and the
  budget see the call's cost when its outcome is applied.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from anvil_voice.pricing import Usage, price_usage
from sessions.models import TERMINAL_CALL_STATUSES, CallSession, SessionCost, Transfer

logger = logging.getLogger(__name__)

_COUNTERS = (
    "stt_audio_seconds",
    "tts_characters",
    "llm_prompt_tokens",
    "llm_completion_tokens",
    "llm_requests",
    "llm_requests_without_usage",
    "compute_cpu_seconds",
)
_NAMES = ("stt_provider", "tts_provider", "llm_provider")
_SECONDS = ("stt_audio_seconds", "compute_cpu_seconds")


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def session_usage_record(*, session_id: int, usage: dict[str, Any]) -> None:
    """Add one conversation's usage (`CallUsage.as_dict()`) to the session's."""
    increments: dict[str, Any] = {}
    for name in _COUNTERS:
        value = _number(usage.get(name))
        if value:
            increments[name] = F(name) + (value if name in _SECONDS else int(value))
    names = {name: str(usage[name])[:32] for name in _NAMES if usage.get(name)}
    SessionCost.objects.get_or_create(session_id=session_id)
    if increments or names:
        # The names are the first conversation's: one call speaks through one stack.
        SessionCost.objects.filter(session_id=session_id).update(**increments)
        for name, provider in names.items():
            SessionCost.objects.filter(session_id=session_id, **{name: ""}).update(
                **{name: provider}
            )


def session_cost_record(*, session_id: int) -> SessionCost | None:
    """Price a finished session (idempotent); None while it is not finished."""
    with transaction.atomic():
        session = CallSession.objects.filter(pk=session_id).first()
        if session is None or session.status not in TERMINAL_CALL_STATUSES:
            return None
        detail, _ = SessionCost.objects.select_for_update().get_or_create(session_id=session_id)
        # Twilio's CallDuration: 0 for a call nobody answered (not billed).
        seconds = int(session.duration_seconds or 0)
        legs = tuple(
            int(talk)
            for talk in Transfer.objects.filter(session_id=session_id).values_list(
                "talk_seconds", flat=True
            )
            if talk
        )
        cost = price_usage(
            Usage(
                carrier=session.carrier,
                carrier_seconds=seconds,
                transfer_seconds=legs,
                stt_provider=detail.stt_provider,
                stt_audio_seconds=detail.stt_audio_seconds,
                tts_provider=detail.tts_provider,
                tts_characters=detail.tts_characters,
                llm_provider=detail.llm_provider,
                llm_prompt_tokens=detail.llm_prompt_tokens,
                llm_completion_tokens=detail.llm_completion_tokens,
                compute_cpu_seconds=detail.compute_cpu_seconds,
            ),
            prices=settings.COST_PRICES,
            currency=settings.COST_CURRENCY,
        )
        fields = {
            "carrier": session.carrier,
            "carrier_seconds": seconds,
            "carrier_billed_minutes": cost.carrier_billed_minutes,
            "transfer_billed_minutes": cost.transfer_billed_minutes,
            "carrier_cost": cost.carrier,
            "stt_cost": cost.stt,
            "tts_cost": cost.tts,
            "llm_cost": cost.llm,
            "compute_cost": cost.compute,
            "total": cost.total,
            "currency": cost.currency,
            "prices": {"used": cost.prices, "unpriced": cost.unpriced},
        }
        if detail.total != cost.total or detail.currency != cost.currency or not detail.computed_at:
            fields["computed_at"] = timezone.now()
        SessionCost.objects.filter(session_id=session_id).update(**fields)
        CallSession.objects.filter(pk=session_id).update(
            cost=cost.total, cost_currency=cost.currency
        )
        detail.refresh_from_db()
    logger.info(
        "event=session_cost session=%s total=%s currency=%s", session_id, cost.total, cost.currency
    )
    return detail


def session_cost_record_safely(*, session_id: int) -> None:
    """For the finishing path: a pricing failure is logged, never a reason to hold back the
    `session_finished` signal (the call's outcome matters more than its price)."""
    try:
        session_cost_record(session_id=session_id)
    except Exception:
        logger.exception("event=session_cost_failed session=%s", session_id)


def cost_payload(detail: SessionCost | None) -> dict[str, Any] | None:
    """The API's and the admin's view of a session's cost (null until priced)."""
    if detail is None or detail.total is None:
        return None

    def money(value: Decimal) -> str:
        return str(Decimal(value).quantize(Decimal("0.0001")))

    return {
        "total": money(detail.total),
        "currency": detail.currency,
        "breakdown": {
            "carrier": {
                "provider": detail.carrier or None,
                "seconds": detail.carrier_seconds,
                "billedMinutes": detail.carrier_billed_minutes,
                "transferBilledMinutes": detail.transfer_billed_minutes,
                "cost": money(detail.carrier_cost),
            },
            "speechToText": {
                "provider": detail.stt_provider or None,
                "audioSeconds": round(detail.stt_audio_seconds, 2),
                "cost": money(detail.stt_cost),
            },
            "textToSpeech": {
                "provider": detail.tts_provider or None,
                "characters": detail.tts_characters,
                "cost": money(detail.tts_cost),
            },
            "llm": {
                "provider": detail.llm_provider or None,
                "inputTokens": detail.llm_prompt_tokens,
                "outputTokens": detail.llm_completion_tokens,
                "requests": detail.llm_requests,
                "requestsWithoutUsage": detail.llm_requests_without_usage,
                "cost": money(detail.llm_cost),
            },
            "compute": {
                "cpuSeconds": round(detail.compute_cpu_seconds, 3),
                "cost": money(detail.compute_cost),
            },
        },
        "unpriced": list((detail.prices or {}).get("unpriced", [])),
        "computedAt": detail.computed_at.isoformat() if detail.computed_at else None,
    }
