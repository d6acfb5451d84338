"""Placing a call exactly once, through the real SDK against the Twilio simulator.

The simulator's request log is the witness: whatever goes wrong (timeouts after the call was
made, 20429, redelivered tasks, two workers at once, a worker dying mid-way), it must show
exactly one `POST Calls.json` that made a call for the session's number.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anvil_voice" / "telephony"))

from test_carrier_harness import (
    NOWHERE,
    SimulatorThread,
    in_thread,
    make_session,
    number,
    point_settings_at,
)

from anvil_voice.telephony.carrier import PlaceCallErrorKind
from anvil_voice.telephony.twilio import TwilioCarrier
from campaigns.models import DoNotCallEntry
from sessions.carrier import placement
from sessions.carrier.calls import outbound_call
from sessions.carrier.placement import PlacementOutcome, session_place_call
from sessions.models import CallEvent, CallSession
from sessions.tasks import PLACEMENT_MAX_RETRIES, session_place_call_task

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread() as simulator:
        yield simulator


@pytest.fixture
def twilio_settings(settings, simulator):
    return point_settings_at(settings, simulator, NOWHERE)


def kinds(session: CallSession) -> list[str]:
    return list(CallEvent.objects.filter(session=session).values_list("kind", flat=True))


def test_it_places_the_call_and_keeps_its_sid(simulator, twilio_settings, acme):
    to = number("04", "401")
    session = make_session(acme, to)

    assert session_place_call(session_id=session.pk) == PlacementOutcome.PLACED

    [call] = simulator.calls_to(to)
    session.refresh_from_db()
    assert (session.status, session.carrier_call_sid) == ("initiated", call.sid)
    assert session.placed_at is not None
    assert kinds(session) == ["placement_claimed", "call_created"]


def test_a_create_that_times_out_after_the_call_was_made_is_reconciled_not_redialled(
    simulator, twilio_settings, acme
):
    # The simulator makes the call, then holds its answer past our client's timeout.
    twilio_settings.TWILIO_HTTP_TIMEOUT_SECONDS = 0.3
    simulator.sim.faults.stall_next_creates(1, seconds=2.0)
    to = number("04", "402")
    session = make_session(acme, to)

    assert session_place_call_task.delay(session.pk).get() == PlacementOutcome.RECONCILED

    [call] = simulator.calls_to(to)
    assert len(simulator.creates_to(to)) == 1
    assert call.log.of_kind("rest_stalled") != []
    session.refresh_from_db()
    assert session.carrier_call_sid == call.sid
    assert kinds(session)[:3] == ["placement_claimed", "placement_unknown", "call_created"]
    created = CallEvent.objects.get(session=session, kind="call_created")
    assert created.data == {"call_sid": call.sid, "how": "reconciled"}


def test_a_500_without_a_call_is_looked_up_twice_then_failed(simulator, twilio_settings, acme):
    simulator.sim.faults.fail_next_creates(1, status=500)
    to = number("04", "403")
    session = make_session(acme, to)

    # Eager Celery runs the later, final lookup at once.
    session_place_call_task.delay(session.pk)

    assert simulator.calls_to(to) == []
    assert len(simulator.creates_to(to)) == 1
    session.refresh_from_db()
    assert (session.status, session.outcome, session.error_code) == (
        "failed",
        "failed",
        "placement_unconfirmed",
    )
    assert kinds(session) == [
        "placement_claimed",
        "placement_unknown",
        "placement_unconfirmed",
        "finished",
    ]


def test_20429_is_retried_and_rings_once(simulator, twilio_settings, acme, eager_retries):
    simulator.sim.faults.fail_next_creates(2, status=429)
    to = number("04", "404")
    session = make_session(acme, to)

    session_place_call_task.delay(session.pk)

    [call] = simulator.calls_to(to)
    assert [request["status"] for request in simulator.creates_to(to)] == [429, 429, 201]
    session.refresh_from_db()
    assert session.carrier_call_sid == call.sid
    assert kinds(session) == [
        "placement_claimed",
        "placement_released",
        "placement_claimed",
        "placement_released",
        "placement_claimed",
        "call_created",
    ]


def test_back_pressure_puts_the_session_back_and_tries_later(
    simulator, twilio_settings, acme, eager_retries
):
    simulator.sim.faults.fail_next_creates(1, status=400, code=22005)
    to = number("04", "405")
    session = make_session(acme, to)

    session_place_call_task.delay(session.pk)

    assert len(simulator.calls_to(to)) == 1
    released = CallEvent.objects.get(session=session, kind="placement_released")
    assert released.data == {"reason": "back_pressure", "code": "22005"}


def test_it_backs_off_longer_under_back_pressure_than_after_20429():
    retry = [placement.retry_countdown(PlaceCallErrorKind.RETRY, n) for n in range(12)]
    pressure = [placement.retry_countdown(PlaceCallErrorKind.BACK_PRESSURE, n) for n in range(12)]

    assert 0.5 <= retry[0] <= 1.0
    assert max(retry) <= 60
    assert 7.5 <= pressure[0] <= 15
    assert max(pressure) <= 600
    assert retry[5] >= 16  # 2**5 with at most half taken off by jitter


def test_it_gives_up_after_the_last_retry(simulator, twilio_settings, acme, eager_retries):
    simulator.sim.faults.fail_next_creates(PLACEMENT_MAX_RETRIES + 1, status=429)
    to = number("04", "406")
    session = make_session(acme, to)

    session_place_call_task.delay(session.pk)

    assert simulator.calls_to(to) == []
    session.refresh_from_db()
    assert (session.status, session.error_code, session.placed_at) == ("failed", "20429", None)
    simulator.sim.faults.reset()


def test_a_redelivered_task_does_not_ring_twice(simulator, twilio_settings, acme):
    to = number("04", "407")
    session = make_session(acme, to)
    session_place_call_task.delay(session.pk)

    assert session_place_call_task.delay(session.pk).get() == PlacementOutcome.NOT_CLAIMED

    assert len(simulator.creates_to(to)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_placing_the_same_session_ring_once(simulator, twilio_settings, acme):
    to = number("04", "408")
    session = make_session(acme, to)
    barrier = threading.Barrier(2)

    def worker() -> PlacementOutcome:
        barrier.wait(5)
        return session_place_call(session_id=session.pk)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(in_thread(worker)) for _ in range(2)]
        outcomes = [future.result(15) for future in futures]

    assert sorted(outcomes) == [PlacementOutcome.NOT_CLAIMED, PlacementOutcome.PLACED]
    [call] = simulator.calls_to(to)
    assert len(simulator.creates_to(to)) == 1
    session.refresh_from_db()
    assert session.carrier_call_sid == call.sid


def test_an_invalid_number_fails_the_session_with_the_carriers_code(
    simulator, twilio_settings, acme
):
    session = make_session(acme, "5550104")

    assert session_place_call(session_id=session.pk) == PlacementOutcome.FAILED

    session.refresh_from_db()
    assert (session.status, session.outcome, session.end_reason, session.error_code) == (
        "failed",
        "failed",
        "invalid_number",
        "21211",
    )
    assert kinds(session) == ["placement_claimed", "finished"]


def test_a_number_added_to_the_do_not_call_list_is_never_dialled(simulator, twilio_settings, acme):
    to = number("04", "409")
    session = make_session(acme, to)
    DoNotCallEntry.objects.create(organization=acme, phone_number=to, source="opt_out")

    assert session_place_call(session_id=session.pk) == PlacementOutcome.DO_NOT_CALL

    assert simulator.creates_to(to) == []
    session.refresh_from_db()
    assert (session.status, session.outcome, session.error_code) == (
        "failed",
        "do_not_call",
        "do_not_call",
    )


def test_another_organizations_do_not_call_list_does_not_apply(
    simulator, twilio_settings, acme, globex
):
    to = number("04", "410")
    DoNotCallEntry.objects.create(organization=globex, phone_number=to)

    assert session_place_call(session_id=make_session(acme, to).pk) == PlacementOutcome.PLACED


def test_the_sweep_finds_the_call_of_a_worker_that_died_before_storing_it(
    simulator, twilio_settings, acme
):
    to = number("04", "411")
    session = make_session(acme, to)
    # What a dying worker leaves behind: the claim, the call at Twilio, no sid in our row.
    CallSession.objects.filter(pk=session.pk).update(status="initiated", placed_at=timezone.now())
    session.refresh_from_db()
    sid = TwilioCarrier().place_call(outbound_call(session))
    abandoned = make_session(acme, number("04", "412"))
    CallSession.objects.filter(pk=abandoned.pk).update(status="initiated", placed_at=timezone.now())
    # It had marked its claim (it was about to dial): no call found means failed, not retried.
    CallEvent.objects.create(session=abandoned, kind="placement_claimed")

    assert placement.session_reconcile_stuck(older_than=timedelta(seconds=-5)) == 2

    session.refresh_from_db()
    abandoned.refresh_from_db()
    assert session.carrier_call_sid == sid
    assert len(simulator.creates_to(to)) == 1
    assert (abandoned.status, abandoned.error_code) == ("failed", "placement_unconfirmed")
    assert placement.session_reconcile_stuck(older_than=timedelta(seconds=-5)) == 0


def test_the_sweep_leaves_fresh_placements_alone(simulator, twilio_settings, acme):
    session = make_session(acme, number("04", "413"))
    CallSession.objects.filter(pk=session.pk).update(status="initiated", placed_at=timezone.now())

    assert placement.session_reconcile_stuck(older_than=timedelta(minutes=2)) == 0


def test_a_reconciled_call_that_already_ended_ends_the_session(simulator, twilio_settings, acme):
    to = number("01", "414")  # busy
    session = make_session(acme, to)
    CallSession.objects.filter(pk=session.pk).update(status="initiated", placed_at=timezone.now())
    session.refresh_from_db()
    sid = TwilioCarrier().place_call(outbound_call(session))
    simulator.wait_for_end(sid)

    assert placement.session_reconcile(session_id=session.pk, final=True) == "reconciled"

    session.refresh_from_db()
    assert (session.carrier_call_sid, session.status, session.outcome) == (sid, "busy", "busy")
