"""Failed admin sign-ins, counted per account and per address in the cache.

Each count is a fixed window that opens with its first failure and lasts
`ADMIN_LOGIN_LOCKOUT_SECONDS`. Once an account has `ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT`
failures in its window (from any address: a botnet spreads its guesses), password attempts on
it are refused until the window closes; attempts refused that way are not counted, so they
cannot stretch the lock. An address is refused the same way after
`ADMIN_LOGIN_MAX_FAILURES_PER_IP` failures on any accounts (one host spraying many).

Anyone can lock an account by guessing wrong, so a browser that has signed in to the account
before (`trusted_browser`, a signed cookie set at sign-in) skips the account's lock: the owner
keeps getting in while strangers are refused (OWASP's "device cookies"). The address limit
still applies to it. Redis in production, so every web process sees the same counts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY_PREFIX = "admin-login-failures"


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "address"
    seconds_left: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.seconds_left / 60))
        wait = f"Try again in {minutes} minute{'s' if minutes != 1 else ''}"
        if self.scope == "account":
            return (
                "Too many failed sign-in attempts for this account. "
                f"{wait}, or sign in from a browser you have signed in with before."
            )
        return f"Too many failed sign-in attempts from your network. {wait}."


def _account_key(username: str) -> str:
    # Hashed: usernames (often e-mail addresses) stay out of the cache's key space; casefolded
    # so "Olivia" and "olivia" share one count.
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
    return f"{KEY_PREFIX}:account:{digest}"


def _address_key(ip: str) -> str:
    return f"{KEY_PREFIX}:address:{ip}"


def _window(key: str) -> tuple[int, float]:
    """(failures, when the window closes); (0, 0) when none is open.

    The close time is checked against our clock as well as left to the cache's expiry: the
    two clocks differ (Redis keeps its own), and the count must end when the message said.
    """
    state = cache.get_many([key, f"{key}:closes"])
    closes_at = float(state.get(f"{key}:closes") or 0)
    if closes_at <= time.time():
        return 0, 0.0
    return int(state.get(key) or 0), closes_at


def _lockout(key: str, *, limit: int, scope: str) -> Lockout | None:
    failures, closes_at = _window(key)
    if failures < limit:
        return None
    return Lockout(scope=scope, seconds_left=max(1, math.ceil(closes_at - time.time())))


def login_lockout(*, username: str, ip: str, trusted_browser: bool) -> Lockout | None:
    """The lock that refuses this attempt before the password is checked, if any."""
    try:
        address = _lockout(
            _address_key(ip), limit=settings.ADMIN_LOGIN_MAX_FAILURES_PER_IP, scope="address"
        )
        if address is not None or trusted_browser:
            return address
        return _lockout(
            _account_key(username),
            limit=settings.ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT,
            scope="account",
        )
    except Exception:
        # Like the API's limit, a cache outage fails open rather than locking everyone out.
        logger.warning("event=admin_login_throttle_unavailable", exc_info=True)
        return None


def _count(key: str) -> None:
    window = int(settings.ADMIN_LOGIN_LOCKOUT_SECONDS)
    closes_key = f"{key}:closes"
    closes_at = cache.get(closes_key)
    if closes_at is not None and float(closes_at) <= time.time():
        # Closed by our clock though the cache still holds it: start over.
        cache.delete_many([key, closes_key])
    # add() lets only the first failure of a window fix when it closes, even when two race.
    cache.add(closes_key, time.time() + window, timeout=window)
    cache.add(key, 0, timeout=window)
    try:
        cache.incr(key)
    except ValueError:  # the cache dropped the count between add() and incr()
        cache.set(key, 1, timeout=window)


def login_failure_record(*, username: str, ip: str) -> None:
    try:
        _count(_account_key(username))
        _count(_address_key(ip))
    except Exception:
        logger.warning("event=admin_login_throttle_unavailable", exc_info=True)
    logger.info("event=admin_login_failed ip=%s", ip)


def login_success_record(*, username: str) -> None:
    """The right password ends the account's count (the address's stays: one valid account
    must not buy an address more guesses at others)."""
    try:
        cache.delete_many([_account_key(username), f"{_account_key(username)}:closes"])
    except Exception:
        logger.warning("event=admin_login_throttle_unavailable", exc_info=True)
