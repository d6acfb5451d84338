from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scripts.engine.timeparse import describe_time, parse_callback_time

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 4 March 2026, 10:15 in New York (EST, UTC-5).
NOW = datetime(2026, 3, 4, 10, 15, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me back tomorrow at 3", datetime(2026, 3, 5, 15, 0)),
        ("tomorrow at 3:30pm", datetime(2026, 3, 5, 15, 30)),
        ("Tomorrow at 3:30 P.M.", datetime(2026, 3, 5, 15, 30)),
        ("at 10 am", datetime(2026, 3, 5, 10, 0)),
        ("at 11", datetime(2026, 3, 4, 11, 0)),
        ("at 7", datetime(2026, 3, 4, 19, 0)),
        ("tomorrow morning at 7", datetime(2026, 3, 5, 7, 0)),
        ("at 15:30", datetime(2026, 3, 4, 15, 30)),
        ("next Monday morning", datetime(2026, 3, 9, 9, 0)),
        ("can you call next monday", datetime(2026, 3, 9, 10, 0)),
        ("Friday afternoon", datetime(2026, 3, 6, 14, 0)),
        ("friday at three thirty", datetime(2026, 3, 6, 15, 30)),
        ("Wednesday at 4", datetime(2026, 3, 4, 16, 0)),
        ("Wednesday", datetime(2026, 3, 11, 10, 0)),
        ("this evening", datetime(2026, 3, 4, 18, 0)),
        ("tonight at 8", datetime(2026, 3, 4, 20, 0)),
        ("this morning", datetime(2026, 3, 5, 9, 0)),
        ("in two hours", datetime(2026, 3, 4, 12, 15)),
        ("in 30 minutes", datetime(2026, 3, 4, 10, 45)),
        ("in half an hour", datetime(2026, 3, 4, 10, 45)),
        ("in an hour and a half", datetime(2026, 3, 4, 11, 45)),
        ("give me twenty five minutes from now", datetime(2026, 3, 4, 10, 40)),
        ("day after tomorrow", datetime(2026, 3, 6, 10, 0)),
        ("next week", datetime(2026, 3, 9, 10, 0)),
        ("quarter to 5 tomorrow", datetime(2026, 3, 5, 16, 45)),
        ("around noon", datetime(2026, 3, 4, 12, 0)),
        ("later today", datetime(2026, 3, 4, 12, 15)),
        ("tomorow at 3", datetime(2026, 3, 5, 15, 0)),
        ("later", None),
        ("try me later this week", None),
        ("sometime", None),
        ("today at 9", None),
        ("good morning", None),
        ("I was busy last Monday", None),
        ("we have 3 locations", None),
        ("I've been with them for 10 years", None),
    ],
)
def test_it_parses_callback_times(text, expected):
    at = parse_callback_time(text, now=NOW, timezone="America/New_York")

    if expected is None:
        assert at is None
    else:
        assert at == expected.replace(tzinfo=NEW_YORK)
        assert at.tzinfo == NEW_YORK
        assert at > NOW


def test_it_keeps_wall_time_across_the_spring_forward_change():
    # Saturday 7 March 2026, the day before US daylight saving time starts.
    now = datetime(2026, 3, 7, 16, 0, tzinfo=NEW_YORK)

    at = parse_callback_time("tomorrow at 3", now=now, timezone="America/New_York")

    assert at is not None
    assert at.astimezone(UTC) == datetime(2026, 3, 8, 19, 0, tzinfo=UTC)  # 15:00 EDT
    assert at.utcoffset() == timedelta(hours=-4)


def test_it_keeps_wall_time_across_the_fall_back_change():
    now = datetime(2026, 10, 31, 16, 0, tzinfo=NEW_YORK)

    at = parse_callback_time("tomorrow at 3", now=now, timezone="America/New_York")

    assert at is not None
    assert at.astimezone(UTC) == datetime(2026, 11, 1, 20, 0, tzinfo=UTC)  # 15:00 EST


def test_it_counts_relative_offsets_in_elapsed_time_across_dst():
    # 01:30 EST on the spring-forward night; two hours later the clock reads 04:30 EDT.
    now = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)

    at = parse_callback_time("in two hours", now=now, timezone="America/New_York")

    assert at is not None
    assert at.astimezone(UTC) - now.astimezone(UTC) == (
        datetime(2026, 3, 8, 2, 0, tzinfo=UTC) - datetime(2026, 3, 8, 0, 0, tzinfo=UTC)
    )
    assert (at.hour, at.minute) == (4, 30)


def test_it_moves_a_wall_time_that_does_not_exist():
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)

    at = parse_callback_time("tomorrow at 2:30 am", now=now, timezone="America/New_York")

    assert at is not None
    assert (at.hour, at.minute) == (3, 30)
    assert at.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "utc_expected"),
    [
        ("Europe/London", datetime(2026, 3, 5, 15, 0, tzinfo=UTC)),
        ("Asia/Kolkata", datetime(2026, 3, 5, 9, 30, tzinfo=UTC)),
        ("Australia/Sydney", datetime(2026, 3, 5, 4, 0, tzinfo=UTC)),
        ("America/Los_Angeles", datetime(2026, 3, 5, 23, 0, tzinfo=UTC)),
    ],
)
def test_it_reads_times_in_the_contacts_zone(zone, utc_expected):
    # The same instant is a different local day in Sydney: "tomorrow" follows the contact.
    now = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)

    at = parse_callback_time("tomorrow at 3", now=now, timezone=zone)

    assert at is not None
    assert at.astimezone(UTC) == utc_expected


def test_it_requires_an_aware_now():
    with pytest.raises(ValueError, match="aware"):
        parse_callback_time("tomorrow", now=datetime(2026, 3, 4, 10, 0), timezone="UTC")


@pytest.mark.parametrize(
    ("at", "spoken"),
    [
        (datetime(2026, 3, 4, 15, 0), "today at 3:00 PM"),
        (datetime(2026, 3, 5, 9, 5), "tomorrow at 9:05 AM"),
        (datetime(2026, 3, 9, 12, 0), "on Monday at 12:00 PM"),
        (datetime(2026, 3, 16, 0, 30), "on Monday, March 16 at 12:30 AM"),
    ],
)
def test_it_describes_times_for_speech(at, spoken):
    assert describe_time(at.replace(tzinfo=NEW_YORK), now=NOW) == spoken
