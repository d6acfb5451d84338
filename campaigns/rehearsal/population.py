"""Who a rehearsal calls: synthetic callees drawn from the Twilio simulator's personas.

A persona is reached by its number (`personas.persona_for`: `+1 AAA 555 01NN`), so a synthetic
callee is just a persona number with an area code taken from the campaign's own contacts (their
time zones, hence their calling windows, are the real population's). The proportions are given
(`mix`), or estimated from the organization's past real sessions (`estimate_mix`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from anvil_voice.errors import ApplicationError
from anvil_voice.telephony.simulator.personas import PERSONAS, Persona
from campaigns import phones
from campaigns.models import Campaign, Contact, TimeZoneSource
from sessions.models import AnsweredBy, CallSession, Outcome, SessionKind

# The personas a campaign's callees can be: transfer targets and phone menus are not callees a
# rehearsal can play (no transfers; no menu navigation in the scripted agent).
REHEARSAL_PERSONAS: dict[str, int] = {
    persona.key: digits for digits, persona in PERSONAS.items() if digits <= 17
}
MAX_SIZE = 2000
# Past real sessions needed to estimate a mix from them.
HISTORY_MIN_SESSIONS = 20
HISTORY_DAYS = 90
# How a past session's outcome maps to the persona that would have produced it.
_OUTCOME_PERSONA: dict[str, str] = {
    Outcome.NO_ANSWER: "no-answer",
    Outcome.BUSY: "busy",
    Outcome.FAILED: "failed",
    Outcome.VOICEMAIL: "voicemail",
    Outcome.INTERESTED: "interested",
    Outcome.TRANSFERRED: "interested",
    Outcome.NOT_INTERESTED: "not-interested",
    Outcome.CALLBACK_REQUESTED: "callback-request",
    Outcome.DO_NOT_CALL: "remove-me",
    Outcome.COMPLETED: "hangs-up",
}
_FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ian", "Jo")


def validate_mix(raw: object) -> dict[str, float]:
    """Persona key → share, normalised to sum 1. Raises a 400 naming the bad entries."""
    if not isinstance(raw, Mapping) or not raw:
        raise ApplicationError(
            "mix must be an object of persona → weight.",
            details={"mix": ["Give at least one persona with a positive weight."]},
        )
    problems: list[str] = []
    weights: dict[str, float] = {}
    for key, value in raw.items():
        if key not in REHEARSAL_PERSONAS:
            problems.append(f"Unknown persona {key!r}; one of: {', '.join(REHEARSAL_PERSONAS)}.")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"The weight of {key!r} must be a number >= 0.")
            continue
        if value > 0:
            weights[str(key)] = float(value)
    if not problems and not weights:
        problems.append("At least one weight must be positive.")
    if problems:
        raise ApplicationError("The mix is not valid.", details={"mix": problems})
    total = sum(weights.values())
    return {key: round(value / total, 6) for key, value in sorted(weights.items())}


def estimate_mix(*, campaign: Campaign, now: datetime) -> dict[str, float] | None:
    """The mix the organization's past real calls suggest (each campaign call's outcome as the
    persona that would give it); None when there are too few to say."""
    rows = (
        CallSession.objects.filter(
            organization_id=campaign.organization_id,
            kind=SessionKind.CAMPAIGN,
            queued_at__gte=now - timedelta(days=HISTORY_DAYS),
        )
        .exclude(outcome="")
        .values_list("outcome", "answered_by")[:5000]
    )
    counts: Counter[str] = Counter()
    for outcome, answered_by in rows:
        if outcome == Outcome.NO_CONVERSATION:
            key = "silent" if answered_by != AnsweredBy.HUMAN else "hangs-up"
        else:
            key = _OUTCOME_PERSONA.get(outcome, "")
        if key:
            counts[key] += 1
    if sum(counts.values()) < HISTORY_MIN_SESSIONS:
        return None
    return validate_mix(dict(counts))


@dataclass(frozen=True)
class Callee:
    index: int
    persona: Persona
    contact: Contact  # unsaved: what the gate and the script's variables read


def _area_codes(campaign: Campaign) -> dict[str, str]:
    """Area code → US state of the campaign's own contacts (their stored region: looking a
    number's state up loads the geocoder's data, tens of seconds the first time in a process);
    New York's 212 when the list has no NANP number."""
    rows = Contact.objects.filter(contact_list_id=campaign.contact_list_id).values_list(
        "phone_number", "region"
    )[:500]
    codes: dict[str, str] = {}
    for number, region in rows:
        if number.startswith("+1") and len(number) == 12:
            codes.setdefault(number[2:5], region or "")
    return dict(sorted(codes.items())) or {"212": "NY"}


def draw(*, campaign: Campaign, mix: Mapping[str, float], size: int, seed: int) -> list[Callee]:
    """`size` callees in the mix's proportions (largest remainders, so a share of 10 % of 50 is
    5 callees, not 5 on average), in a seeded random order."""
    quotas = {key: share * size for key, share in mix.items()}
    counts = {key: int(value) for key, value in quotas.items()}
    left = size - sum(counts.values())
    for key in sorted(quotas, key=lambda k: quotas[k] - counts[k], reverse=True)[:left]:
        counts[key] += 1
    keys = [key for key, count in counts.items() for _ in range(count)]
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    rng.shuffle(keys)
    regions = _area_codes(campaign)
    codes = list(regions)
    callees = []
    for index, key in enumerate(keys):
        digits = REHEARSAL_PERSONAS[key]
        code = codes[index % len(codes)]
        number = f"+1{code}55501{digits:02d}"
        zones = phones.zones_for_number(number)
        contact = Contact(
            organization_id=campaign.organization_id,
            phone_number=number,
            first_name=_FIRST_NAMES[index % len(_FIRST_NAMES)],
            time_zone=zones[0] if zones else "America/New_York",
            time_zone_source=TimeZoneSource.NUMBER,
            region=regions[code],
        )
        callees.append(Callee(index, PERSONAS[digits], contact))
    return callees
