"""Calls-per-second budgets shared by every dispatcher process: token buckets in the database.

Each bucket is a `PacingBucket` row refilled lazily from its `updated_at`: `rate` tokens a
second up to a burst of `max(1, rate)` (one tick's worth, since the dispatcher runs every
second). Takers lock the rows (`select_for_update`; on SQLite writes serialize anyway), so two
dispatchers can never spend the same token, and nothing lives in process memory. A claim takes
from the campaign's bucket and the carrier account's bucket in one go, so the grant respects
both and no token is taken from one and lost in the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from campaigns.models import PacingBucket

ACCOUNT_BUCKET = "account"
# A float epsilon so 0.1 + ... + 0.1 ten times grants a whole token.
_EPSILON = 1e-6
# Beat ticks are about a second apart, not exactly: one a few ms early finds 4.99 tokens of 5.
# Without slack it grants 4, and the next tick's refill is clipped at the burst, so that token
# is lost for good (measured: -7 % of a 5 CPS cap). A tick may borrow this much of a second's
# refill (at most half a token); the debt stays in the bucket and the next refill repays it,
# so the rate over time is exact and no tick grants more than the burst.
TICK_JITTER_SECONDS = 0.1
_MAX_SLACK_TOKENS = 0.5


def campaign_bucket(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def organization_bucket(organization_id: int) -> str:
    return f"org:{organization_id}"


def organization_buckets(
    organization_id: int, cap: Decimal | float | None
) -> list[tuple[str, float]]:
    """The organization's own bucket, if an operator set it a cap (none: only the account's)."""
    if cap is None:
        return []
    return [(organization_bucket(organization_id), float(cap))]


def account_buckets() -> list[tuple[str, float]]:
    return [(ACCOUNT_BUCKET, float(settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND))]


def _refill(tokens: float, updated_at: datetime, rate: float, now: datetime) -> float:
    elapsed = max(0.0, (now - updated_at).total_seconds())
    return min(max(1.0, rate), tokens + elapsed * rate)


def _grantable(tokens: float, rate: float) -> int:
    """Whole tokens a bucket holding `tokens` (already refilled) may grant this tick."""
    slack = min(_MAX_SLACK_TOKENS, rate * TICK_JITTER_SECONDS)
    burst = int(max(1.0, rate) + _EPSILON)
    return max(0, min(burst, int(tokens + slack + _EPSILON)))


def available_tokens(*, buckets: Sequence[tuple[str, float]], now: datetime) -> dict[str, int]:
    """What each bucket could grant now, read without locking (a plan, not a grant: a
    concurrent taker may spend some first, and `take_tokens` is what holds the caps)."""
    rows = {
        row.key: row for row in PacingBucket.objects.filter(key__in=[key for key, _ in buckets])
    }
    available = {}
    for key, rate in buckets:
        row = rows.get(key)
        tokens = max(1.0, rate) if row is None else _refill(row.tokens, row.updated_at, rate, now)
        available[key] = _grantable(tokens, rate)
    return available


def locked_row(key: str, *, tokens: float, now: datetime) -> PacingBucket:
    """The row for `key`, locked; created with `tokens` if there is none yet."""
    try:
        return PacingBucket.objects.select_for_update().get(key=key)
    except PacingBucket.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return PacingBucket.objects.create(key=key, tokens=tokens, updated_at=now)
    except IntegrityError:
        # Another dispatcher created it between our read and our insert.
        return PacingBucket.objects.select_for_update().get(key=key)


def take_tokens(*, want: int, buckets: Sequence[tuple[str, float]], now: datetime) -> int:
    """Take up to `want` tokens from every bucket in `buckets` ((key, rate per second))."""
    if want <= 0 or not buckets:
        return 0
    with transaction.atomic():
        # Always lock in key order so two takers never wait on each other crosswise.
        # A new bucket starts full: the first tick may use its whole second.
        rows = [
            (locked_row(key, tokens=max(1.0, rate), now=now), rate) for key, rate in sorted(buckets)
        ]
        granted = want
        for row, rate in rows:
            row.tokens = _refill(row.tokens, row.updated_at, rate, now)
            row.updated_at = max(row.updated_at, now)
            granted = min(granted, _grantable(row.tokens, rate))
        for row, _rate in rows:
            row.tokens -= granted
            row.save(update_fields=["tokens", "updated_at"])
        return max(0, granted)


def return_tokens(*, count: int, buckets: Sequence[tuple[str, float]]) -> None:
    """Give back tokens taken in this transaction but not spent (never above the burst)."""
    if count <= 0:
        return
    with transaction.atomic():
        for key, rate in sorted(buckets):
            row = PacingBucket.objects.select_for_update().get(key=key)
            row.tokens = min(max(1.0, rate), row.tokens + count)
            row.save(update_fields=["tokens"])


# --- spacing the creates themselves ---------------------------------------------------------
# The buckets above bound how many calls a tick *claims*; the carrier sees the creates after a
# placement delay (queue, worker, database) that varies by up to a second, so a late burst and
# the next one could land in the same second and exceed the cap there (measured: 10 creates in
# one second at 5 CPS). Placement therefore also reserves a moment for each create and waits
# for it: at most `rate` moments in any wall-clock second, spread over its first FILL part, so
# a create that reaches the carrier up to (1 - FILL) s after its moment (tens of ms measured)
# still counts in its own second. Spacing alone (1/rate apart) let that jitter put 21 creates
# in one second at 20 CPS.
DIAL_SLOT_PREFIX = "dial-slot:"
FILL = 0.8


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _earliest(row: PacingBucket, rate: float, at: datetime) -> datetime:
    """The first moment at or after `at` this bucket allows (`updated_at` holds the last
    reserved moment, `tokens` how many moments its second already has; 0: none yet)."""
    if rate < 1:
        # Slower than one a second: plain spacing keeps it under the cap in every second.
        if row.tokens > 0:
            at = max(at, row.updated_at + timedelta(seconds=1.0 / rate))
        return at
    per_second = int(rate + _EPSILON)
    if row.tokens > 0:
        at = max(at, row.updated_at + timedelta(seconds=FILL / per_second))
        if _second(at) == _second(row.updated_at) and row.tokens >= per_second:
            return _second(at) + timedelta(seconds=1)
    if (at - _second(at)).total_seconds() > FILL:
        return _second(at) + timedelta(seconds=1)
    return at


def reserve_dial_slot(*, buckets: Sequence[tuple[str, float]], now: datetime) -> float:
    """Reserve the next moment a create may reach the carrier; the seconds to wait for it.

    Every bucket (the campaign's, the account's) must allow the moment; the rows are locked, so
    two workers never get the same one.
    """
    spaced = sorted((key, rate) for key, rate in buckets if rate > 0)
    if not spaced:
        return 0.0
    with transaction.atomic():
        # A new slot row has reserved no moment yet (tokens 0).
        rows = [
            (locked_row(DIAL_SLOT_PREFIX + key, tokens=0.0, now=now), rate) for key, rate in spaced
        ]
        slot = now
        for _ in range(10):  # each pass only moves later; two or three settle it
            moved = max(_earliest(row, rate, slot) for row, rate in rows)
            if moved == slot:
                break
            slot = moved
        for row, _rate in rows:
            same_second = row.tokens > 0 and _second(row.updated_at) == _second(slot)
            row.tokens = row.tokens + 1 if same_second else 1
            row.updated_at = slot
            row.save(update_fields=["tokens", "updated_at"])
    return (slot - now).total_seconds()
