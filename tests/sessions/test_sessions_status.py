"""`sessions.carrier.status`: reading Twilio's callbacks and applying them once, forwards only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from sessions.carrier import status
from sessions.factories import CallSessionFactory
from sessions.models import CallEvent, CallSession
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


def callback(call_status: str, sequence: int | None, **extra: str) -> status.StatusCallback:
    params = {"CallSid": CALL_SID, "CallStatus": call_status, **extra}
    if sequence is not None:
        params["SequenceNumber"] = str(sequence)
    return status.parse_status_callback(params)


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("queued", "queued"),
        ("initiated", "initiated"),
        ("ringing", "ringing"),
        ("in-progress", "in_progress"),
        ("completed", "completed"),
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("canceled", "canceled"),
        ("failed", "failed"),
    ],
)
def test_it_maps_twilio_statuses(twilio, ours):
    assert callback(twilio, 1).status == ours


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("human", "human"),
        ("machine_start", "machine"),
        ("machine_end_beep", "machine"),
        ("machine_end_silence", "machine"),
        ("machine_end_other", "machine"),
        ("fax", "fax"),
        ("unknown", ""),
    ],
)
def test_it_maps_answered_by(twilio, ours):
    parsed = status.parse_amd_callback({"CallSid": CALL_SID, "AnsweredBy": twilio})
    assert (parsed.answered_by, parsed.twilio_answered_by) == (ours, twilio)


def test_it_reads_the_rest_of_a_status_callback():
    parsed = callback(
        "completed",
        4,
        CallDuration="17",
        AnsweredBy="human",
        Timestamp="Tue, 10 Nov 2020 16:32:15 +0000",
    )

    assert (parsed.sequence_number, parsed.duration_seconds, parsed.answered_by) == (
        4,
        17,
        "human",
    )
    assert parsed.timestamp is not None
    assert parsed.timestamp.isoformat() == "2020-11-10T16:32:15+00:00"
    # A garbled timestamp or duration is not worth refusing the callback over.
    lenient = callback("completed", 4, CallDuration="soon", Timestamp="yesterday")
    assert (lenient.duration_seconds, lenient.timestamp) == (None, None)


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
            session_id=session.pk, twilio_status="initiated"
        )
        assert not status.session_apply_carrier_status(
            session_id=session.pk, twilio_status="gibberish"
        )
        assert status.session_apply_carrier_status(
            session_id=session.pk, twilio_status="in-progress"
        )
        assert status.session_apply_carrier_status(session_id=session.pk, twilio_status="no-answer")

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
    stranger = status.parse_status_callback(
        {"CallSid": CALL_SID, "CallStatus": "failed", "SequenceNumber": "1"},
        session_token="not-our-token",
    )
    ours = status.parse_status_callback(
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
