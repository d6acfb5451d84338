"""A Celery worker killed with SIGKILL mid-placement or mid-dispatch: nothing rings twice, no
attempt is lost.

A real worker process (solo pool: the task dies with the process) takes tasks from a private
Redis and works on this test's database; the Twilio simulator (a thread here) is the witness of
what rang, our ASGI app (a thread here) receives its status callbacks. The kills are placed
deterministically: the simulator holds a create's answer (the call exists at "Twilio", our row
has no call id), or the test holds the campaign row while Redis is frozen, so the dispatcher's
claim commits and its enqueue hangs. After each kill a new worker starts; Redis hands it the
unacknowledged task (a short visibility timeout stands in for the production hour) and the
placement sweep (`session_reconcile_stuck_task`, which beat runs every minute, sent here with a
one-second age) recovers what the dead worker left. The ledger compares, per contact, the
attempts and sessions in our database with the calls the simulator made.
"""

from __future__ import annotations

import contextlib
import gc
import os
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
    PrivateRedis,
    assert_each_attempt_dialled_once,
    base_env,
    celery_process,
    dial_ledger,
    recovery_summary,
    redis_server_binary,
    seed_running_campaign,
    send_task,
    wait_until,
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
from campaigns.models import Campaign, CampaignContact, CampaignStats, CampaignStatus
from sessions.models import CallEvent, CallSession

pytestmark = [
    pytest.mark.skipif(redis_server_binary() is None, reason="needs the redis-server binary"),
    pytest.mark.django_db(transaction=True),
]

DISPATCH = "campaigns.tasks.dispatch_campaigns"
SWEEP = "sessions.tasks.session_reconcile_stuck_task"
# Generous: a worker needs several seconds to import Django on a busy 2-core machine.
BOOT = 90.0
WAIT = 45.0


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server
    # Each request ran in a thread of its own whose database connection outlives it until
    # collected; left open, it keeps pytest-django from dropping the test database.
    gc.collect()


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread() as simulator:
        yield simulator


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def worker(
    settings: Any,
    redis_server: PrivateRedis,
    simulator: SimulatorThread,
    asgi_server: AsgiServer,
    tmp_path: Path,
) -> Iterator[ManagedProcess]:
    point_settings_at(settings, simulator, asgi_server.url)
    database = connection.settings_dict
    env = base_env(
        CELERY_BROKER_URL=redis_server.url(0),
        RESILIENCE_DB_NAME=str(database["NAME"]),
        RESILIENCE_VISIBILITY_TIMEOUT="3",
        ANVIL_VAR_DIR=str(tmp_path / "var"),
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=simulator.base_url,
        PUBLIC_BASE_URL=asgi_server.url,
        TWILIO_HTTP_TIMEOUT_SECONDS="5",
        TWILIO_TIME_LIMIT_SECONDS="100",
        CAMPAIGNS_CALLER_ID_CHECK="simulator",
    )
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        env["REDIS_URL"] = redis_server.url(1)
    process = celery_process("worker", env, tmp_path / "worker")
    try:
        # Booting overlaps the test's own setup; tests wait for "ready." before sending work.
        yield process.start()
    finally:
        process.kill()
        # Shown by pytest for a failing test (and with -s): tmp folders do not last.
        print(f"recoveries: {recovery_summary(process)}")
        print(process.all_output()[-6000:])


def finished(campaign: Campaign) -> bool:
    return not CampaignContact.objects.filter(
        campaign=campaign, state__in=["pending", "in_progress"]
    ).exists()


def run_to_completed(campaign: Campaign, broker_url: str) -> None:
    wait_until(lambda: finished(campaign), WAIT, "every contact to finish")

    last_tick = [0.0]

    def completed() -> bool:
        campaign.refresh_from_db()
        if campaign.status == CampaignStatus.COMPLETED:
            return True
        # A dispatcher tick completes a finished campaign: one a second, like beat.
        if time.monotonic() - last_tick[0] >= 1.0:
            send_task(broker_url, DISPATCH)
            last_tick[0] = time.monotonic()
        return False

    wait_until(completed, WAIT, "the campaign to complete")


def assert_counters_match_a_rebuild(campaign: Campaign) -> None:
    rebuilt = services.campaign_stats_rebuild(campaign=campaign, save=False)
    stored = CampaignStats.objects.get(campaign=campaign)
    fields = [field.attname for field in CampaignStats._meta.concrete_fields]
    skip = {"id", "campaign_id", "updated_at", "rebuilt_at"}
    assert {f: getattr(stored, f) for f in fields if f not in skip} == {
        f: getattr(rebuilt, f) for f in fields if f not in skip
    }


def test_a_worker_killed_between_calls_create_and_storing_the_sid_rings_once(
    acme, worker, redis_server, simulator
):
    numbers = [number("00", "611"), number("01", "624"), number("00", "625")]
    campaign = seed_running_campaign(
        acme, numbers, max_concurrent_calls=5, calls_per_second=5, max_attempts=1
    )
    # The first create makes the call, then its answer is held: the worker is killed while
    # the call exists at "Twilio" and our row has no call id.
    simulator.on_loop(lambda: simulator.sim.faults.stall_next_creates(1, 60.0))
    worker.wait_for_output("ready.", BOOT)

    send_task(redis_server.url(), DISPATCH)

    def stalled_number() -> str | None:
        for to in numbers:
            if any(call.log.of_kind("rest_stalled") for call in simulator.calls_to(to)):
                return to
        return None

    stalled = wait_until(stalled_number, WAIT, "a create whose answer is held")
    session = CallSession.objects.get(to_number=stalled)
    [held] = simulator.calls_to(stalled)
    # The create's answer never reached the worker. The call's own status callbacks may have
    # bound its id already (their URL carries our session token); nothing else can have.
    assert session.status in {"initiated", "ringing"}
    assert session.carrier_call_sid in {None, held.sid}
    worker.kill()

    worker.start()
    # Redis hands the killed task to the new worker; its claim says "already placed".
    worker.wait_for_output(f"event=placement_not_claimed session={session.pk}", BOOT)
    assert len(simulator.creates_to(stalled)) == 1
    send_task(redis_server.url(), SWEEP, older_than_seconds=1)
    run_to_completed(campaign, redis_server.url())

    assert_each_attempt_dialled_once(dial_ledger(campaign, simulator), attempts=1)
    session.refresh_from_db()
    [call] = simulator.calls_to(stalled)
    assert session.carrier_call_sid == call.sid
    created = CallEvent.objects.get(session=session, kind="call_created")
    # Bound by whichever comes first: the call's own status callback (its URL carries our
    # session token) or the sweep's look-up at the carrier. Never by a second create.
    assert created.data["call_sid"] == call.sid
    assert created.data["how"] in {"callback", "reconciled"}
    assert session.outcome in {"no_answer", "busy"}
    assert_counters_match_a_rebuild(campaign)


@contextlib.contextmanager
def holding_the_campaign_row(campaign: Campaign) -> Iterator[None]:
    """Block the dispatcher's claim: a row lock on PostgreSQL, the write lock on SQLite."""
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        import psycopg

        other = psycopg.connect(
            dbname=settings_dict["NAME"],
            user=settings_dict["USER"],
            password=settings_dict["PASSWORD"] or None,
            host=settings_dict["HOST"],
            port=settings_dict["PORT"] or 5432,
        )
        try:
            other.execute(
                f"SELECT id FROM {Campaign._meta.db_table} WHERE id = %s FOR UPDATE",
                [campaign.pk],
            )
            yield
        finally:
            other.rollback()
            other.close()
    else:
        import sqlite3

        writer = sqlite3.connect(settings_dict["NAME"], isolation_level=None, timeout=20)
        try:
            writer.execute("BEGIN IMMEDIATE")
            yield
        finally:
            writer.rollback()
            writer.close()


def test_a_worker_killed_after_the_claim_commits_and_before_the_enqueue_loses_no_claim(
    acme, worker, redis_server, simulator
):
    numbers = [number("00", "621"), number("01", "627"), number("00", "632")]
    campaign = seed_running_campaign(
        acme, numbers, max_concurrent_calls=5, calls_per_second=5, max_attempts=1
    )
    worker.wait_for_output("ready.", BOOT)
    broker = redis_server.client()

    with holding_the_campaign_row(campaign):
        send_task(redis_server.url(), DISPATCH)
        # The worker holds the dispatch task (unacknowledged) and waits for our lock.
        wait_until(lambda: broker.hlen("unacked") >= 1, WAIT, "the worker to take the tick")
        redis_server.pause()
    # The claim commits; publishing the placement tasks hangs on the frozen Redis.
    wait_until(
        lambda: CallSession.objects.filter(campaign=campaign).count() == len(numbers),
        WAIT,
        "the claim to commit",
    )
    worker.kill()
    redis_server.resume()
    assert simulator.creates_to(numbers[0]) == []
    assert CallSession.objects.filter(campaign=campaign, status="queued").count() == 3

    worker.start()
    worker.wait_for_output("ready.", BOOT)
    # At most the one publish the frozen Redis had buffered got through: the others are lost
    # until the sweep gives their sessions a new task.
    assert CallSession.objects.filter(campaign=campaign, status="queued").count() >= 2
    send_task(redis_server.url(), SWEEP, older_than_seconds=1)
    run_to_completed(campaign, redis_server.url())

    assert_each_attempt_dialled_once(dial_ledger(campaign, simulator), attempts=1)
    assert_counters_match_a_rebuild(campaign)
