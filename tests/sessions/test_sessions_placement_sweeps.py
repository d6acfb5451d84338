"""The placement sweep's recoveries, against the Twilio simulator: lost placement tasks and
lost final callbacks. The simulator's request log is the witness that nothing rings twice."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anvil_voice" / "telephony"))

from test_carrier_harness import NOWHERE, SimulatorThread, make_session, number, point_settings_at

from sessions.carrier import placement
from sessions.models import CallEvent, CallEventKind, CallSession
from sessions.tasks import session_reconcile_stuck_task

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread() as simulator:
        yield simulator


@pytest.fixture
def twilio_settings(settings, simulator):
    # Callbacks go nowhere: every status callback is lost, as while our webhook is down.
    return point_settings_at(settings, simulator, NOWHERE)


def queued_since(session: CallSession, seconds: float) -> CallSession:
    CallSession.objects.filter(pk=session.pk).update(
        queued_at=timezone.now() - timedelta(seconds=seconds)
    )
    return session


def test_queued_sessions_nobody_claimed_are_listed_for_a_new_task(acme):
    lost = queued_since(make_session(acme, number("04", "501")), 300)
    fresh = make_session(acme, number("04", "502"))
    claimed = queued_since(make_session(acme, number("04", "503")), 300)
    CallSession.objects.filter(pk=claimed.pk).update(status="initiated", placed_at=timezone.now())
    deferred = queued_since(make_session(acme, number("04", "504")), 300)
    # Given back after a 20429: its own delayed retry is pending.
    CallEvent.objects.create(
        session=deferred,
        kind=CallEventKind.PLACEMENT_RELEASED,
        data={"reason": "retry", "code": "20429"},
    )
    deferred_long_ago = queued_since(make_session(acme, number("04", "505")), 3600)
    CallEvent.objects.create(
        session=deferred_long_ago,
        kind=CallEventKind.PLACEMENT_RELEASED,
        data={"reason": "back_pressure", "code": "22005"},
        at=timezone.now() - timedelta(hours=1),
    )

    listed = placement.session_requeue_unplaced(older_than=timedelta(minutes=2))

    assert listed == [deferred_long_ago.pk, lost.pk]
    assert fresh.pk not in listed


def test_the_sweep_places_a_lost_task_once(simulator, twilio_settings, acme):
    to = number("04", "511")
    session = queued_since(make_session(acme, to), 300)

    # Eager Celery: the new placement task runs inside the sweep.
    session_reconcile_stuck_task.delay(older_than_seconds=120).get()
    session_reconcile_stuck_task.delay(older_than_seconds=120).get()

    session.refresh_from_db()
    [call] = simulator.calls_to(to)
    assert len(simulator.creates_to(to)) == 1
    assert session.carrier_call_sid == call.sid


def test_a_call_whose_final_callback_was_lost_is_looked_up(simulator, twilio_settings, acme):
    to = number("01", "521")  # busy
    session = make_session(acme, to)
    assert placement.session_place_call(session_id=session.pk) == "placed"
    session.refresh_from_db()
    simulator.wait_for_end(session.carrier_call_sid)
    session.refresh_from_db()
    assert session.status == "initiated"  # the busy callback went nowhere

    assert placement.session_sync_stale_calls(older_than=timedelta(minutes=5)) == 0
    assert placement.session_sync_stale_calls(older_than=timedelta(seconds=-5)) == 1

    session.refresh_from_db()
    assert (session.status, session.outcome) == ("busy", "busy")
    assert placement.session_sync_stale_calls(older_than=timedelta(seconds=-5)) == 0
    assert len(simulator.creates_to(to)) == 1


def test_the_default_sweep_waits_for_every_call_to_have_ended(settings):
    settings.TWILIO_CALL_TIMEOUT_SECONDS = 30
    settings.TWILIO_TIME_LIMIT_SECONDS = 900

    assert placement.call_lifetime_bound() == timedelta(seconds=930)


def test_a_claim_that_never_dialled_is_given_back_and_placed_once(simulator, twilio_settings, acme):
    to = number("04", "541")
    session = queued_since(make_session(acme, to), 300)
    # What a worker that died between its claim and the dial leaves: claimed, never marked.
    CallSession.objects.filter(pk=session.pk).update(
        status="initiated", placed_at=timezone.now() - timedelta(seconds=300)
    )

    session_reconcile_stuck_task.delay(older_than_seconds=120).get()

    session.refresh_from_db()
    [call] = simulator.calls_to(to)
    assert len(simulator.creates_to(to)) == 1
    assert session.carrier_call_sid == call.sid
    assert session.attempt_number == 1
    released = CallEvent.objects.get(session=session, kind="placement_released")
    assert released.data == {"reason": "not_dialled", "code": ""}


def test_a_claim_marked_for_dialling_is_never_given_back(acme):
    session = make_session(acme, number("04", "542"))
    placed_at = timezone.now() - timedelta(seconds=300)
    CallSession.objects.filter(pk=session.pk).update(status="initiated", placed_at=placed_at)
    CallEvent.objects.create(session=session, kind=CallEventKind.PLACEMENT_CLAIMED)
    session.refresh_from_db()

    assert placement._release_undialled_claim(session) is False

    session.refresh_from_db()
    assert (session.status, session.placed_at) == ("initiated", placed_at)
