"""200 requests a minute per key and per organization: the 201st is refused, other
organizations are unaffected."""

from __future__ import annotations

import time_machine
from rest_framework.test import APIClient

from anvil_voice.accounts import services

KEYS = "/api/v1/voice/api-keys"


RATE_LIMITED = {
    "success": False,
    "error": {
        "code": "RATE_LIMITED",
        "message": "Rate limit exceeded; retry after the Retry-After delay.",
    },
}


def test_it_refuses_the_201st_request_in_a_minute_with_retry_after(owner, outsider):
    # Freeze the clock so the minute window cannot roll over in the middle of the test.
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        statuses = [owner.client.get(KEYS).status_code for _ in range(200)]
        refused = owner.client.get(KEYS)
        other = outsider.client.get(KEYS)

    assert statuses == [200] * 200
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert other.status_code == 200


def test_it_starts_a_fresh_budget_in_the_next_minute(owner):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False) as traveller:
        for _ in range(201):
            owner.client.get(KEYS)
        assert owner.client.get(KEYS).status_code == 429
        traveller.shift(61)
        assert owner.client.get(KEYS).status_code == 200


def test_it_counts_failed_authentications_against_the_ip(db, anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer avk_AAAAAAAAAA.guess")
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        statuses = [anonymous.get(KEYS).status_code for _ in range(201)]

    assert statuses[:200] == [401] * 200
    assert statuses[200] == 429


def test_two_keys_of_one_organization_share_its_budget(owner, member, outsider):
    """Issue 15, item 15: a second key (or a hundred) buys no more requests; Globex's own
    budget is untouched."""
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        first = [owner.client.get(KEYS).status_code for _ in range(120)]
        second = [member.client.get(KEYS).status_code for _ in range(80)]
        refused = member.client.get(KEYS)
        also_refused = owner.client.get(KEYS)
        other = [outsider.client.get(KEYS).status_code for _ in range(200)]

    assert first + second == [200] * 200
    assert refused.status_code == also_refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert other == [200] * 200


def test_a_key_refused_for_its_own_excess_does_not_drain_the_organizations_budget(owner, settings):
    settings.API_RATE_LIMIT = "5/m"
    settings.API_ORGANIZATION_RATE_LIMIT = "8/m"
    second = APIClient()
    second.credentials(
        HTTP_AUTHORIZATION="Bearer "
        + services.api_key_issue(organization=owner.organization, name="second").raw_key
    )
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        first_key = [owner.client.get(KEYS).status_code for _ in range(7)]
        second_key = [second.get(KEYS).status_code for _ in range(4)]

    # 5 for the first key (its own limit), then 3 for the second (the organization's 8).
    assert first_key == [200] * 5 + [429] * 2
    assert second_key == [200] * 3 + [429]
