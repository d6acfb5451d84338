"""The rehearsal's report: what the campaign is predicted to do, and where the agent slipped."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.models import Campaign
from campaigns.rehearsal import talk as talk_model
from campaigns.rehearsal.runner import CallRecord, RunResult, percentile
from sessions.models import AnsweredBy


def _shares(counter: Counter[str], total: int) -> dict[str, dict[str, float | int]]:
    return {
        key: {"count": count, "share": round(count / total, 4) if total else 0.0}
        for key, count in sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    }


def build(
    *,
    campaign: Campaign,
    result: RunResult,
    session_ids: list[int],
    latency_source: str,
) -> dict[str, Any]:
    """`session_ids[i]` is the saved session of `result.calls[i]`."""
    calls = result.calls
    contacts = result.contacts
    size = len(contacts)
    # The contact's final word: what a campaign manager counts (one per person called).
    final = Counter(item.last_outcome or "not_called" for item in contacts)
    states = Counter(str(item.state) for item in contacts)
    per_call = Counter(record.outcome for record in calls)
    answered_human = sum(1 for record in calls if record.answered_by == AnsweredBy.HUMAN)
    answered = sum(1 for record in calls if record.answered_by)
    latencies = [value for record in calls if record.talk for value in record.talk.reply_latencies]
    misbehaviours: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()
    for record, session_id in zip(calls, session_ids, strict=True):
        if record.talk is None:
            continue
        for finding in record.talk.findings:
            kinds[finding.kind.value] += 1
            misbehaviours.append(
                {
                    "sessionId": session_id,
                    "persona": record.callee.persona.key,
                    "attempt": record.attempt,
                    **finding.as_dict(),
                }
            )
    by_persona: dict[str, Counter[str]] = defaultdict(Counter)
    for item in contacts:
        by_persona[item.callee.persona.key][item.last_outcome or "not_called"] += 1
    start = result.start
    end = result.end
    days = (end - start).total_seconds() / 86400 if start and end else 0.0
    zone = ZoneInfo(contacts[0].callee.contact.time_zone) if contacts else ZoneInfo("UTC")
    calling_days = sorted(
        {record.placed_at.astimezone(zone).date().isoformat() for record in calls}
    )
    return {
        "rehearsal": True,
        "population": {"size": size},
        "outcomes": _shares(final, size),
        "callOutcomes": _shares(per_call, len(calls)),
        "contactStates": dict(sorted(states.items())),
        "calls": {
            "placed": len(calls),
            "answered": answered,
            "answeredByHuman": answered_human,
            "perContact": round(len(calls) / size, 3) if size else 0.0,
        },
        # A call a person picked up, of the calls placed.
        "connectRate": round(answered_human / len(calls), 4) if calls else 0.0,
        "contactsReached": round(sum(1 for c in contacts if c.reached) / size, 4) if size else 0,
        "duration": {
            "simulatedStart": _iso(start),
            "simulatedEnd": _iso(end),
            "wallClockDays": round(days, 3),
            "callingDays": len(calling_days),
            "firstCallingDay": calling_days[0] if calling_days else None,
            "lastCallingDay": calling_days[-1] if calling_days else None,
            "gaveUp": result.timed_out,
        },
        "replyLatencyMs": {
            "p50": _rounded(percentile(latencies, 0.5)),
            "p95": _rounded(percentile(latencies, 0.95)),
            "count": len(latencies),
            "source": latency_source,
        },
        "misbehaviourCounts": dict(sorted(kinds.items())),
        "misbehaviours": misbehaviours,
        "byPersona": {key: dict(counter) for key, counter in sorted(by_persona.items())},
        "campaign": {
            "maxConcurrentCalls": campaign.max_concurrent_calls,
            "callsPerSecond": float(campaign.calls_per_second),
            "maxAttempts": campaign.max_attempts,
            "window": f"{campaign.window_start:%H:%M}-{campaign.window_end:%H:%M}",
            "daysOfWeek": list(campaign.days_of_week),
            "voicemailBehaviour": campaign.voicemail_behaviour,
        },
        "model": {
            "carrier": "rehearsal (simulator personas, in process; never dials)",
            "msPerCharacter": talk_model.MS_PER_CHAR,
            "endpointMs": talk_model.ENDPOINT_MS,
            "bargeInMs": talk_model.BARGE_IN_MS,
            "deadAirMs": talk_model.DEAD_AIR_MS,
            "silenceTimeoutMs": talk_model.SILENCE_TIMEOUT_MS,
        },
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _rounded(value: float | None) -> int | None:
    return round(value) if value is not None else None


def call_summary(record: CallRecord) -> str:
    persona = record.callee.persona.key
    return f"Rehearsal call to persona {persona!r}, attempt {record.attempt}: {record.outcome}."
