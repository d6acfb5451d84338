"""Transfer benchmark: ``python -m benchmarks.transfer [--calls 10] [--time-scale 0.01]``.

Time from the decision to transfer (our call update with `<Dial>`, what
`sessions.transfers.session_transfer_start` sends through `TwilioCarrier.transfer_cold`) to the
caller hearing the person (the first audio of the simulator's transfer target, persona 18),
through the real `twilio` SDK and the simulator's REST API. Baseline, same run, same calls: the
same call update with a `<Say>` (the caller hears our own line), i.e. the carrier round trip
every live-call change pays. The target's ring is scaled by ``--time-scale`` (2 s at 1.0): the
figure is our part and the simulator's, not how fast a person picks up.

Not in the figure: the agent's transfer line ("please hold", said before the update by
design) and a real network's latency. Needs no database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.telephony.simulator import TwilioSimulator, audio
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


async def run(calls: int, time_scale: float) -> None:
    async with TwilioSimulator(
        ACCOUNT_SID, AUTH_TOKEN, time_scale=time_scale, speak=fast_speak
    ) as sim:
        client = client_for(sim)
        transfer, baseline = [], []
        for _ in range(calls):
            baseline.append(await one(sim, client, SAY, "say"))
            transfer.append(await one(sim, client, DIAL, "dial"))
    ring_ms = 2000 * time_scale
    print(f"calls: {calls}, time scale: {time_scale} (target rings {ring_ms:.0f} ms)")
    for name, values in (("update + <Say> (baseline)", baseline), ("transfer <Dial>", transfer)):
        print(
            f"{name:28s} median {statistics.median(values):7.1f} ms"
            f"  p95 {percentile(values, 95):7.1f} ms"
        )
    ratio = statistics.median(transfer) / statistics.median(baseline)
    print(f"transfer / baseline (median): {ratio:.2f}")
    print(f"transfer minus the target's ring: {statistics.median(transfer) - ring_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=0.01)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.time_scale))


if __name__ == "__main__":
    main()
