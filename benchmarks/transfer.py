"""Transfer benchmark: ``python -m benchmarks.transfer [--calls 10] [--time-scale 0.01]``.

Time from the decision to transfer (our call update with `<Dial>`, what
`sessions.transfers.session_transfer_start` sends through `TwilioCarrier.transfer_cold`) to the
caller hearing the person (the first audio of the simulator's transfer target, persona 18),
through the real `twilio` SDK and the simulator's REST API. Baseline, same run, same calls: the
same call update with a `<Say>` (the caller hears our own line), i.e. the carrier round trip
every live-call change pays. The target's ring is scaled by ``--time-scale`` (2 s at 1.0): the
figure is our part and the simulator's, not how fast a person picks up.

Warm (the same run, same calls): `TwilioCarrier.transfer_warm` itself, i.e. the caller's call
updated to wait in a `<Conference>` (hold audio from a `waitUrl` this benchmark serves, like our
app does) plus the person's leg created through the Calls API; measured to the caller hearing
the person's first words through the conference (the simulator's `conference_heard`). On top of
the cold path it pays the leg's creation, fetching the leg's TwiML, the briefing (the stand-in
voice's 0.3 s here; a real briefing is the TTS of a few sentences) and the person's pause after
it (persona 18 speaks once it heard the briefing end: 600 ms of silence).

Not in the figure: the agent's transfer line ("please hold", said before the update by
design) and a real network's latency. Needs no database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from aiohttp import web
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.telephony import twiml
from anvil_voice.telephony.carrier import OutboundCall, WarmTransfer
from anvil_voice.telephony.hold_audio import hold_audio_wav
from anvil_voice.telephony.simulator import TwilioSimulator, audio
from anvil_voice.telephony.twilio import TwilioCarrier
from benchmarks.support import percentile

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "transfer-bench-token"
CALLER = "+15005550006"
TARGET = "+15550118"  # persona 18: the transfer target that answers
HOLD = '<Response><Pause length="60"/></Response>'
DIAL = (
    '<Response><Dial timeout="20" callerId="+15005550006"><Number>'
    + TARGET
    + "</Number></Dial></Response>"
)
SAY = "<Response><Say>One moment please.</Say></Response>"


def fast_speak(text: str) -> bytes:
    return audio.babble("x" * 6)


def client_for(sim: TwilioSimulator) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=10))
    client.api.base_url = sim.base_url
    return client


async def one(sim: TwilioSimulator, client: Client, twiml: str, source: str) -> float:
    """Milliseconds from our update request to the callee's first audio from `source`."""
    created = await asyncio.to_thread(
        client.calls.create, to="+15550110", from_=CALLER, twiml=HOLD
    )  # persona 10 (silent) answers and stays
    call = sim.get_call(created.sid)
    assert call is not None
    for _ in range(2000):
        if call.log.of_kind("twiml"):
            break
        await asyncio.sleep(0.005)
    asked = call.log.now()
    await asyncio.to_thread(client.calls(created.sid).update, twiml=twiml)
    for _ in range(4000):
        heard = [e for e in call.log.of_kind("played") if e.get("source") == source]
        if heard:
            break
        await asyncio.sleep(0.002)
    else:
        raise RuntimeError(f"the callee never heard {source}")
    await asyncio.to_thread(client.calls(created.sid).update, status="completed")
    return (heard[0]["t"] - asked) * 1000


BRIEFING = (
    "Transfer from the calling agent: Ivy. They said yes to the offer. "
    "They said: Yes, that sounds great, sign me up. Connecting you now."
)


async def app_endpoints() -> tuple[web.AppRunner, str]:
    """What our app answers a warm transfer with (hold TwiML, hold audio, the person's TwiML),
    served from this process: the benchmark needs no Django."""

    async def hold(request: web.Request) -> web.Response:
        body = twiml.play_loop_twiml(f"{base}/hold-audio.wav")
        return web.Response(text=body, content_type="text/xml")

    async def hold_audio(request: web.Request) -> web.Response:
        return web.Response(body=hold_audio_wav(), content_type="audio/wav")

    async def briefing(request: web.Request) -> web.Response:
        room = request.query["room"]
        body = twiml.conference_join_twiml(conference=room, briefing=BRIEFING)
        return web.Response(text=body, content_type="text/xml")

    async def leg_status(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.add_routes(
        [
            web.post("/hold", hold),
            web.get("/hold-audio.wav", hold_audio),
            web.post("/briefing", briefing),
            web.post("/leg", leg_status),
        ]
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    return runner, base


async def one_warm(
    sim: TwilioSimulator, client: Client, base: str, index: int
) -> tuple[float, float]:
    """Milliseconds from `transfer_warm` to the caller hearing the person (conference), and to
    the person joining (the conference starting: the briefing said, hold audio stopped)."""
    created = await asyncio.to_thread(client.calls.create, to="+15550110", from_=CALLER, twiml=HOLD)
    call = sim.get_call(created.sid)
    assert call is not None
    for _ in range(2000):
        if call.log.of_kind("twiml"):
            break
        await asyncio.sleep(0.005)
    room = f"anvil-transfer-bench-{index}"
    request = WarmTransfer(
        target=TARGET,
        caller_id=CALLER,
        timeout_seconds=20,
        conference=room,
        hold_url=f"{base}/hold",
        briefing_url=f"{base}/briefing?room={room}",
        leg_status_url=f"{base}/leg",
    )
    caller = OutboundCall(
        reference=index,
        token="bench",
        to_number="+15550110",
        from_number=CALLER,
        call_sid=created.sid,
    )
    asked = call.log.now()
    await asyncio.to_thread(TwilioCarrier(client).transfer_warm, caller, request)
    for _ in range(10000):
        heard = call.log.of_kind("conference_heard")
        if heard:
            break
        await asyncio.sleep(0.002)
    else:
        raise RuntimeError("the caller never heard the person")
    await asyncio.to_thread(client.calls(created.sid).update, status="completed")
    [started] = call.log.of_kind("conference_started")
    return (heard[0]["t"] - asked) * 1000, (started["t"] - asked) * 1000


async def run(calls: int, time_scale: float) -> None:
    server, base = await app_endpoints()
    try:
        # 10 calls per second: the person's leg is a Calls API call, under the account's CPS.
        async with TwilioSimulator(
            ACCOUNT_SID, AUTH_TOKEN, time_scale=time_scale, speak=fast_speak, cps=10
        ) as sim:
            client = client_for(sim)
            transfer, baseline, warm, joined = [], [], [], []
            for index in range(calls):
                baseline.append(await one(sim, client, SAY, "say"))
                transfer.append(await one(sim, client, DIAL, "dial"))
                heard_ms, joined_ms = await one_warm(sim, client, base, index)
                warm.append(heard_ms)
                joined.append(joined_ms)
    finally:
        await server.cleanup()
    ring_ms = 2000 * time_scale
    print(f"calls: {calls}, time scale: {time_scale} (target rings {ring_ms:.0f} ms)")
    for name, values in (
        ("update + <Say> (baseline)", baseline),
        ("transfer <Dial>", transfer),
        ("warm: the person joins", joined),
        ("warm transfer (conference)", warm),
    ):
        print(
            f"{name:28s} median {statistics.median(values):7.1f} ms"
            f"  p95 {percentile(values, 95):7.1f} ms"
        )
    ratio = statistics.median(transfer) / statistics.median(baseline)
    print(f"transfer / baseline (median): {ratio:.2f}")
    print(f"transfer minus the target's ring: {statistics.median(transfer) - ring_ms:.1f} ms")
    warm_ratio = statistics.median(warm) / statistics.median(baseline)
    print(f"warm / baseline (median): {warm_ratio:.2f}")
    print(f"warm minus the target's ring: {statistics.median(warm) - ring_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=0.01)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.time_scale))


if __name__ == "__main__":
    main()
