"""Extract a callback time ("tomorrow at 3") in the contact's time zone.

Every result is an aware datetime in the contact's zone, strictly after ``now``, built as a
*local wall time* through zoneinfo and normalised through UTC, so "tomorrow at 3" is 15:00 local
on either side of a daylight-saving change, and a wall time that does not exist (02:30 on the
spring-forward night) moves to the equivalent instant (03:30). Relative offsets ("in two hours")
are elapsed time, computed in UTC.

Decisions (English only):
- A bare hour without am/pm assumes business hours: 8-11 → morning, 12 → noon, 1-7 → afternoon
  or evening ("at 3" → 15:00, "at 7" → 19:00). A part of day settles it ("tomorrow morning at 7"
  → 07:00). Hours 13-23 are read as 24-hour time.
- Parts of day: morning 09:00, lunchtime/noon 12:00, afternoon 14:00, end of day 17:00,
  evening/tonight 18:00.
- A day with no time ("tomorrow", "Friday", "next week") → 10:00 that day; "next week" is the
  Monday after this week. "Today"/"later today" alone → two hours from now.
- A weekday means its next occurrence after today; "next Monday" means the same (the coming
  Monday, never today). A plain weekday that is today counts only with an explicit time still
  ahead ("Friday at 4" said on Friday morning).
- A clock time or part of day with no day is today if still ahead, otherwise tomorrow
  ("this evening" said at 19:00 → tomorrow 18:00). An explicit "today at 9" already past → None.
- Vague phrases ("later", "later this week", "sometime", "next year") → None: the caller is
  asked for a time instead of the engine inventing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scripts.engine.normalize import normalize, spell_correct

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_DAY_TIME = time(10, 0)
TODAY_DEFAULT_DELAY = timedelta(hours=2)
PARTS_OF_DAY = {
    "morning": time(9, 0),
    "lunchtime": time(12, 0),
    "lunch": time(12, 0),
    "afternoon": time(14, 0),
    "evening": time(18, 0),
    "tonight": time(18, 0),
    "night": time(18, 0),
    "end of day": time(17, 0),
    "end of the day": time(17, 0),
}
_VOCABULARY = (*WEEKDAYS, "tomorrow", "afternoon", "morning", "evening", "tonight", "minutes")

_NUMBER_WORDS = r"\d+|an?|a couple(?: of)?|couple(?: of)?|a few|few|half an?"
_RELATIVE = re.compile(
    rf"\b(?:in|within) (?P<count>{_NUMBER_WORDS}) ?(?P<unit>minute|min|hour|hr|day|week)s?\b"
    rf"|\b(?P<count2>{_NUMBER_WORDS}) ?(?P<unit2>minute|min|hour|hr)s? from now\b"
)
_HALF_MORE = re.compile(r"\band a half\b")
_CLOCK_WITH_COLON = re.compile(r"\b(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<meridiem>am|pm)?\b")
_CLOCK_WITH_MERIDIEM = re.compile(r"\b(?P<hour>\d{1,2})\s*(?P<meridiem>am|pm|oclock)\b")
_CLOCK_AFTER_PREPOSITION = re.compile(
    r"\b(?:at|around|about|by|after|before|say|till|until) (?P<hour>\d{1,2})"
    r"(?: (?P<minute>[0-5]\d))?\b(?! (?:minute|min|hour|hr|day|week|month|year|dollar|percent))"
)
_HALF_PAST = re.compile(r"\b(?P<kind>half|quarter) (?P<dir>past|after|to) (?P<hour>\d{1,2})\b")
_NOON = re.compile(r"\b(?:noon|midday)\b")
_DAY_AFTER_TOMORROW = re.compile(r"\bday after tomorrow\b")
_WEEKDAY = re.compile(
    r"\b(?P<modifier>last|next|this|coming|on|every)?\s*(?:the )?(?:coming )?"
    rf"(?P<day>{'|'.join(WEEKDAYS)})s?\b"
)
_NEXT_WEEK = re.compile(r"\bnext week\b(?! (?:" + "|".join(WEEKDAYS) + r"))")
_VAGUE_WEEK = re.compile(r"\b(?:later|sometime) (?:this|next) week\b")
_PART_OF_DAY = re.compile(
    r"\b(?:(?P<this>this|in the|tomorrow|today) )?(?P<part>"
    + "|".join(sorted(PARTS_OF_DAY, key=len, reverse=True))
    + r")\b"
)
_GREETING = re.compile(r"\bgood (?:morning|afternoon|evening|night)\b")


@dataclass(frozen=True, slots=True)
class CallbackTime:
    """A parsed time; ``explicit`` is False when only a loose part of day was heard."""

    at: datetime
    explicit: bool


def zone(timezone: str | ZoneInfo) -> ZoneInfo:
    return timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)


def local_datetime(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """A wall time on a day in ``tz``; non-existent DST times move forward (02:30 → 03:30)."""
    naive = datetime.combine(day, wall)
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _count(word: str) -> float:
    if word.isdigit():
        return float(word)
    if "half" in word:
        return 0.5
    if "couple" in word:
        return 2.0
    if "few" in word:
        return 3.0
    return 1.0  # "a" / "an"


def _relative(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    match = _RELATIVE.search(text)
    if not match:
        return None
    count = _count(match.group("count") or match.group("count2"))
    unit = match.group("unit") or match.group("unit2")
    if _HALF_MORE.search(text, match.end(), match.end() + 14):
        count += 0.5
    if unit in {"day", "week"}:
        days = int(count * (7 if unit == "week" else 1))
        local_day = now.astimezone(tz).date() + timedelta(days=days)
        return local_datetime(local_day, _clock(text)[0] or DEFAULT_DAY_TIME, tz)
    minutes = count * (60 if unit in {"hour", "hr"} else 1)
    moment = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    return moment.astimezone(tz)


def _clock(text: str) -> tuple[time | None, bool]:
    """The clock time named in ``text`` and whether am/pm was explicit."""
    if match := _HALF_PAST.search(text):
        hour = int(match.group("hour"))
        minute = 30 if match.group("kind") == "half" else 15
        if match.group("dir") == "to":
            hour, minute = hour - 1, 60 - minute
        return (time(hour % 24, minute), False) if 0 <= hour <= 23 else (None, False)
    for pattern in (_CLOCK_WITH_COLON, _CLOCK_WITH_MERIDIEM, _CLOCK_AFTER_PREPOSITION):
        if match := pattern.search(text):
            groups = match.groupdict()
            hour = int(groups["hour"])
            minute = int(groups.get("minute") or 0)
            meridiem = groups.get("meridiem")
            if hour > 23 or minute > 59:
                continue
            if meridiem in {"am", "pm"} and 1 <= hour <= 12:
                hour = hour % 12 + (12 if meridiem == "pm" else 0)
                return time(hour, minute), True
            return time(hour, minute), hour == 0 or hour > 12
    if _NOON.search(text):
        return time(12, 0), True
    return None, False


def _settle_meridiem(clock: time, part: str | None) -> time:
    """Apply the business-hours assumption (or the part of day) to a bare 1-12 hour."""
    hour = clock.hour
    if not 1 <= hour <= 12:
        return clock
    if part == "morning":
        return clock.replace(hour=hour % 12)
    if part is not None:
        return clock.replace(hour=hour if hour == 12 else hour + 12)
    if 1 <= hour <= 7:
        return clock.replace(hour=hour + 12)
    return clock


def _weekday_date(text: str, today: date) -> tuple[date | None, bool]:
    """The date of a weekday named in ``text``; the flag says it may be today."""
    for match in _WEEKDAY.finditer(text):
        modifier = match.group("modifier")
        if modifier in {"last", "every"}:
            continue
        target = WEEKDAYS.index(match.group("day"))
        ahead = (target - today.weekday()) % 7
        if ahead == 0:
            return today + timedelta(days=7), modifier in {None, "this", "on"}
        return today + timedelta(days=ahead), False
    return None, False


def find_callback_time(
    text: str, *, now: datetime, timezone: str | ZoneInfo
) -> CallbackTime | None:
    """Parse ``text``; see the module docstring for every rule. ``now`` must be aware."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    tz = zone(timezone)
    normalized = " ".join(spell_correct(normalize(text).split(), _VOCABULARY))
    normalized = _GREETING.sub(" ", normalized)
    if _VAGUE_WEEK.search(normalized):
        return None
    local_now = now.astimezone(tz)
    today = local_now.date()

    if relative := _relative(normalized, now, tz):
        return CallbackTime(at=relative, explicit=True) if relative > now else None

    clock, meridiem_known = _clock(normalized)
    part_match = _PART_OF_DAY.search(normalized)
    part = part_match.group("part") if part_match else None
    if part in {"tonight", "night"}:
        part = "evening"
    if clock is not None and not meridiem_known:
        clock = _settle_meridiem(clock, part)

    day: date | None = None
    day_is_explicit = True
    may_be_today = False
    if _DAY_AFTER_TOMORROW.search(normalized):
        day = today + timedelta(days=2)
    elif re.search(r"\btomorrow\b", normalized):
        day = today + timedelta(days=1)
    elif _NEXT_WEEK.search(normalized):
        day = today + timedelta(days=7 - today.weekday())
    else:
        day, may_be_today = _weekday_date(normalized, today)
    if day is None and re.search(r"\b(?:today|tonight)\b", normalized):
        if clock is None and part is None:
            moment = (now.astimezone(UTC) + TODAY_DEFAULT_DELAY).astimezone(tz)
            moment = moment.replace(second=0, microsecond=0)
            return CallbackTime(at=moment, explicit=True) if moment.date() == today else None
        day = today
    elif day is None:
        day_is_explicit = False

    wall = clock or (PARTS_OF_DAY[part] if part else None)
    if day is None and wall is None:
        return None
    if day is not None and may_be_today and wall is not None:
        candidate = local_datetime(today, wall, tz)
        if candidate > now:
            return CallbackTime(at=candidate, explicit=True)
    if day is None:
        day = today
    result = local_datetime(day, wall or DEFAULT_DAY_TIME, tz)
    if result <= now:
        if day_is_explicit:
            return None
        result = local_datetime(day + timedelta(days=1), wall or DEFAULT_DAY_TIME, tz)
    # A loose part of day ("in the morning") is weak evidence of a callback on its own; "this
    # evening", "tonight", a clock time or a named day are not.
    loose = (
        clock is None
        and not day_is_explicit
        and not (
            (part_match and part_match.group("this") in {"this", "tomorrow", "today"})
            or (part == "evening" and "tonight" in normalized)
        )
    )
    return CallbackTime(at=result, explicit=not loose)


def parse_callback_time(text: str, *, now: datetime, timezone: str | ZoneInfo) -> datetime | None:
    """The callback time in ``text`` as an aware local datetime, or None."""
    found = find_callback_time(text, now=now, timezone=timezone)
    return found.at if found else None


def describe_time(at: datetime, *, now: datetime) -> str:
    """Speakable form relative to ``now`` in ``at``'s zone: "tomorrow at 3:00 PM"."""
    local_now = now.astimezone(at.tzinfo)
    days = (at.date() - local_now.date()).days
    hour = at.hour % 12 or 12
    clock = f"{hour}:{at.minute:02d} {'AM' if at.hour < 12 else 'PM'}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if 1 < days < 7:
        return f"on {at.strftime('%A')} at {clock}"
    return f"on {at.strftime('%A, %B')} {at.day} at {clock}"
