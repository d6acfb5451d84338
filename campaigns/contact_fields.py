"""One contact's fields, validated and normalised the same way for the API, the admin and CSV.

Formula-like cells (`=`, `+`, `-`, `@`, tab or carriage return first) are *rejected*, not
rewritten: a value such as `=HYPERLINK(...)` would run when someone opens an export in a
spreadsheet, and a prefixed quote would change what the agent says. Plain signed numbers
(`-12.50`, `+3`) are data, not formulas, and pass. The phone column is exempt (E.164 starts
with `+`; it is parsed, never stored as typed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from campaigns import phones
from campaigns.models import TimeZoneSource

TEXT_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "email": 254,
    "consent_source": 200,
}
VARIABLE_VALUE_MAX = 500
VARIABLE_NAME_MAX = 64
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class RejectReason(StrEnum):
    MISSING_PHONE = "missing_phone"
    INVALID_NUMBER = "invalid_number"
    NON_GEOGRAPHIC_NUMBER = "non_geographic_number"
    DUPLICATE = "duplicate"
    DO_NOT_CALL = "do_not_call"
    FIELD_TOO_LONG = "field_too_long"
    FORMULA = "formula"
    INVALID_TIME_ZONE = "invalid_time_zone"
    INVALID_REGION = "invalid_region"
    INVALID_EMAIL = "invalid_email"
    INVALID_CONSENT_AT = "invalid_consent_at"
    MALFORMED_ROW = "malformed_row"


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    field: str
    message: str


@dataclass
class ContactValues:
    phone_number: str
    time_zone: str
    time_zone_source: str
    region: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    email: str = ""
    consent_source: str = ""
    consent_at: datetime | None = None
    variables: dict[str, str] = field(default_factory=dict)


def looks_like_formula(value: str) -> bool:
    return value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(value)


def is_variable_name(name: str) -> bool:
    return len(name) <= VARIABLE_NAME_MAX and bool(_VARIABLE_NAME.match(name))


def _parse_consent_at(raw: str) -> datetime | None:
    parsed = parse_datetime(raw)
    if parsed is None and (day := parse_date(raw)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise ValueError(raw)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def normalize_contact(
    fields: Mapping[str, str], variables: Mapping[str, str], *, now: datetime | None = None
) -> ContactValues | Rejection:
    """Validate one contact. `fields` uses model names (phone_number, first_name, ...)."""
    texts = {name: (value or "").strip() for name, value in fields.items()}
    extra = {name: (value or "").strip() for name, value in variables.items()}

    for name, value in (*texts.items(), *extra.items()):
        if name != "phone_number" and looks_like_formula(value):
            return Rejection(
                RejectReason.FORMULA,
                name,
                f"'{name}' starts with {value[0]!r}, like a spreadsheet formula.",
            )
    for name, limit in TEXT_LIMITS.items():
        if len(texts.get(name, "")) > limit:
            return Rejection(
                RejectReason.FIELD_TOO_LONG,
                name,
                f"'{name}' has {len(texts[name])} characters; the limit is {limit}.",
            )
    for name, value in extra.items():
        if len(value) > VARIABLE_VALUE_MAX:
            return Rejection(
                RejectReason.FIELD_TOO_LONG,
                name,
                f"'{name}' has {len(value)} characters; the limit is {VARIABLE_VALUE_MAX}.",
            )

    raw_phone = texts.get("phone_number", "")
    if not raw_phone:
        return Rejection(RejectReason.MISSING_PHONE, "phone_number", "The phone number is empty.")
    try:
        phone = phones.normalize_phone_number(raw_phone)
    except phones.InvalidPhoneNumber as exc:
        return Rejection(RejectReason.INVALID_NUMBER, "phone_number", str(exc))
    if kind := phones.refused_number_kind(phone):
        return Rejection(
            RejectReason.NON_GEOGRAPHIC_NUMBER,
            "phone_number",
            f"'{raw_phone[:40]}' is {kind}; campaigns do not call those.",
        )

    if email := texts.get("email", ""):
        try:
            validate_email(email)
        except ValidationError:
            return Rejection(RejectReason.INVALID_EMAIL, "email", f"'{email}' is not an email.")

    if zone := texts.get("time_zone", ""):
        if not phones.is_known_zone(zone):
            return Rejection(
                RejectReason.INVALID_TIME_ZONE,
                "time_zone",
                f"'{zone[:64]}' is not an IANA time zone (e.g. America/New_York).",
            )
        time_zone, source = zone, TimeZoneSource.EXPLICIT.value
    else:
        inferred = phones.infer_time_zone(phone, at=now)
        time_zone, source = inferred.time_zone, inferred.source

    region = phones.normalize_region(texts.get("region", ""))
    if region is None:
        return Rejection(
            RejectReason.INVALID_REGION,
            "region",
            f"'{texts['region'][:40]}' is not a US state code or name.",
        )
    region = region or phones.infer_region(phone)

    consent_at = None
    if raw_consent := texts.get("consent_at", ""):
        try:
            consent_at = _parse_consent_at(raw_consent)
        except ValueError:
            return Rejection(
                RejectReason.INVALID_CONSENT_AT,
                "consent_at",
                f"'{raw_consent[:40]}' is not a date or date-time (ISO 8601).",
            )

    return ContactValues(
        phone_number=phone,
        time_zone=time_zone,
        time_zone_source=source,
        region=region,
        first_name=texts.get("first_name", ""),
        last_name=texts.get("last_name", ""),
        company=texts.get("company", ""),
        email=texts.get("email", ""),
        consent_source=texts.get("consent_source", ""),
        consent_at=consent_at,
        variables=extra,
    )
