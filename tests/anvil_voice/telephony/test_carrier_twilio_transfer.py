"""`TwilioCarrier` warm transfers through the real SDK against the simulator: the caller's call
updated to wait in a conference, the person's leg created with its briefing URL, ring timeout
and status callbacks, the caller moved back to a stream, and failures as `TransferError`."""

from __future__ import annotations

import pytest
from test_carrier_harness import (
    CALLER,
    NOWHERE,
    SimulatorThread,
    make_session,
    number,
)

from anvil_voice.telephony.carrier import ReturnToAgent, TransferError, WarmTransfer
from anvil_voice.telephony.twilio import TwilioCarrier
from sessions.carrier.calls import outbound_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("long_time_limit")]


def request(target: str) -> WarmTransfer:
    return WarmTransfer(
        target=target,
        caller_id=CALLER,
        timeout_seconds=12,
        conference="anvil-transfer-9",
        hold_url=f"{NOWHERE}/hold?session=t",
        briefing_url=f"{NOWHERE}/briefing?session=t",
        leg_status_url=f"{NOWHERE}/leg?session=t",
    )


def requests_to(simulator: SimulatorThread, suffix: str) -> list[dict]:
    return [
        r
        for r in simulator.on_loop(lambda: list(simulator.sim.requests))
        if r["path"].endswith(suffix)
    ]


def test_it_holds_the_caller_in_a_conference_and_calls_the_person(simulator, twilio_settings, acme):
    session = make_session(acme, number("10", "241"))  # silent: stays on the line
    created = TwilioCarrier().client.calls.create(
        to=session.to_number, from_=CALLER, twiml='<Response><Pause length="30"/></Response>'
    )
    session.carrier_call_sid = str(created.sid)
    simulator.wait_for_status(created.sid, "in-progress")

    leg_sid = TwilioCarrier().transfer_warm(outbound_call(session), request(number("19", "241")))

    assert leg_sid.startswith("CA")
    [update] = requests_to(simulator, f"/Calls/{created.sid}.json")
    assert update["params"]["Twiml"] == (
        '<Response><Dial><Conference beep="false" endConferenceOnExit="true" '
        'startConferenceOnEnter="false" waitMethod="POST" '
        f'waitUrl="{NOWHERE}/hold?session=t">anvil-transfer-9</Conference></Dial></Response>'
    )
    leg = simulator.on_loop(lambda: simulator.sim.get_call(leg_sid))
    assert leg is not None
    assert (leg.request.to, leg.request.from_, leg.request.timeout) == (
        number("19", "241"),
        CALLER,
        12,
    )
    assert leg.request.url == f"{NOWHERE}/briefing?session=t"
    assert leg.request.status_callback == f"{NOWHERE}/leg?session=t"
    assert leg.request.status_callback_events == {"initiated", "ringing", "answered", "completed"}

    TwilioCarrier().return_to_stream(
        outbound_call(session), ReturnToAgent({"transfer_return": "9"})
    )
    updates = requests_to(simulator, f"/Calls/{created.sid}.json")
    assert updates[-1]["params"]["Twiml"] == (
        f'<Response><Connect><Stream url="wss://127.0.0.1:9/ws/twilio/media/{session.token}/">'
        f'<Parameter name="session" value="{session.token}" />'
        '<Parameter name="transfer_return" value="9" /></Stream></Connect></Response>'
    )
    TwilioCarrier().cancel_leg(leg_sid)
    assert simulator.wait_for_end(leg_sid).status == "canceled"
    TwilioCarrier().hang_up(outbound_call(session))


def test_a_caller_already_gone_is_reported_as_ended(simulator, twilio_settings, acme):
    session = make_session(acme, number("01", "242"))
    session.carrier_call_sid = TwilioCarrier().place_call(outbound_call(session))
    simulator.wait_for_end(session.carrier_call_sid)

    with pytest.raises(TransferError) as raised:
        TwilioCarrier().transfer_warm(outbound_call(session), request(number("18", "242")))
    assert raised.value.call_ended
    with pytest.raises(TransferError) as raised:
        TwilioCarrier().return_to_stream(outbound_call(session), ReturnToAgent({}))
    assert raised.value.call_ended
    TwilioCarrier().cancel_leg(session.carrier_call_sid)  # an ended leg: nothing to do
