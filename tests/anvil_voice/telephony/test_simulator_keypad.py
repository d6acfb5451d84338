"""Keys in the simulator: `<Play digits>` on a live call, measured against keeping the stream.

What Twilio documents (docs/decisions.md, "The keypad"): new TwiML on a live call replaces the
`<Connect><Stream>` it was running. The simulator does the same, so this shows what sending
digits that way costs the agent: its stream stops and a new one starts after the tones.
"""

from __future__ import annotations

import time

import pytest
from simulator_support import FakeAgentServer, sdk, sdk_client, wait_until
from test_simulator_media import SILENT, hang_up, place, simulator

from anvil_voice.telephony.simulator.dtmf import detect, keys_ulaw
from anvil_voice.telephony.simulator.twiml import Play, TwimlError, parse_twiml


def test_play_digits_parses_and_refuses_anything_but_keys_and_waits():
    assert parse_twiml('<Response><Play digits="1w2#"/></Response>') == [
        Play(url="", digits="1w2#")
    ]
    with pytest.raises(TwimlError):
        parse_twiml('<Response><Play digits="1-2"/></Response>')
    with pytest.raises(TwimlError):
        parse_twiml("<Response><Play/></Response>")


def test_the_simulators_own_tones_are_heard_as_keys():
    assert detect(keys_ulaw("0123456789*#w1")) == "0123456789*#1"


async def test_play_digits_on_a_live_call_ends_the_agents_stream():
    async with FakeAgentServer() as agent, simulator(agent) as sim:
        sid = await place(sim, agent, SILENT)
        first = await agent.connection(0)
        stream_url = agent.twiml("/stream/call-7/").split('url="')[1].split('"')[0]
        twiml = (
            f'<Response><Play digits="1w2"/><Connect><Stream url="{stream_url}"/></Connect>'
            "</Response>"
        )
        asked = time.monotonic()
        await sdk(sdk_client(sim).calls(sid).update, twiml=twiml)
        await first.wait_for_event("stop")
        second = await agent.connection(1)
        gap = time.monotonic() - asked
        log = sim.get_call(sid).log
        await wait_until(lambda: len(log.of_kind("heard_digit")) == 2)
        await hang_up(sim, sid)

    assert [entry["digit"] for entry in log.of_kind("heard_digit")] == ["1", "2"]
    assert second.stream_sid != first.stream_sid
    # The agent was off the call for the tones (0.2 + 0.5 + 0.2 s) before its new stream.
    assert gap >= 0.8
