"""`sessions.carrier.status`: applying the carrier's callbacks once, forwards only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from anvil_voice.telephony import twilio_callbacks
from anvil_voice.telephony.callbacks import CarrierAnsweredBy, CarrierCallStatus, StatusCallback
from sessions.carrier import status
from sessions.factories import CallSessionFactory
from sessions.models import AnsweredBy, CallEvent, CallSession, CallStatus
from sessions.signals import session_finished

CALL_SID = "CA" + "c" * 32


@pytest.fixture
def finished() -> Any:
    sent: list[int] = []
    lock = threading.Lock()

    def receiver(sender: Any, session: CallSession, **kwargs: Any) -> None:
        with lock:
            sent.append(session.pk)

    session_finished.connect(receiver, dispatch_uid="test-status-finished")
    yield sent
    session_finished.disconnect(dispatch_uid="test-status-finished")


def callback(call_status: str, sequence: int | None, **extra: str) -> StatusCallback:
    params = {"CallSid": CALL_SID, "CallStatus": call_status, **extra}
    if sequence is not None:
        params["SequenceNumber"] = str(sequence)
    return twilio_callbacks.parse_status_callback(params)


def test_the_carrier_neutral_values_are_our_model_choices():
    assert {str(value) for value in CarrierCallStatus} == set(CallStatus.values)
    # A phone menu is ours to tell (the pipeline heard its options), never the carrier's.
    ours = {AnsweredBy.IVR.value}
    assert {str(value) for value in CarrierAnsweredBy} == set(AnsweredBy.values) - ours


@pytest.mark.django_db
def test_without_sequence_numbers_only_later_statuses_apply(django_capture_on_commit_callbacks):
    session = CallSessionFactory(status="initiated", carrier_call_sid=CALL_SID)

    with django_capture_on_commit_callbacks(execute=True):
        results = [
            status.session_apply_status_callback(callback=callback(name, None))
            for name in ("ringing", "initiated", "ringing", "in-progress", "ringing")
        ]

    assert results == ["applied", "stale", "duplicate", "applied", "duplicate"]
    session.refresh_from_db()
    assert (session.status, session.last_sequence_number) == ("in_progress", -1)


@pytest.mark.django_db
def test_a_terminal_session_never_changes_status(django_capture_on_commit_callbacks, finished):
    session = CallSessionFactory(status="initiated", carrier_call_sid=CALL_SID)

    with django_capture_on_commit_callbacks(execute=True):
        status.session_apply_status_callback(callback=callback("busy", 1))
        late = status.session_apply_status_callback(callback=callback("completed", 2))

    assert late == "stale"
    session.refresh_from_db()
    assert (session.status, session.outcome) == ("busy", "busy")
    assert finished == [session.pk]


@pytest.mark.django_db
def test_finishing_happens_once_whoever_asks(django_capture_on_commit_callbacks, finished):
    session = CallSessionFactory(status="in_progress", carrier_call_sid=CALL_SID)

    with django_capture_on_commit_callbacks(execute=True):
        first = status.session_finish(session_id=session.pk, status="completed")
        second = status.session_finish(session_id=session.pk, status="failed")

    assert (first, second) == (True, False)
    session.refresh_from_db()
    assert (session.status, session.outcome) == ("completed", "completed")
    assert finished == [session.pk]


@pytest.mark.django_db
def test_a_guarded_finish_leaves_a_session_that_moved_on(django_capture_on_commit_callbacks):
    session = CallSessionFactory(status="initiated", carrier_call_sid=CALL_SID)

    assert not status.session_finish(session_id=session.pk, status="failed", require_no_call=True)
    assert not status.session_finish(
        session_id=session.pk, status="failed", expected_status="queued"
    )
    session.refresh_from_db()
    assert session.status == "initiated"


@pytest.mark.django_db
def test_a_looked_up_status_only_moves_forward(django_capture_on_commit_callbacks, finished):
    session = CallSessionFactory(status="ringing", carrier_call_sid=CALL_SID)

    with django_capture_on_commit_callbacks(execute=True):
        assert not status.session_apply_carrier_status(
            session_id=session.pk, status=CarrierCallStatus.INITIATED
        )
        assert not status.session_apply_carrier_status(session_id=session.pk, status=None)
        assert status.session_apply_carrier_status(
            session_id=session.pk, status=CarrierCallStatus.IN_PROGRESS, raw_status="in-progress"
        )
        assert status.session_apply_carrier_status(
            session_id=session.pk, status=CarrierCallStatus.NO_ANSWER, raw_status="no-answer"
        )

    session.refresh_from_db()
    assert (session.status, session.outcome) == ("no_answer", "no_answer")
    assert session.answered_at is not None
    assert finished == [session.pk]


@pytest.mark.django_db(transaction=True)
def test_the_same_callback_delivered_twice_at_once_is_applied_once(finished):
    session = CallSessionFactory(status="in_progress", carrier_call_sid=CALL_SID)
    barrier = threading.Barrier(4)

    def deliver() -> str:
        try:
            barrier.wait(5)
            return status.session_apply_status_callback(
                callback=callback("completed", 3, CallDuration="9")
            )
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        results = sorted(future.result(15) for future in [pool.submit(deliver) for _ in range(4)])

    assert results == ["applied", "duplicate", "duplicate", "duplicate"]
    assert CallEvent.objects.filter(session=session, kind="carrier_status").count() == 1
    assert CallEvent.objects.filter(session=session, kind="finished").count() == 1
    assert finished == [session.pk]


@pytest.mark.parametrize(
    ("call_status", "answered_by", "outcome"),
    [
        ("completed", "machine", "voicemail"),
        ("completed", "human", "completed"),
        ("completed", "", "completed"),
        ("completed", "fax", "no_conversation"),
        ("busy", "", "busy"),
        ("no_answer", "", "no_answer"),
        ("failed", "", "failed"),
        ("canceled", "", "no_conversation"),
    ],
)
def test_the_preliminary_outcome(call_status, answered_by, outcome):
    assert status.preliminary_outcome(call_status, answered_by) == outcome


@pytest.mark.django_db
def test_a_callback_that_beats_our_create_answer_binds_the_call_by_token(
    django_capture_on_commit_callbacks, finished
):
    # Claimed and dialled, but the worker has not stored the id `calls.create` answered.
    session = CallSessionFactory(status="initiated", placed_at=timezone.now())
    stranger = twilio_callbacks.parse_status_callback(
        {"CallSid": CALL_SID, "CallStatus": "failed", "SequenceNumber": "1"},
        session_token="not-our-token",
    )
    ours = twilio_callbacks.parse_status_callback(
        {"CallSid": CALL_SID, "CallStatus": "failed", "SequenceNumber": "1"},
        session_token=session.token,
    )

    assert (
        status.session_apply_status_callback(callback=stranger) == status.ApplyResult.UNKNOWN_CALL
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert status.session_apply_status_callback(callback=ours) == status.ApplyResult.APPLIED

    session.refresh_from_db()
    assert (session.carrier_call_sid, session.status) == (CALL_SID, "failed")
    assert finished == [session.pk]
    # A session that was never dialled (no placed_at) is not bound by a callback.
    queued = CallSessionFactory(status="queued")
    assert not status.bind_call_from_callback(call_sid="CA" + "d" * 32, session_token=queued.token)
