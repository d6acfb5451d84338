"""Signed status, AMD and recording callbacks, per persona, as our webhook endpoints see them."""

from __future__ import annotations

import asyncio
import io
import wave
from email.utils import parsedate_to_datetime

import aiohttp
import numpy as np
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
from twilio.request_validator import RequestValidator

from anvil_voice.telephony.simulator import TwilioSimulator

SAY_AND_HANG_UP = "<Response><Say>Hello from Anvil.</Say><Hangup/></Response>"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
ANSWERED = ["initiated", "ringing", "in-progress", "completed"]

# Number -> (CallStatus sequence, AnsweredBy on the final callback).
EXPECTED_SEQUENCES = {
    "+15550100": (["initiated", "ringing", "no-answer"], None),
    "+15550101": (["initiated", "busy"], None),
    "+15550102": (["initiated", "failed"], None),
    "+15550103": (ANSWERED, "machine_end_beep"),
    "+15550104": (ANSWERED, "human"),
    "+15550105": (ANSWERED, "human"),
    "+15550106": (ANSWERED, "human"),
    "+15550107": (ANSWERED, "human"),
    "+15550108": (ANSWERED, "human"),
    "+15550109": (ANSWERED, "human"),
    "+15550110": (ANSWERED, "unknown"),
    "+15550111": (ANSWERED, "human"),
    "+12125550164": (ANSWERED, "human"),
    "+14155551234": (ANSWERED, "human"),  # not fictional: generic human
}


@pytest.fixture
async def hooks():
    async with WebhookReceiver() as receiver:
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


async def test_each_persona_sends_its_status_callback_sequence(sim, hooks):
    client = sdk_client(sim)

    async def place(number: str) -> str:
        detection = "DetectMessageEnd" if number == "+15550103" else "Enable"
        call = await sdk(
            client.calls.create,
            to=number,
            from_=CALLER,
            twiml=SAY_AND_HANG_UP,
            timeout=15,
            machine_detection=detection,
            status_callback=hooks.url(f"/status/{number}"),
            status_callback_event=ALL_EVENTS,
        )
        await sim.wait_for_end(call.sid)
        return call.sid

    sids = dict(
        zip(EXPECTED_SEQUENCES, await asyncio.gather(*map(place, EXPECTED_SEQUENCES)), strict=True)
    )

    for number, (statuses, answered_by) in EXPECTED_SEQUENCES.items():
        received = hooks.received(f"/status/{number}")
        assert [params["CallStatus"] for params in received] == statuses, number
        assert [params["SequenceNumber"] for params in received] == [
            str(n) for n in range(len(statuses))
        ]
        final = received[-1]
        assert final["CallSid"] == sids[number]
        assert final["AccountSid"] == ACCOUNT_SID
        assert (final["From"], final["To"]) == (CALLER, number)
        assert final["Direction"] == "outbound-api"
        assert final["CallbackSource"] == "call-progress-events"
        assert parsedate_to_datetime(final["Timestamp"]).tzinfo is not None
        assert final.get("AnsweredBy") == answered_by, number
        assert int(final["CallDuration"]) >= (1 if statuses == ANSWERED else 0)
    assert all(hook.signature_valid for hook in hooks.hooks)
    assert all(
        entry["http_status"] == 200 for call in sim.calls for entry in call.log.of_kind("callback")
    )


async def test_it_only_sends_the_events_asked_for(sim, hooks):
    client = sdk_client(sim)
    call = await sdk(
        client.calls.create,
        to="+15550104",
        from_=CALLER,
        twiml=SAY_AND_HANG_UP,
        status_callback=hooks.url("/status?campaign=7"),
        status_callback_event=["answered"],
    )
    await sim.wait_for_end(call.sid)

    received = hooks.received("/status")
    assert [params["CallStatus"] for params in received] == ["in-progress", "completed"]
    assert [params["SequenceNumber"] for params in received] == ["0", "1"]
    # Signed over the public URL including its query string.
    assert all(hook.signature_valid for hook in hooks.hooks)


async def test_our_endpoint_refuses_a_forged_callback(hooks):
    url = hooks.url("/status")
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed"}
    forged = RequestValidator("some-other-token").compute_signature(url, params)

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{hooks.port}/status",
            data=params,
            headers={"X-Twilio-Signature": forged},
        ) as response,
    ):
        assert response.status == 403
    assert [hook.signature_valid for hook in hooks.hooks] == [False]


async def test_async_amd_posts_the_decision_and_a_voicemail_drop_is_left(sim, hooks):
    client = sdk_client(sim)
    call = await sdk(
        client.calls.create,
        to="+15550103",
        from_=CALLER,
        twiml='<Response><Pause length="20"/></Response>',
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=hooks.url("/amd"),
        status_callback=hooks.url("/status"),
    )
    [amd] = await wait_until(lambda: hooks.received("/amd"))

    # What our webhook does on machine_end_beep: replace the TwiML with the message.
    await sdk(
        client.calls(call.sid).update,
        twiml="<Response><Say>Please call Anvil back.</Say><Hangup/></Response>",
    )
    ended = await sim.wait_for_end(call.sid)

    assert amd["CallSid"] == call.sid
    assert amd["AccountSid"] == ACCOUNT_SID
    assert amd["AnsweredBy"] == "machine_end_beep"
    assert int(amd["MachineDetectionDuration"]) > 0
    [voicemail] = [e for e in ended.log.of_kind("persona") if e["action"] == "voicemail"]
    assert voicemail["said"] == ["Please call Anvil back."]
    assert voicemail["message_ms"] > 0
    assert hooks.received("/status")[-1]["AnsweredBy"] == "machine_end_beep"
    assert all(hook.signature_valid for hook in hooks.hooks)


async def test_a_verdict_reached_before_the_call_ended_is_delivered_before_completed():
    # The app takes a second to answer the AMD callback (under load); the call is hung up
    # meanwhile. The verdict must reach the app whole, and before the final status callback,
    # or the app (which ignores verdicts on ended calls) never learns a machine answered.
    async with (
        WebhookReceiver(delays={"/amd": 1.0}) as hooks,
        TwilioSimulator(
            ACCOUNT_SID,
            AUTH_TOKEN,
            speak=fast_speak,
            time_scale=TIME_SCALE,
            cps=100,
            url_rewrites=[hooks.rewrite],
        ) as sim,
    ):
        client = sdk_client(sim)
        call = await sdk(
            client.calls.create,
            to="+15550103",
            from_=CALLER,
            twiml='<Response><Pause length="20"/></Response>',
            machine_detection="Enable",
            async_amd="true",
            async_amd_status_callback=hooks.url("/amd"),
            status_callback=hooks.url("/status"),
        )
        await wait_until(lambda: ("received", "/amd") in hooks.timeline)
        await sdk(client.calls(call.sid).update, status="completed")
        await sim.wait_for_end(call.sid)
        await wait_until(lambda: hooks.received("/status"))

    [amd] = hooks.received("/amd")
    [completed] = hooks.received("/status")  # no events asked for: `completed` only
    assert amd["AnsweredBy"] == "machine_start"
    assert completed["CallStatus"] == "completed"
    assert hooks.timeline.index(("answered", "/amd")) < hooks.timeline.index(
        ("received", "/status")
    )


async def test_it_records_the_call_and_serves_the_recording(sim, hooks):
    client = sdk_client(sim)
    call = await sdk(
        client.calls.create,
        to="+15550104",
        from_=CALLER,
        twiml=SAY_AND_HANG_UP,
        record=True,
        recording_status_callback=hooks.url("/recording"),
        status_callback=hooks.url("/status"),
    )
    await sim.wait_for_end(call.sid)
    [recording] = hooks.received("/recording")

    async with (
        aiohttp.ClientSession() as session,
        session.get(recording["RecordingUrl"]) as response,
    ):
        assert response.status == 200
        body = await response.read()

    assert recording["CallSid"] == call.sid
    assert recording["RecordingSid"].startswith("RE")
    assert recording["RecordingStatus"] == "completed"
    assert int(recording["RecordingDuration"]) >= 1
    with wave.open(io.BytesIO(body)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.abs(samples).max() > 1000
    assert hooks.received("/status")[-1]["RecordingSid"] == recording["RecordingSid"]


async def test_it_fetches_twiml_from_url_with_a_signed_request(hooks):
    hooks.responses["/twiml"] = "<Response><Say>Fetched.</Say></Response>"
    async with TwilioSimulator(
        ACCOUNT_SID,
        AUTH_TOKEN,
        speak=fast_speak,
        time_scale=TIME_SCALE,
        url_rewrites=[hooks.rewrite],
    ) as sim:
        client = sdk_client(sim)
        call = await sdk(client.calls.create, to="+15550106", from_=CALLER, url=hooks.url("/twiml"))
        ended = await sim.wait_for_end(call.sid)

    [fetch] = hooks.received("/twiml")
    assert fetch["CallSid"] == call.sid
    assert fetch["CallStatus"] == "in-progress"
    assert all(hook.signature_valid for hook in hooks.hooks)
    assert [entry["text"] for entry in ended.log.of_kind("played")] == ["Fetched."]
    assert ended.status == "completed"
