"""`<Dial><Conference>` in the simulator, as a warm transfer uses it: the caller waits hearing
the `waitUrl` (fetched signed), the person placed through the Calls API hears their TwiML and
joins with `startConferenceOnEnter`, the two hear each other, and `endConferenceOnExit` ends it
for both; the person's leg sends signed status callbacks like any call."""

from __future__ import annotations

import pytest
from simulator_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    TIME_SCALE,
    WebhookReceiver,
    fast_speak,
    sdk,
    sdk_client,
    wait_until,
)

from anvil_voice.telephony.simulator import TwilioSimulator
from anvil_voice.telephony.simulator.personas import TRANSFER_GREETING
from anvil_voice.telephony.simulator.twiml import Conference, TwimlError, parse_twiml

ROOM = "anvil-transfer-7"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def waiting(wait_url: str) -> str:
    return (
        '<Response><Dial><Conference startConferenceOnEnter="false" endConferenceOnExit="true" '
        f'waitUrl="{wait_url}" waitMethod="POST" beep="false">{ROOM}</Conference></Dial>'
        "</Response>"
    )


JOINING = (
    "<Response><Say>Briefing: Ivy said yes.</Say><Dial><Conference "
    f'startConferenceOnEnter="true" endConferenceOnExit="true">{ROOM}</Conference></Dial>'
    "</Response>"
)


@pytest.fixture
async def hooks():
    async with WebhookReceiver() as receiver:
        receiver.responses["/wait"] = (
            f'<Response><Play loop="0">{receiver.url("/hold.wav")}</Play></Response>'
        )
        receiver.responses["/brief"] = JOINING
        yield receiver


@pytest.fixture
async def sim(hooks):
    async with TwilioSimulator(
        ACCOUNT_SID,
        AUTH_TOKEN,
        speak=fast_speak,
        time_scale=TIME_SCALE,
        cps=100,
        url_rewrites=[hooks.rewrite],
    ) as simulator:
        yield simulator


def test_it_parses_a_conference_dial():
    [dial] = parse_twiml(waiting("https://hooks.example/wait"))
    assert dial.conference == Conference(
        name=ROOM,
        start_on_enter=False,
        end_on_exit=True,
        wait_url="https://hooks.example/wait",
        wait_method="POST",
        beep=False,
    )
    [dial] = parse_twiml(f"<Response><Dial><Conference>{ROOM}</Conference></Dial></Response>")
    assert dial.conference == Conference(name=ROOM)  # Twilio's defaults


@pytest.mark.parametrize(
    "document",
    [
        "<Response><Dial><Conference></Conference></Dial></Response>",
        '<Response><Dial><Conference endConferenceOnExit="yes">a</Conference></Dial></Response>',
        "<Response><Dial><Conference>a</Conference><Number>+15550118</Number></Dial></Response>",
    ],
)
def test_it_refuses_a_conference_it_cannot_run(document):
    with pytest.raises(TwimlError):
        parse_twiml(document)


async def test_the_caller_holds_then_hears_the_person_who_joins(sim, hooks):
    client = sdk_client(sim)
    # Persona 10 answers and stays silent: the caller on hold.
    caller = await sdk(
        client.calls.create, to="+15550110", from_=CALLER, twiml=waiting(hooks.url("/wait"))
    )
    caller_call = sim.get_call(caller.sid)
    assert caller_call is not None
    await wait_until(lambda: caller_call.log.of_kind("played"))
    person = await sdk(
        client.calls.create,
        to="+15550118",
        from_=CALLER,
        url=hooks.url("/brief"),
        timeout=10,
        status_callback=hooks.url("/leg"),
        status_callback_event=ALL_EVENTS,
    )
    await sim.wait_for_end(person.sid)
    await sim.wait_for_end(caller.sid)

    [wait] = caller_call.log.of_kind("conference_wait_fetch")
    assert wait["http_status"] == 200
    assert (wait["params"]["FriendlyName"], wait["params"]["CallSid"]) == (ROOM, caller.sid)
    hold = [e for e in caller_call.log.of_kind("played") if e["source"] == "play"]
    assert hold
    assert hold[0]["url"] == hooks.url("/hold.wav")
    [heard] = caller_call.log.of_kind("conference_heard")
    assert heard["from_call_sid"] == person.sid
    [started] = caller_call.log.of_kind("conference_started")
    assert hold[0]["t"] < started["t"] < heard["t"]
    # The person hung up with endConferenceOnExit: the conference ended for the caller too.
    assert caller_call.log.of_kind("conference_ended")
    assert caller_call.status == "completed"

    person_call = sim.get_call(person.sid)
    assert person_call is not None
    [briefing] = [e for e in person_call.log.of_kind("twiml") if e["verb"] == "Say"]
    assert briefing["text"] == "Briefing: Ivy said yes."
    [said] = person_call.log.of_kind("persona_said")
    assert said["text"] == TRANSFER_GREETING
    assert said["t"] > person_call.log.of_kind("conference_joined")[0]["t"]
    received = hooks.received("/leg")
    assert [params["CallStatus"] for params in received] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert int(received[-1]["CallDuration"]) >= 1
    # Webhooks are signed (the `<Play>` audio is a plain GET, as at Twilio).
    assert all(hook.signature_valid for hook in hooks.hooks if hook.path != "/hold.wav")


async def test_a_person_who_never_answers_reports_no_answer_and_the_caller_keeps_waiting(
    sim, hooks
):
    client = sdk_client(sim)
    caller = await sdk(
        client.calls.create, to="+15550110", from_=CALLER, twiml=waiting(hooks.url("/wait"))
    )
    person = await sdk(
        client.calls.create,
        to="+15550119",
        from_=CALLER,
        url=hooks.url("/brief"),
        timeout=5,
        status_callback=hooks.url("/leg"),
        status_callback_event=ALL_EVENTS,
    )
    await sim.wait_for_end(person.sid)

    received = hooks.received("/leg")
    assert [params["CallStatus"] for params in received] == ["initiated", "ringing", "no-answer"]
    assert hooks.received("/brief") == []
    caller_call = sim.get_call(caller.sid)
    assert caller_call is not None
    assert caller_call.status == "in-progress"  # on hold until we move it
    assert not caller_call.log.of_kind("conference_started")
    await sdk(client.calls(caller.sid).update, status="completed")
    await sim.wait_for_end(caller.sid)
    assert caller_call.log.of_kind("conference_left")
