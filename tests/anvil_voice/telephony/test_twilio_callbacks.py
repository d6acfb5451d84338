"""`twilio_callbacks`: Twilio's webhook forms read into carrier-neutral callbacks."""

from __future__ import annotations

import pytest

from anvil_voice.telephony import twilio_callbacks
from anvil_voice.telephony.callbacks import InvalidCallback, StatusCallback

CALL_SID = "CA" + "c" * 32


def callback(call_status: str, sequence: int | None, **extra: str) -> StatusCallback:
    params = {"CallSid": CALL_SID, "CallStatus": call_status, **extra}
    if sequence is not None:
        params["SequenceNumber"] = str(sequence)
    return twilio_callbacks.parse_status_callback(params)


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
    parsed = twilio_callbacks.parse_amd_callback({"CallSid": CALL_SID, "AnsweredBy": twilio})
    assert (parsed.answered_by, parsed.carrier_answered_by) == (ours, twilio)


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


def test_a_reconciled_status_is_read_the_same_way():
    assert twilio_callbacks.call_status("in-progress") == "in_progress"
    assert twilio_callbacks.call_status("gibberish") is None


@pytest.mark.parametrize(
    "params",
    [
        {"CallStatus": "completed"},
        {"CallSid": CALL_SID},
        {"CallSid": CALL_SID, "CallStatus": "gibberish"},
        {"CallSid": CALL_SID, "CallStatus": "completed", "SequenceNumber": "x"},
        {"CallSid": CALL_SID, "CallStatus": "completed", "SequenceNumber": "-1"},
        {"CallSid": CALL_SID, "CallStatus": "completed", "AnsweredBy": "robot"},
    ],
)
def test_an_unreadable_status_callback_is_refused(params):
    with pytest.raises(InvalidCallback):
        twilio_callbacks.parse_status_callback(params)


def test_an_amd_callback_needs_a_verdict_and_a_recording_callback_its_ids():
    with pytest.raises(InvalidCallback):
        twilio_callbacks.parse_amd_callback({"CallSid": CALL_SID})
    with pytest.raises(InvalidCallback):
        twilio_callbacks.parse_recording_callback({"CallSid": CALL_SID})
    parsed = twilio_callbacks.parse_recording_callback(
        {"CallSid": CALL_SID, "RecordingSid": "RE1", "RecordingDuration": "9"}
    )
    assert (parsed.recording_status, parsed.duration_seconds) == ("completed", 9)
