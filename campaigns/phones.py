"""Phone numbers: E.164 normalisation, time zones and regions inferred from a number.

`phonenumbers` validates against the numbering plan. The Twilio simulator's numbers live in the
NANP fictional range (NXX-555-01xx); with `CAMPAIGNS_CALLER_ID_CHECK = "simulator"` those are
accepted even where the plan says the area code does not exist (e.g. +1 555 555 0100).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from django.conf import settings
from django.utils import timezone
from phonenumbers import timezone as number_timezones
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

from campaigns.models import TimeZoneSource

FICTIONAL_NANP = re.compile(r"^\+1[2-9]\d{2}55501\d{2}$")
UNKNOWN_ZONE = "Etc/Unknown"

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
    "New Mexico": "NM", "New York": "NY", "North Carolina": "NC", "North Dakota": "ND",
    "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
US_STATE_CODES = frozenset(US_STATES.values())


class InvalidPhoneNumber(ValueError):
    pass


def fictional_numbers_allowed() -> bool:
    return bool(settings.CAMPAIGNS_CALLER_ID_CHECK == "simulator")


def normalize_phone_number(raw: str, *, region: str | None = None) -> str:
    """E.164 for `raw`, or InvalidPhoneNumber with a reason a person can act on."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("The phone number is empty.")
    try:
        parsed = phonenumbers.parse(text, region or settings.CAMPAIGNS_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"'{text[:40]}' is not a phone number.") from exc
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(parsed):
        return e164
    if fictional_numbers_allowed() and FICTIONAL_NANP.match(e164):
        return e164
    raise InvalidPhoneNumber(f"'{text[:40]}' is not a valid phone number.")


# Numbers a campaign or a test call never dials: they do not reach a person at a place whose
# calling hours we can know, or the call costs money that is not ours to spend. Premium-rate
# and shared-cost numbers charge per minute (a test call to one is a way to bill the account);
# personal ("follow-me", UK 070) and universal access numbers forward anywhere, so their zone
# says nothing; voicemail-access and pager numbers reach no one who can hear the disclosure.
# Allowed: fixed lines, mobiles, VoIP (people's own numbers), toll-free (free to call; checked
# in every zone the plan gives, which for US toll-free is all of them) and UNKNOWN (the plan
# does not say, e.g. the simulator's fictional range).
REFUSED_NUMBER_TYPES: dict[int, str] = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (follow-me) number",
    phonenumbers.PhoneNumberType.UAN: "a universal access number",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail access number",
    phonenumbers.PhoneNumberType.PAGER: "a pager number",
}


def refused_number_kind(e164: str) -> str | None:
    """What kind of non-geographic number `e164` is ("a premium-rate number"), or None when
    it may be dialled."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return REFUSED_NUMBER_TYPES.get(phonenumbers.number_type(parsed))


def zones_for_number(e164: str) -> tuple[str, ...]:
    """Every IANA zone the number may be in (empty when the plan does not say)."""
    # phonenumbers maps zones by prefixes of at most TIMEZONE_LONGEST_PREFIX digits, so the
    # first that many digits decide: cache on them (an import of 100 000 numbers from a few
    # area codes then parses a handful of prefixes, not every number again).
    prefix = e164[: 1 + TIMEZONE_LONGEST_PREFIX]
    zones = _ZONES_BY_PREFIX.get(prefix)
    if zones is None:
        try:
            parsed = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return ()
        zones = tuple(
            zone
            for zone in number_timezones.time_zones_for_number(parsed)
            if zone != UNKNOWN_ZONE and zone in _known_zones()
        )
        _remember(_ZONES_BY_PREFIX, prefix, zones)
    return zones


# Per-process memo tables keyed by number prefixes (bounded: cleared when they grow too big).
_ZONES_BY_PREFIX: dict[str, tuple[str, ...]] = {}
_REGION_BY_AREA_CODE: dict[str, str] = {}
_MEMO_LIMIT = 100_000


def _remember[V](table: dict[str, V], key: str, value: V) -> None:
    if len(table) >= _MEMO_LIMIT:
        table.clear()
    table[key] = value


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_known_zone(name: str) -> bool:
    return name in _known_zones()


def west_most_zone(zones: tuple[str, ...], *, at: datetime | None = None) -> str:
    """The zone whose local time is earliest at `at` (smallest UTC offset; ties by name).

    Used as the stored zone of a number that maps to several: its 08:00 comes last, so it is
    the one that never calls too early. The gate still checks every zone of such a number.
    """
    if len(zones) == 1:
        return zones[0]
    moment = at or timezone.now()
    return min(zones, key=lambda name: (moment.astimezone(ZoneInfo(name)).utcoffset(), name))


@dataclass(frozen=True)
class InferredZone:
    time_zone: str
    source: str


def infer_time_zone(e164: str, *, at: datetime | None = None) -> InferredZone:
    zones = zones_for_number(e164)
    if not zones:
        return InferredZone(settings.CAMPAIGNS_DEFAULT_TIME_ZONE, TimeZoneSource.DEFAULT)
    return InferredZone(west_most_zone(zones, at=at), TimeZoneSource.NUMBER)


def infer_region(e164: str) -> str:
    """The US state a number's area code belongs to ("NY"), or "" when it is not a US number.

    An area code says where the number was issued, not where the person lives; an explicit
    region on the contact wins over this. NANP geographic area codes never span two states, so
    the answer is cached per "+1NPA".
    """
    if not e164.startswith("+1"):
        return ""
    area_code = e164[:5]
    region = _REGION_BY_AREA_CODE.get(area_code)
    if region is None:
        region = _region_of(e164)
        _remember(_REGION_BY_AREA_CODE, area_code, region)
    return region


def _region_of(e164: str) -> str:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ""
    if phonenumbers.region_code_for_number(parsed) != "US":
        return ""
    # Imported here: the geocoder loads ~10 s of data tables, which every process (web,
    # worker, test run) would otherwise pay at start-up even if it never infers a region.
    from phonenumbers import geocoder

    description = geocoder.description_for_number(parsed, "en")
    # "New York, NY" or "Florida".
    if ", " in description:
        code = description.rsplit(", ", 1)[1].strip()
        return code if code in US_STATE_CODES else ""
    return US_STATES.get(description.strip(), "")


_COUNTRY_BY_AREA_CODE: dict[str, str] = {}


def country_of(e164: str) -> str:
    """ISO country of a number ("US", "CA"); NANP numbers are memoised per area code."""
    if e164.startswith("+1"):
        country = _COUNTRY_BY_AREA_CODE.get(e164[:5])
        if country is None:
            country = _country_of(e164)
            _remember(_COUNTRY_BY_AREA_CODE, e164[:5], country)
        return country
    return _country_of(e164)


@lru_cache(maxsize=65536)
def _country_of(e164: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def normalize_region(raw: str) -> str | None:
    """A US state code from "NY", "ny" or "New York"; "" for empty; None when unknown."""
    text = (raw or "").strip()
    if not text:
        return ""
    if text.upper() in US_STATE_CODES:
        return text.upper()
    for name, code in US_STATES.items():
        if name.lower() == text.lower():
            return code
    return None


def mask(e164: str) -> str:
    """For logs: never a full number."""
    return f"{e164[:-4]}····" if len(e164) > 4 else "····"
