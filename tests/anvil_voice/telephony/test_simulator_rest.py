"""The simulator's Calls REST API, driven through the real twilio SDK."""

from __future__ import annotations

import time
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import aiohttp
import pytest
import requests
from simulator_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    TIME_SCALE,
    fast_speak,
    sdk,
    sdk_client,
    wait_until,
)
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from anvil_voice.telephony.simulator import TwilioSimulator

SAY_AND_HANG_UP = "<Response><Say>Hello from Anvil.</Say><Hangup/></Response>"
# A call that stays up until someone hangs it up.
HOLD = '<Response><Pause length="60"/></Response>'
SILENT = "+15550110"


@pytest.fixture
async def sim():
    async with TwilioSimulator(
        ACCOUNT_SID, AUTH_TOKEN, speak=fast_speak, time_scale=TIME_SCALE, cps=50
    ) as simulator:
        yield simulator


async def test_it_creates_and_fetches_a_call_like_twilio(sim):
    client = sdk_client(sim)

    created = await sdk(client.calls.create, to="+15550104", from_=CALLER, twiml=SAY_AND_HANG_UP)

    assert created.sid.startswith("CA")
    assert len(created.sid) == 34
    assert created.status == "queued"
    assert created.direction == "outbound-api"
    assert created.to == "+15550104"
    assert created._from == CALLER
    call = await sim.wait_for_end(created.sid)
    fetched = await sdk(client.calls(created.sid).fetch)
    assert fetched.status == "completed"
    assert fetched.start_time is not None
    assert fetched.end_time is not None
    assert int(fetched.duration) >= 1
    assert [entry["status"] for entry in call.log.of_kind("status")] == [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert call.log.of_kind("played")[0]["text"] == "Hello from Anvil."


async def test_it_hangs_up_an_in_progress_call(sim):
    client = sdk_client(sim)
    created = await sdk(client.calls.create, to=SILENT, from_=CALLER, twiml=HOLD)
    call = sim.get_call(created.sid)
    await wait_until(lambda: call.status == "in-progress")

    updated = await sdk(client.calls(created.sid).update, status="completed")

    assert updated.status == "completed"
    assert call.log.of_kind("twiml")[0]["verb"] == "Pause"


async def test_it_cancels_a_queued_call_without_ringing_it():
    async with TwilioSimulator(
        ACCOUNT_SID, AUTH_TOKEN, speak=fast_speak, time_scale=TIME_SCALE, cps=0.5
    ) as sim:
        client = sdk_client(sim)
        await sdk(client.calls.create, to=SILENT, from_=CALLER, twiml=HOLD)
        second = await sdk(client.calls.create, to="+15550104", from_=CALLER, twiml=HOLD)

        canceled = await sdk(client.calls(second.sid).update, status="canceled")

        assert canceled.status == "canceled"
        call = await sim.wait_for_end(second.sid)
        assert [entry["status"] for entry in call.log.of_kind("status")] == ["queued", "canceled"]


async def test_it_answers_20404_for_an_update_to_an_ended_call(sim):
    client = sdk_client(sim)
    created = await sdk(client.calls.create, to="+15550101", from_=CALLER, twiml=HOLD)
    await sim.wait_for_end(created.sid)

    with pytest.raises(TwilioRestException) as raised:
        await sdk(client.calls(created.sid).update, status="completed")

    assert raised.value.status == 404
    assert raised.value.code == 20404
    # The ended call itself can still be fetched.
    assert (await sdk(client.calls(created.sid).fetch)).status == "busy"


async def test_it_refuses_wrong_credentials_with_20003(sim):
    client = Client(ACCOUNT_SID, "not-the-token")
    client.api.base_url = sim.base_url

    with pytest.raises(TwilioRestException) as raised:
        await sdk(client.calls.create, to="+15550104", from_=CALLER, twiml=HOLD)

    assert raised.value.status == 401
    assert raised.value.code == 20003
    assert sim.calls == []


async def test_it_answers_20404_for_another_accounts_path(sim):
    credentials = f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{sim.base_url}/2010-04-01/Accounts/AC{'2' * 32}/Calls.json",
            headers={"Authorization": "Basic " + b64encode(credentials).decode()},
        ) as response,
    ):
        body = await response.json()

    assert response.status == 404
    assert body["code"] == 20404
    assert set(body) == {"code", "message", "more_info", "status"}


@pytest.mark.parametrize(
    ("to", "from_", "twiml", "code"),
    [
        ("", CALLER, HOLD, 21201),
        ("+15550104", "", HOLD, 21213),
        ("555-0104", CALLER, HOLD, 21211),
        ("+15550104", "not-a-number", HOLD, 21212),
        ("+15550104", CALLER, "<Response><Say>" + "a" * 4000 + "</Say></Response>", 20001),
        ("+15550104", CALLER, "<Response><Say>unclosed</Response>", 12100),
        (
            "+15550104",
            CALLER,
            "<Response><Dial><Sip>sip:x@example.com</Sip></Dial></Response>",
            12100,
        ),
    ],
)
async def test_it_validates_parameters_like_twilio(sim, to, from_, twiml, code):
    client = sdk_client(sim)

    with pytest.raises(TwilioRestException) as raised:
        await sdk(client.calls.create, to=to, from_=from_, twiml=twiml)

    assert raised.value.status == 400
    assert raised.value.code == code
    assert sim.calls == []
    assert sim.requests[-1]["status"] == 400


async def test_it_lists_calls_by_to_and_start_time_for_reconciliation(sim):
    client = sdk_client(sim)
    before = datetime.now(UTC) - timedelta(seconds=2)
    wanted = await sdk(client.calls.create, to="+15550134", from_=CALLER, twiml=HOLD)
    await sdk(client.calls.create, to="+15550144", from_=CALLER, twiml=HOLD)
    await wait_until(lambda: sim.get_call(wanted.sid).start_time is not None)

    found = await sdk(client.calls.list, to="+15550134", start_time_after=before)
    by_status = await sdk(client.calls.list, to="+15550134", status="in-progress")
    later = await sdk(client.calls.list, to="+15550134", start_time_after=before + timedelta(1))

    assert [call.sid for call in found] == [wanted.sid]
    assert [call.sid for call in by_status] in ([wanted.sid], [])
    assert later == []


async def test_it_pages_a_long_list_like_twilio(sim):
    client = sdk_client(sim)
    for _ in range(5):
        await sdk(client.calls.create, to="+15550101", from_=CALLER, twiml=HOLD)

    listed = await sdk(client.calls.list, to="+15550101", page_size=2)

    assert len({call.sid for call in listed}) == 5


async def test_it_queues_calls_over_the_cps_cap_in_order():
    async with TwilioSimulator(
        ACCOUNT_SID, AUTH_TOKEN, speak=fast_speak, time_scale=TIME_SCALE, cps=10
    ) as sim:
        client = sdk_client(sim)
        sids = [
            (await sdk(client.calls.create, to=f"+155501{n}1", from_=CALLER, twiml=HOLD)).sid
            for n in range(2, 6)
        ]
        calls = [sim.get_call(sid) for sid in sids]
        await wait_until(lambda: all(call.start_time for call in calls))

        starts = [call.start_time for call in calls]
        assert starts == sorted(starts)
        gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(starts)]
        # 10 CPS: each call leaves the queue at least ~100 ms after the previous one.
        assert min(gaps) >= 0.09


async def test_it_keeps_the_call_when_the_create_answer_stalls_so_it_can_be_reconciled(sim):
    """THE reconciliation case: the client times out, yet the call exists exactly once."""
    sim.faults.stall_next_creates(1, seconds=3.0)
    impatient = sdk_client(sim, timeout=0.5)
    number = "+15550164"
    started = time.monotonic()

    with pytest.raises(requests.exceptions.Timeout):
        await sdk(impatient.calls.create, to=number, from_=CALLER, twiml=HOLD, status_callback=None)

    assert time.monotonic() - started < 2.5
    assert len(sim.calls_to(number)) == 1
    found = await sdk(sdk_client(sim).calls.list, to=number, from_=CALLER)
    assert [call.sid for call in found] == [sim.calls_to(number)[0].sid]
    assert sim.calls_to(number)[0].log.of_kind("rest_stalled") == [
        {"t": pytest.approx(0, abs=0.5), "kind": "rest_stalled", "seconds": 3.0}
    ]


async def test_it_answers_20429_without_making_a_call(sim):
    sim.faults.fail_next_creates(1, status=429)
    client = sdk_client(sim)

    with pytest.raises(TwilioRestException) as raised:
        await sdk(client.calls.create, to="+15550104", from_=CALLER, twiml=HOLD)
    retried = await sdk(client.calls.create, to="+15550104", from_=CALLER, twiml=HOLD)

    assert raised.value.status == 429
    assert raised.value.code == 20429
    assert [call.sid for call in sim.calls] == [retried.sid]


async def test_it_exposes_knobs_and_logs_over_http(sim):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{sim.base_url}/_sim/faults", json={"kind": "fail", "count": 2, "status": 500}
        ) as response:
            assert response.status == 200
        assert sim.faults.fail_count == 2
        client = sdk_client(sim)
        sim.faults.reset()
        created = await sdk(client.calls.create, to="+15550101", from_=CALLER, twiml=HOLD)
        await sim.wait_for_end(created.sid)
        async with session.get(f"{sim.base_url}/_sim/calls") as response:
            body = await response.json()

    [call] = body["calls"]
    assert call["sid"] == created.sid
    assert call["status"] == "busy"
    assert call["persona"] == "busy"
    assert call["log"][0] == {"t": 0.0, "kind": "status", "status": "queued"}
