"""The per-IP budget: health is outside it, and proxies are believed only when configured.

Issue 15, item 9: unauthenticated junk used to exhaust the per-IP bucket that `/health` shares,
and behind a proxy every client shared the proxy's address.
"""

from __future__ import annotations

from typing import Any

import time_machine
from rest_framework.test import APIClient

KEYS = "/api/v1/voice/api-keys"
HEALTH = "/api/v1/voice/health"
PROXY = "10.0.0.1"
GUESS = "Bearer avk_AAAAAAAAAA.guess"


def guess(client: APIClient, **meta: str) -> int:
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": GUESS, **meta}
    return client.get(KEYS, **headers).status_code


def test_it_never_limits_health_when_junk_exhausted_the_ip(db, anonymous):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        junk = [guess(anonymous) for _ in range(201)]
        health = [anonymous.get(HEALTH).status_code for _ in range(3)]

    assert junk[-1] == 429
    assert health == [200, 200, 200]


def test_two_clients_behind_one_trusted_proxy_get_separate_buckets(db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    first, second = APIClient(REMOTE_ADDR=PROXY), APIClient(REMOTE_ADDR=PROXY)

    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        first_statuses = [guess(first, HTTP_X_FORWARDED_FOR="203.0.113.5") for _ in range(201)]
        second_status = guess(second, HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert first_statuses[:200] == [401] * 200
    assert first_statuses[200] == 429
    assert second_status == 401


def test_it_believes_only_the_entries_the_trusted_proxies_wrote(db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient(REMOTE_ADDR=PROXY)

    # The client writes a new address each time; the proxy appends the one it really saw.
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        statuses = [
            guess(client, HTTP_X_FORWARDED_FOR=f"192.0.2.{i % 250}, 203.0.113.5")
            for i in range(201)
        ]

    assert statuses[200] == 429


def test_it_ignores_the_header_when_no_proxy_is_trusted(db, anonymous, settings):
    settings.TRUSTED_PROXY_COUNT = 0

    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        statuses = [guess(anonymous, HTTP_X_FORWARDED_FOR=f"192.0.2.{i % 250}") for i in range(201)]

    assert statuses[:200] == [401] * 200
    assert statuses[200] == 429


def test_it_reads_the_header_the_settings_name(db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_HEADER = "X-Real-IP"
    first, second = APIClient(REMOTE_ADDR=PROXY), APIClient(REMOTE_ADDR=PROXY)

    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False):
        for _ in range(201):
            guess(first, HTTP_X_REAL_IP="203.0.113.5")
        refused = guess(first, HTTP_X_REAL_IP="203.0.113.5")
        other = guess(second, HTTP_X_REAL_IP="198.51.100.7")

    assert (refused, other) == (429, 401)
