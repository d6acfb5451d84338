"""Redis, then PostgreSQL, restarted under a running campaign: it completes, nothing is lost.

Everything the campaign needs runs against PRIVATE servers started for this test (never the
shared ones other suites use): a Redis without persistence (its restart drops every queued and
unacknowledged task) and a PostgreSQL cluster (its restart drops every connection). A Celery
worker and beat run as real processes (beat ticks the dispatcher every second and, here, the
placement sweep every 3 s instead of every minute); our ASGI app (a thread of this process)
takes the Twilio simulator's status callbacks, some of which fail while PostgreSQL is down.

The test process itself is pointed at the private cluster for the duration (its schema copied
from pytest-django's test database), so the campaign is seeded and checked with the ORM.
At the end every contact had exactly `max_attempts` sessions and calls (simulator vs database),
and the campaign's counters equal a rebuild from rows.

Needs PostgreSQL and Redis binaries and runs in the PostgreSQL pass of `.ci/run`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anvil_voice" / "telephony"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from process_support import (
    ManagedProcess,
    PrivatePostgres,
    PrivateRedis,
    assert_each_attempt_dialled_once,
    base_env,
    celery_process,
    dial_ledger,
    logs_on_failure,
    postgres_bin_dir,
    recovery_summary,
    redis_server_binary,
    seed_running_campaign,
    wait_until,
    zoneless_area_codes,
)
from test_carrier_harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    AsgiServer,
    SimulatorThread,
    number,
    point_settings_at,
)

from campaigns import services
from campaigns.models import CampaignStats, CampaignStatus
from sessions.models import CallSession

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(redis_server_binary() is None, reason="needs the redis-server binary"),
    pytest.mark.skipif(postgres_bin_dir() is None, reason="needs PostgreSQL's initdb and pg_ctl"),
    pytest.mark.skipif(
        "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="runs in the PostgreSQL pass (DATABASE_URL=postgres://...)",
    ),
    pytest.mark.django_db(transaction=True),
]

BOOT = 90.0
OUTAGE_SECONDS = 1.5
CONTACTS = 6
ATTEMPTS = 2


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init().start()
        yield server
    finally:
        server.stop_quietly()


@pytest.fixture
def on_private_postgres(private_postgres: PrivatePostgres) -> Iterator[str]:
    """This process's ORM on a copy of the test database in the private cluster."""
    private_postgres.create_database("campaign")
    source = connection.settings_dict
    assert private_postgres.bin is not None
    dump = subprocess.run(
        [
            str(private_postgres.bin / "pg_dump"),
            "--no-owner",
            "--no-privileges",
            f"--dbname={source['NAME']}",
            f"--host={source['HOST'] or '127.0.0.1'}",
            f"--port={source['PORT'] or 5432}",
            f"--username={source['USER']}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PGPASSWORD": source["PASSWORD"] or ""},
    )
    subprocess.run(
        [
            str(private_postgres.bin / "psql"),
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            private_postgres.url("campaign"),
        ],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=60,
    )
    saved = {key: source[key] for key in ("NAME", "HOST", "PORT", "USER", "PASSWORD")}
    connection.close()
    # Every thread's connection is built from this one dict: the ASGI thread follows too.
    source.update(NAME="campaign", HOST="127.0.0.1", PORT=private_postgres.port)
    source.update(USER="postgres", PASSWORD="")
    try:
        yield private_postgres.url("campaign")
    finally:
        connection.close()
        source.update(saved)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    try:
        yield server.start()
    finally:
        server.stop()


def test_the_campaign_survives_redis_and_postgres_restarts(
    settings: Any, acme_on_private: Any, on_private_postgres: str, private_redis: PrivateRedis,
    private_postgres: PrivatePostgres, tmp_path: Path,
) -> None:  # fmt: skip
    processes: list[ManagedProcess] = []
    with AsgiServer() as asgi_server, SimulatorThread() as simulator:
        point_settings_at(settings, simulator, asgi_server.url)
        env = base_env(
            DATABASE_URL=on_private_postgres,
            REDIS_URL=private_redis.url(1),
            CELERY_BROKER_URL=private_redis.url(0),
            RESILIENCE_VISIBILITY_TIMEOUT="5",
            RESILIENCE_SWEEP_EVERY="3",
            RESILIENCE_CALLS_AGE="5",
            ANVIL_VAR_DIR=str(tmp_path / "var"),
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_API_BASE_URL=simulator.base_url,
            PUBLIC_BASE_URL=asgi_server.url,
            TWILIO_HTTP_TIMEOUT_SECONDS="5",
            TWILIO_TIME_LIMIT_SECONDS="100",
            # Unanswered calls ring 1 s (scaled): some end while PostgreSQL is down, and their
            # final callback is lost.
            TWILIO_CALL_TIMEOUT_SECONDS="100",
            CAMPAIGNS_CALLER_ID_CHECK="simulator",
        )
        worker = celery_process("worker", env, tmp_path / "worker")
        beat = celery_process("beat", env, tmp_path / "beat")
        try:
            processes += [worker.start(), beat.start()]
            with logs_on_failure(worker, beat):
                # Area codes with no zone: the workers use the real clock (process_support).
                areas = zoneless_area_codes(CONTACTS)
                numbers = [number("00" if i % 2 else "01", areas[i]) for i in range(CONTACTS)]
                campaign = seed_running_campaign(
                    acme_on_private,
                    numbers,
                    max_concurrent_calls=2,
                    calls_per_second=1,
                    max_attempts=ATTEMPTS,
                    retry_no_answer_minutes=0,
                    retry_busy_minutes=0,
                )
                total = CONTACTS * ATTEMPTS

                def sessions() -> int:
                    return CallSession.objects.filter(campaign=campaign).count()

                wait_until(lambda: sessions() >= 3, BOOT, "the campaign to be under way")
                at_redis_restart = sessions()
                private_redis.stop()
                time.sleep(OUTAGE_SECONDS)
                private_redis.start()

                wait_until(lambda: sessions() >= at_redis_restart + 3, BOOT, "dialling to resume")
                at_postgres_restart = sessions()
                private_postgres.stop()
                time.sleep(OUTAGE_SECONDS)
                private_postgres.start()
                connection.close()  # ours died with the server

                def completed() -> bool:
                    campaign.refresh_from_db()
                    return campaign.status == CampaignStatus.COMPLETED

                wait_until(completed, BOOT, "the campaign to complete")
        finally:
            for process in processes:
                process.kill()
            print(f"recoveries: {recovery_summary(worker, beat)}")
            print(worker.all_output()[-6000:])
        ledger = dial_ledger(campaign, simulator)
        refused = simulator.on_loop(
            lambda: [
                entry
                for call in simulator.sim.calls
                for entry in call.log.of_kind("callback")
                if entry["http_status"] != 200
            ]
        )
        print(f"status callbacks our app did not take: {len(refused)}")

    assert at_redis_restart < total
    assert at_postgres_restart < total
    assert_each_attempt_dialled_once(ledger, attempts=ATTEMPTS)
    assert {entry["state"] for entry in ledger.values()} == {"exhausted"}
    rebuilt = services.campaign_stats_rebuild(campaign=campaign, save=False)
    stored = CampaignStats.objects.get(campaign=campaign)
    skip = {"id", "campaign_id", "updated_at", "rebuilt_at"}
    fields = [f.attname for f in CampaignStats._meta.concrete_fields if f.attname not in skip]
    assert {f: getattr(stored, f) for f in fields} == {f: getattr(rebuilt, f) for f in fields}
    assert (stored.sessions_created, stored.calls_finished) == (total, total)


@pytest.fixture
def acme_on_private(on_private_postgres: str) -> Any:
    from anvil_voice.accounts.factories import OrganizationFactory

    return OrganizationFactory(name="Acme", slug="acme")
