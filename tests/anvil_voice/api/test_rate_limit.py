"""200 requests a minute per key: the 201st is refused, other keys are unaffected."""

from __future__ import annotations

import time_machine

KEYS = "/api/v1/voice/api-keys"


def test_it_refuses_the_201st_request_in_a_minute_with_retry_after(owner, member):
    # Freeze the clock so the minute window cannot roll over in the middle of the test.
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        statuses = [owner.client.get(KEYS).status_code for _ in range(200)]
        refused = owner.client.get(KEYS)
        other = member.client.get(KEYS)

    assert statuses == [200] * 200
    assert refused.status_code == 429
    assert refused.json() == {
        "success": False,
        "error": {
            "code": "RATE_LIMITED",
            "message": "Rate limit exceeded; retry after the Retry-After delay.",
        },
    }
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
