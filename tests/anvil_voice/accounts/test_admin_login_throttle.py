"""Admin sign-in is throttled per account and per address (issue 15, item 10).

Before: 300 wrong passwords in 4 minutes, then the right one let the attacker in.
"""

from __future__ import annotations

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from anvil_voice.accounts.factories import UserFactory

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"
ACCOUNT_LOCKED = (
    "Too many failed sign-in attempts for this account. Try again in 15 minutes, or sign in "
    "from a browser you have signed in with before."
)
ADDRESS_LOCKED = "Too many failed sign-in attempts from your network. Try again in 15 minutes."


@pytest.fixture
def staff(db):
    return UserFactory(username="olivia", is_staff=True, is_superuser=True)


def sign_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def signed_in(client: Client) -> bool:
    # Call it under the frozen clock: the session is dated there and would look expired now.
    return client.get("/admin/").status_code == 200


def from_address(n: int) -> Client:
    return Client(REMOTE_ADDR=f"198.51.100.{n}")


def test_it_locks_the_account_after_ten_failures_from_any_addresses(staff):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        failures = [sign_in(from_address(n), "olivia", "guess").status_code for n in range(10)]
        attacker = from_address(99)
        response = sign_in(attacker, "olivia", PASSWORD)
        attacker_in = signed_in(attacker)

    assert failures == [200] * 10
    assert response.status_code == 200
    assert ACCOUNT_LOCKED in response.content.decode()
    assert not attacker_in


def test_the_account_counts_casefolded_usernames_together(staff):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        for n in range(10):
            sign_in(from_address(n), "Olivia" if n % 2 else "OLIVIA", "guess")
        response = sign_in(from_address(99), "olivia", PASSWORD)

    assert ACCOUNT_LOCKED in response.content.decode()


def test_the_owner_signs_in_once_the_window_closes(staff):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False) as clock:
        for n in range(10):
            sign_in(from_address(n), "olivia", "guess")
        clock.shift(14 * 60)
        # Attempts refused during the lock are not counted: they cannot stretch it.
        refused = sign_in(from_address(50), "olivia", "guess")
        clock.shift(60)
        owner = from_address(200)
        response = sign_in(owner, "olivia", PASSWORD)
        owner_in = signed_in(owner)

    assert "Try again in 1 minute, or sign in" in refused.content.decode()
    assert response.status_code == 302
    assert owner_in


def test_a_browser_that_signed_in_before_gets_past_the_accounts_lock(staff):
    owner = from_address(200)
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        assert sign_in(owner, "olivia", PASSWORD).status_code == 302
        owner.post("/admin/logout/")
        for n in range(20):
            sign_in(from_address(n), "olivia", "guess")
        stranger = sign_in(from_address(99), "olivia", PASSWORD)
        response = sign_in(owner, "olivia", PASSWORD)
        owner_in = signed_in(owner)

    assert ACCOUNT_LOCKED in stranger.content.decode()
    assert response.status_code == 302
    assert owner_in


def test_it_locks_an_address_that_guesses_at_many_accounts(staff):
    UserFactory(username="mario", is_staff=True)
    sprayer = from_address(7)
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        for n in range(30):
            sign_in(sprayer, f"user-{n}", "guess")
        refused = sign_in(sprayer, "mario", PASSWORD)
        sprayer_in = signed_in(sprayer)
        elsewhere = from_address(8)
        allowed = sign_in(elsewhere, "mario", PASSWORD)

    assert refused.status_code == 200
    assert ADDRESS_LOCKED in refused.content.decode()
    assert not sprayer_in
    assert allowed.status_code == 302


def test_a_successful_sign_in_ends_the_accounts_count(staff):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        for n in range(9):
            sign_in(from_address(n), "olivia", "guess")
        assert sign_in(from_address(100), "olivia", PASSWORD).status_code == 302
        for n in range(9):
            sign_in(from_address(n), "olivia", "guess")
        response = sign_in(from_address(101), "olivia", PASSWORD)

    assert response.status_code == 302


def test_it_counts_the_address_the_trusted_proxy_saw(staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="mario", is_staff=True)
    behind_proxy = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    neighbour = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.6")
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        for n in range(30):
            sign_in(behind_proxy, f"user-{n}", "guess")
        refused = sign_in(behind_proxy, "mario", PASSWORD)
        allowed = sign_in(neighbour, "mario", PASSWORD)

    assert ADDRESS_LOCKED in refused.content.decode()
    assert allowed.status_code == 302


def test_a_cache_outage_lets_sign_ins_through(staff, monkeypatch):
    # Like the API's limit, the throttle fails open: an outage must not lock every admin out.
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", broken)
    monkeypatch.setattr(cache, "add", broken)
    owner = from_address(200)
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        wrong = sign_in(owner, "olivia", "guess")
        response = sign_in(owner, "olivia", PASSWORD)

    assert wrong.status_code == 200
    assert response.status_code == 302
