"""`TwilioCarrier` through the real `twilio` SDK against the simulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from test_carrier_harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    NOWHERE,
    SimulatorThread,
    make_session,
    number,
    wait_for,
)
from twilio.base.exceptions import TwilioRestException

from anvil_voice.telephony.carrier import (
    CarrierCall,
    OutboundCall,
    PlaceCallError,
    PlaceCallErrorKind,
    get_carrier,
)
from anvil_voice.telephony.twilio import TwilioCarrier, classify_rest_error
from campaigns.models import Campaign
from sessions.carrier.calls import held_by_other_sessions, outbound_call
from sessions.models import CallSession

pytestmark = pytest.mark.django_db


def last_create(simulator: SimulatorThread, to: str) -> dict[str, object]:
    return simulator.creates_to(to)[-1]["params"]


def test_it_is_the_default_carrier(twilio_settings):
    assert isinstance(get_carrier(), TwilioCarrier)


def test_it_places_a_call_with_our_twiml_callbacks_and_amd(simulator, twilio_settings, acme):
    to = number("04", "201")
    session = make_session(acme, to)

    sid = TwilioCarrier().place_call(outbound_call(session))

    [call] = simulator.calls_to(to)
    assert call.sid == sid
    params = last_create(simulator, to)
    stream_url = f"wss://127.0.0.1:9/ws/twilio/media/{session.token}/"
    assert params == {
        "To": to,
        "From": CALLER,
        "Twiml": (
            f'<Response><Connect><Stream url="{stream_url}">'
            f'<Parameter name="session" value="{session.token}" /></Stream></Connect></Response>'
        ),
        # The session token rides in the callbacks' query (signed as part of the URL): a call
        # that fails in milliseconds may call back before we store its id.
        "StatusCallback": f"{NOWHERE}/telephony/twilio/status/?session={session.token}",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
        "MachineDetection": "Enable",
        "AsyncAmd": "true",
        "AsyncAmdStatusCallback": f"{NOWHERE}/telephony/twilio/amd/?session={session.token}",
        "Timeout": "30",
        "TimeLimit": "100",
    }


def test_it_waits_for_the_beep_and_records_when_the_campaign_says_so(
    simulator, twilio_settings, acme
):
    to = number("03", "202")
    session = make_session(acme, to)
    session.campaign = Campaign(voicemail_behaviour="leave_message", record_calls=True)

    TwilioCarrier().place_call(outbound_call(session))

    params = last_create(simulator, to)
    assert params["MachineDetection"] == "DetectMessageEnd"
    assert params["Record"] == "true"
    assert params["RecordingStatusCallback"] == f"{NOWHERE}/telephony/twilio/recording/"


def test_it_keeps_the_ring_timeout_at_15_seconds_or_more(simulator, twilio_settings, acme):
    twilio_settings.TWILIO_CALL_TIMEOUT_SECONDS = 5
    twilio_settings.TWILIO_MACHINE_DETECTION = False
    to = number("04", "203")

    TwilioCarrier().place_call(outbound_call(make_session(acme, to)))

    params = last_create(simulator, to)
    assert params["Timeout"] == "15"
    assert "MachineDetection" not in params


def test_its_twiml_is_well_formed_and_short(twilio_settings):
    twilio_settings.PUBLIC_BASE_URL = "https://voice.example.com/prefix"
    call = OutboundCall(reference=1, token="t" * 43, to_number="+15550100", from_number=CALLER)

    twiml = TwilioCarrier().build_twiml(call)

    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == f"wss://voice.example.com/prefix/ws/twilio/media/{'t' * 43}/"
    assert [(p.get("name"), p.get("value")) for p in stream] == [("session", "t" * 43)]
    assert len(twiml) < 4000


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, 20429, PlaceCallErrorKind.RETRY),
        (500, 20500, PlaceCallErrorKind.UNKNOWN),
        (503, 20503, PlaceCallErrorKind.UNKNOWN),
        (400, 22005, PlaceCallErrorKind.BACK_PRESSURE),
        (400, 10004, PlaceCallErrorKind.BACK_PRESSURE),
    ],
)
def test_it_maps_twilio_errors_to_our_kinds(simulator, twilio_settings, acme, status, code, kind):
    to = number("04", "204")
    simulator.sim.faults.fail_next_creates(1, status=status, code=code)

    with pytest.raises(PlaceCallError) as raised:
        TwilioCarrier().place_call(outbound_call(make_session(acme, to)))

    assert (raised.value.kind, raised.value.carrier_code) == (kind, str(code))
    assert simulator.calls_to(to) == []


def test_an_invalid_number_is_invalid(simulator, twilio_settings, acme):
    with pytest.raises(PlaceCallError) as raised:
        TwilioCarrier().place_call(outbound_call(make_session(acme, "12345")))

    assert (raised.value.kind, raised.value.carrier_code) == (
        PlaceCallErrorKind.INVALID_NUMBER,
        "21211",
    )


@pytest.mark.parametrize("code", [21211, 21214, 21217, 13224, 13223, 21407])
def test_it_knows_the_invalid_number_codes(code):
    error = classify_rest_error(TwilioRestException(400, "/Calls.json", "bad", code=code))
    assert error.kind == PlaceCallErrorKind.INVALID_NUMBER


def test_wrong_credentials_are_permanent(simulator, twilio_settings, acme):
    twilio_settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(PlaceCallError) as raised:
        TwilioCarrier().place_call(outbound_call(make_session(acme, number("04", "205"))))

    assert (raised.value.kind, raised.value.carrier_code) == (PlaceCallErrorKind.PERMANENT, "20003")


def test_a_create_that_times_out_is_unknown_although_the_call_exists(
    simulator, twilio_settings, acme
):
    twilio_settings.TWILIO_HTTP_TIMEOUT_SECONDS = 0.3
    simulator.sim.faults.stall_next_creates(1, seconds=1.5)
    to = number("04", "206")

    with pytest.raises(PlaceCallError) as raised:
        TwilioCarrier().place_call(outbound_call(make_session(acme, to)))

    assert raised.value.kind == PlaceCallErrorKind.UNKNOWN
    assert len(simulator.calls_to(to)) == 1


def test_an_unreachable_api_is_unknown(twilio_settings, acme):
    twilio_settings.TWILIO_API_BASE_URL = NOWHERE

    with pytest.raises(PlaceCallError) as raised:
        TwilioCarrier().place_call(outbound_call(make_session(acme, number("04", "207"))))

    assert raised.value.kind == PlaceCallErrorKind.UNKNOWN


def test_hanging_up_a_call_that_already_ended_is_fine(simulator, twilio_settings, acme):
    session = make_session(acme, number("01", "208"))
    session.carrier_call_sid = TwilioCarrier().place_call(outbound_call(session))
    assert simulator.wait_for_end(session.carrier_call_sid).status == "busy"

    # Twilio answers 20404: the call is over, which is what we wanted.
    TwilioCarrier().hang_up(outbound_call(session))
    TwilioCarrier().cancel(outbound_call(session))


def test_it_cancels_a_ringing_call(simulator, twilio_settings, acme):
    twilio_settings.TWILIO_CALL_TIMEOUT_SECONDS = 600
    session = make_session(acme, number("00", "209"))
    session.carrier_call_sid = TwilioCarrier().place_call(outbound_call(session))
    simulator.wait_for_status(session.carrier_call_sid, "ringing")

    TwilioCarrier().cancel(outbound_call(session))

    call = simulator.wait_for_end(session.carrier_call_sid)
    assert call.status == "canceled"
    assert call.answered_at is None
    TwilioCarrier().cancel(outbound_call(session))


def test_ending_a_session_without_a_call_does_nothing(simulator, twilio_settings, acme):
    TwilioCarrier().hang_up(outbound_call(make_session(acme, number("04", "210"))))


# --- reconciliation -----------------------------------------------------------------------
def find_call(session: CallSession) -> CarrierCall | None:
    return TwilioCarrier().find_call(
        outbound_call(session), held_elsewhere=held_by_other_sessions(session)
    )


def _claimed(acme, to: str) -> CallSession:
    from django.utils import timezone

    return make_session(acme, to, status="initiated", placed_at=timezone.now())


def test_find_call_finds_the_sessions_call_by_number_and_time(simulator, twilio_settings, acme):
    to = number("04", "211")
    session = _claimed(acme, to)
    sid = TwilioCarrier().place_call(outbound_call(session))

    found = find_call(session)

    assert found is not None
    assert (found.call_sid, found.to, found.from_) == (sid, to, CALLER)
    assert found.carrier_status in {"queued", "initiated", "ringing", "in-progress", "completed"}
    assert found.status in {"queued", "initiated", "ringing", "in_progress", "completed"}


def test_find_call_skips_calls_other_sessions_hold(simulator, twilio_settings, acme):
    to = number("04", "212")
    other = _claimed(acme, to)
    other.carrier_call_sid = TwilioCarrier().place_call(outbound_call(other))
    other.save()
    session = _claimed(acme, to)
    wait_for(lambda: len(simulator.calls_to(to)) == 1)
    assert find_call(session) is None

    ours = TwilioCarrier().place_call(outbound_call(session))

    found = find_call(session)
    assert found is not None
    assert found.call_sid == ours


def test_find_call_ignores_calls_outside_the_placement_window(simulator, twilio_settings, acme):
    to = number("04", "213")
    TwilioCarrier().place_call(outbound_call(make_session(acme, to)))
    session = _claimed(acme, to)
    session.placed_at -= timedelta(minutes=10)

    assert find_call(session) is None
    assert find_call(make_session(acme, to)) is None  # never placed


def test_find_call_reports_lookup_failures_as_unknown(twilio_settings, acme):
    twilio_settings.TWILIO_API_BASE_URL = NOWHERE

    with pytest.raises(PlaceCallError) as raised:
        find_call(_claimed(acme, number("04", "214")))

    assert raised.value.kind == PlaceCallErrorKind.UNKNOWN


def test_it_points_the_sdk_at_the_configured_api(twilio_settings, simulator):
    client = TwilioCarrier().client

    assert client.api.base_url == simulator.base_url
    assert client.account_sid == ACCOUNT_SID
    assert client.password == AUTH_TOKEN


@pytest.mark.parametrize(
    ("path", "view"),
    [
        ("/telephony/twilio/status/", "status_callback"),
        ("/telephony/twilio/amd/", "amd_callback"),
        ("/telephony/twilio/recording/", "recording_callback"),
    ],
)
def test_the_callback_urls_we_give_twilio_reach_our_views(path, view):
    from django.urls import resolve

    from anvil_voice.telephony import twilio
    from sessions.carrier import webhooks as carrier_webhooks

    assert path in {
        twilio.STATUS_CALLBACK_PATH,
        twilio.AMD_CALLBACK_PATH,
        twilio.RECORDING_CALLBACK_PATH,
    }
    assert resolve(path).func is getattr(carrier_webhooks, view)
