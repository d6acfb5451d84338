"""`TwilioCarrier.start_recording` (Twilio's Call Recordings resource) against the simulator:
a recording of a live call holds only what the line carried after the request."""

from __future__ import annotations

import time

import pytest
from test_carrier_harness import (
    ACCOUNT_SID,
    CALLER,
    NOWHERE,
    make_session,
    number,
    wait_for,
)

from anvil_voice.telephony.carrier import RecordingError, RecordingErrorKind
from anvil_voice.telephony.simulator import audio
from anvil_voice.telephony.twilio import TwilioCarrier
from sessions.carrier.calls import outbound_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("long_time_limit")]


def test_it_records_a_live_call_from_the_request_on(simulator, twilio_settings, acme):
    session = make_session(acme, number("04", "231"))
    # A call that stays up without our websocket: TwiML that only waits.
    created = TwilioCarrier().client.calls.create(
        to=session.to_number,
        from_=CALLER,
        twiml='<Response><Pause length="20"/></Response>',
        status_callback=f"{NOWHERE}/status",
    )
    sid = session.carrier_call_sid = str(created.sid)
    simulator.wait_for_status(sid, "in-progress")
    call = simulator.on_loop(lambda: simulator.sim.get_call(sid))
    assert call is not None
    # The persona's "Hello?" is over before we ask: it must not be in the file.
    hello = wait_for(
        lambda: next((e for e in call.log.of_kind("persona_said") if "done_t" in e), None),
        message="the persona's hello",
    )

    started = TwilioCarrier().start_recording(outbound_call(session))

    assert started.recording_sid.startswith("RE")
    assert started.started_at is not None
    [request] = [
        r
        for r in simulator.on_loop(lambda: list(simulator.sim.requests))
        if r["path"].endswith(f"/Calls/{sid}/Recordings.json")
    ]
    assert request["status"] == 201
    assert request["params"] == {
        "RecordingStatusCallback": f"{NOWHERE}/telephony/twilio/recording/",
        "RecordingStatusCallbackEvent": "completed",
        "RecordingStatusCallbackMethod": "POST",
        "RecordingChannels": "mono",
        "RecordingTrack": "both",
    }
    time.sleep(0.3)
    TwilioCarrier().hang_up(outbound_call(session))
    ended = simulator.wait_for_end(sid)

    [begun] = ended.log.of_kind("recording_started")
    assert begun["t"] > hello["done_t"]
    assert ended.recording_sid == started.recording_sid
    assert ended.recording, "the call was recorded"
    frames = [bytes(ended.recording[i : i + 160]) for i in range(0, len(ended.recording), 160)]
    assert not any(audio.is_speech(frame) for frame in frames)
    # Twilio's recording status callback, as for a from-answer recording, named by its source.
    [callback] = ended.log.of_kind("recording_callback")
    params = callback["params"]
    assert params["CallSid"] == sid
    assert params["RecordingSid"] == started.recording_sid
    assert params["RecordingSource"] == "StartCallRecordingAPI"
    assert params["RecordingStatus"] == "completed"
    assert params["RecordingUrl"] == (
        f"{simulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{ended.recording_sid}"
    )
    assert callback["url"] == f"{NOWHERE}/telephony/twilio/recording/"
    # The final status callback does not carry it (only `Record=true` calls do).
    [final] = [e for e in ended.log.of_kind("callback") if e["event"] == "completed"]
    assert "RecordingSid" not in final["params"]


def test_a_call_that_ended_is_not_in_progress(simulator, twilio_settings, acme):
    session = make_session(acme, number("01", "232"))
    session.carrier_call_sid = TwilioCarrier().place_call(outbound_call(session))
    assert simulator.wait_for_end(session.carrier_call_sid).status == "busy"

    with pytest.raises(RecordingError) as raised:
        TwilioCarrier().start_recording(outbound_call(session))

    assert raised.value.kind is RecordingErrorKind.CALL_NOT_IN_PROGRESS
    assert raised.value.carrier_code == "21220"
    assert simulator.wait_for_end(session.carrier_call_sid).recording is None


def test_a_session_without_a_call_has_nothing_to_record(twilio_settings, acme):
    with pytest.raises(RecordingError) as raised:
        TwilioCarrier().start_recording(outbound_call(make_session(acme, number("04", "233"))))

    assert raised.value.kind is RecordingErrorKind.CALL_NOT_IN_PROGRESS
