"""The Media Stream: signed handshake, Twilio's messages, playback, marks, clear, personas."""

from __future__ import annotations

import base64
import importlib.util

import pytest
from simulator_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    TIME_SCALE,
    FakeAgentServer,
    StreamConnection,
    fast_speak,
    sdk,
    sdk_client,
    speech_frames,
    wait_until,
)

from anvil_voice.telephony.simulator import TwilioSimulator, audio

SILENT = "+15550110"
UTTERANCE = audio.tone(0.4, frequency=300.0)


def simulator(agent: FakeAgentServer, **overrides) -> TwilioSimulator:
    options = {"speak": fast_speak, "time_scale": TIME_SCALE, "url_rewrites": [agent.rewrite]}
    return TwilioSimulator(ACCOUNT_SID, overrides.pop("token", AUTH_TOKEN), **options | overrides)


async def place(sim: TwilioSimulator, agent: FakeAgentServer, to: str, **parameters: str) -> str:
    twiml = agent.twiml("/stream/call-7/", **parameters)
    call = await sdk(sdk_client(sim).calls.create, to=to, from_=CALLER, twiml=twiml)
    return call.sid


async def hang_up(sim: TwilioSimulator, sid: str) -> None:
    await sdk(sdk_client(sim).calls(sid).update, status="completed")
    await sim.wait_for_end(sid)


def said(sim: TwilioSimulator, sid: str) -> list[str]:
    return [entry["text"] for entry in sim.get_call(sid).log.of_kind("persona_said")]


def finished_lines(sim: TwilioSimulator, sid: str) -> int:
    """Persona lines whose last frame has gone out on the stream."""
    return sum("done_t" in entry for entry in sim.get_call(sid).log.of_kind("persona_said"))


async def test_it_signs_the_handshake_and_speaks_twilios_protocol():
    async with FakeAgentServer() as agent, simulator(agent) as sim:
        sid = await place(sim, agent, SILENT, campaign="c-1", contact="42")
        connection = await agent.connection()
        await connection.wait_for_event("media", count=5)
        await hang_up(sim, sid)
        await connection.wait_for_event("stop")

    assert agent.refused == []
    assert connection.path == "/stream/call-7/"
    connected, start, first_media = connection.events[:3]
    stream_sid = start["streamSid"]
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "accountSid": ACCOUNT_SID,
            "callSid": sid,
            "streamSid": stream_sid,
            "tracks": ["inbound"],
            "customParameters": {"campaign": "c-1", "contact": "42"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    assert stream_sid.startswith("MZ")
    assert len(stream_sid) == 34
    assert first_media["sequenceNumber"] == "2"
    assert first_media["media"]["track"] == "inbound"
    assert (first_media["media"]["chunk"], first_media["media"]["timestamp"]) == ("1", "0")
    assert base64.b64decode(first_media["media"]["payload"]) == audio.SILENCE_FRAME
    assert connection.events[-1] == {
        "event": "stop",
        "sequenceNumber": connection.events[-1]["sequenceNumber"],
        "streamSid": stream_sid,
        "stop": {"accountSid": ACCOUNT_SID, "callSid": sid},
    }
    numbers = [int(event["sequenceNumber"]) for event in connection.events[1:]]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_our_server_refuses_a_handshake_signed_with_another_token():
    async with FakeAgentServer() as agent, simulator(agent, token="a-different-token") as sim:
        created = await sdk(
            sdk_client(sim, token="a-different-token").calls.create,
            to=SILENT,
            from_=CALLER,
            twiml=agent.twiml("/stream/x/"),
        )
        call = await sim.wait_for_end(created.sid)

    assert agent.refused == ["wss://agent.example/stream/x/"]
    assert agent.connections == []
    assert call.log.of_kind("error")[0]["code"] == 31920
    # The TwiML ran out after the failed <Connect>, so the call simply completed.
    assert call.status == "completed"


async def test_it_echoes_a_mark_only_after_the_audio_before_it_has_played():
    async with FakeAgentServer() as agent, simulator(agent) as sim:
        sid = await place(sim, agent, SILENT)
        connection = await agent.connection()
        await connection.send_mark("nothing-queued")
        await connection.wait_for_event("mark")
        await connection.send_audio(UTTERANCE)
        await connection.send_mark("greeting-done")
        inbound_at_send = len(connection.of_event("media"))
        echo = await connection.wait_for_event("mark", count=2)
        inbound_at_echo = len(connection.of_event("media"))
        await hang_up(sim, sid)

    assert echo["mark"] == {"name": "greeting-done"}
    # 400 ms of audio is 20 frames of stream time; the echo cannot come sooner.
    assert inbound_at_echo - inbound_at_send >= 18
    log = sim.get_call(sid).log
    assert [(e["name"], e["cleared"]) for e in log.of_kind("mark_echoed")] == [
        ("nothing-queued", False),
        ("greeting-done", False),
    ]
    [utterance] = log.of_kind("agent_utterance")
    assert utterance["duration_ms"] == 400
    [media] = log.of_kind("stream_media")
    assert media["media_received_bytes"] == len(UTTERANCE)


async def test_clear_drops_buffered_audio_and_echoes_pending_marks_at_once():
    async with FakeAgentServer() as agent, simulator(agent) as sim:
        sid = await place(sim, agent, SILENT)
        connection = await agent.connection()
        await connection.send_audio(audio.tone(3.0, frequency=300.0))
        await connection.send_mark("long-speech")
        inbound_before = len(connection.of_event("media"))
        # Let ~300 ms of it play (stream time), then interrupt.
        await connection.wait_for(lambda: len(connection.of_event("media")) >= inbound_before + 15)
        await connection.send_clear()
        echo = await connection.wait_for_event("mark")
        await hang_up(sim, sid)

    assert echo["mark"] == {"name": "long-speech"}
    log = sim.get_call(sid).log
    [clear] = log.of_kind("clear")
    assert clear["marks_echoed"] == 1
    assert 8000 < clear["dropped_bytes"] < 3 * 8000
    assert log.of_kind("mark_echoed")[0]["cleared"] is True
    assert log.of_kind("agent_utterance")[0]["duration_ms"] < 2000


async def test_it_rejects_binary_frames_and_forwards_dtmf():
    async with FakeAgentServer() as agent, simulator(agent) as sim:
        sid = await place(sim, agent, SILENT)
        connection = await agent.connection()
        await connection.ws.send_bytes(b"\xff" * 160)
        await connection.send({"event": "dance", "streamSid": connection.stream_sid})
        assert sim.send_dtmf(sid, "5")
        dtmf = await connection.wait_for_event("dtmf")
        log = sim.get_call(sid).log
        await wait_until(lambda: len(log.of_kind("error")) == 2)
        await hang_up(sim, sid)

    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert [entry["code"] for entry in log.of_kind("error")] == [31950, 31951]


async def _two_turns(connection: StreamConnection) -> None:
    """An agent that answers each callee turn with a short utterance, twice."""
    await connection.wait_for_callee_turn(0)
    for turn in range(2):
        heard = connection.inbound_speech_frames()
        await connection.send_audio(UTTERANCE)
        await connection.send_mark(f"turn-{turn}")
        await connection.wait_for_callee_turn(heard)


async def test_a_persona_takes_turns_by_listening_with_real_audio():
    async with FakeAgentServer(_two_turns) as agent, simulator(agent) as sim:
        sid = await place(sim, agent, "+15550105")
        connection = await agent.connection()
        await wait_until(lambda: finished_lines(sim, sid) == 3)
        await hang_up(sim, sid)

    assert said(sim, sid) == [
        "Hello?",
        "We already have a provider.",
        "Okay, that makes sense. Yes, let's do it.",
    ]
    log = sim.get_call(sid).log
    utterances = log.of_kind("agent_utterance")
    replies = log.of_kind("persona_said")[1:]
    assert len(utterances) == 2
    for utterance, reply in zip(utterances, replies, strict=True):
        utterance_end = utterance["start_t"] + utterance["duration_ms"] / 1000
        # The persona waited for 600 ms of silence after the agent stopped, not longer than ~1 s.
        assert utterance_end + 0.55 <= reply["t"] <= utterance_end + 1.0
    # What the persona said reached us as real, non-silent mu-law.
    line = fast_speak("any")
    assert bytes(connection.inbound).count(line) == 3
    assert connection.inbound_speech_frames() >= 3 * speech_frames(line)


def speech_then_silence(text: str) -> bytes:
    """A voice whose clip ends in 300 ms of silence, as Piper's do."""
    return fast_speak(text) + audio.SILENCE_FRAME * 15


async def test_a_persona_line_logs_when_its_speech_ended_before_its_trailing_silence():
    async with (
        FakeAgentServer(_two_turns) as agent,
        simulator(agent, speak=speech_then_silence) as sim,
    ):
        sid = await place(sim, agent, "+15550104")
        await agent.connection()
        await wait_until(lambda: finished_lines(sim, sid) == 2)
        await hang_up(sim, sid)

    lines = sim.get_call(sid).log.of_kind("persona_said")
    assert len(lines) == 2
    for line in lines:
        # The caller's end of speech (what reply latency is measured from) is the last
        # non-silent frame: 15 frames before the clip's last one went out.
        assert line["speech_end_t"] == round(line["done_t"] - 0.3, 3)
        assert line["t"] < line["speech_end_t"]


def test_trailing_silence_is_counted_in_whole_frames_from_the_end():
    speech = audio.tone(0.4)  # 20 whole frames
    assert audio.trailing_silence_frames(speech) == 0
    assert audio.trailing_silence_frames(speech + audio.SILENCE_FRAME * 3) == 3
    # A short last frame is played padded with silence: it counts as one frame.
    assert audio.trailing_silence_frames(speech + audio.SILENCE_FRAME * 2 + b"\xff" * 40) == 3
    assert audio.trailing_silence_frames(audio.SILENCE_FRAME * 4) == 4
    assert audio.trailing_silence_frames(b"") == 0


async def _pitch_interrupted_by_barge_in(connection: StreamConnection) -> None:
    await connection.wait_for_callee_turn(0)
    heard = connection.inbound_speech_frames()
    await connection.send_audio(UTTERANCE)
    await connection.wait_for_callee_turn(heard)
    heard = connection.inbound_speech_frames()
    await connection.send_audio(audio.tone(4.0, frequency=300.0))
    await connection.send_mark("pitch")
    # Barge-in detection, as our server does it: the callee speaks while we talk.
    await connection.wait_for(lambda: connection.inbound_speech_frames() > heard)
    await connection.send_clear()
    await connection.wait_for_event("mark")
    heard = connection.inbound_speech_frames()
    await connection.wait_for_callee_turn(heard - 1)
    await connection.send_audio(UTTERANCE)
    await connection.wait_for_callee_turn(heard)


async def test_the_barge_in_persona_talks_over_the_second_utterance():
    async with FakeAgentServer(_pitch_interrupted_by_barge_in) as agent, simulator(agent) as sim:
        sid = await place(sim, agent, "+15550111")
        await wait_until(lambda: finished_lines(sim, sid) == 4)
        await hang_up(sim, sid)

    assert said(sim, sid) == [
        "Hello?",
        "Yes, speaking.",
        "Sorry to interrupt, how much does it cost?",
        "Okay, sign me up.",
    ]
    log = sim.get_call(sid).log
    pitch = log.of_kind("agent_utterance")[1]
    [barge_in] = [entry for entry in log.of_kind("persona") if entry["action"] == "barged_in"]
    assert 0.95 <= barge_in["t"] - pitch["start_t"] <= 1.5
    # The clear cut the 4 s pitch short and released its mark early.
    assert pitch["duration_ms"] < 2500
    assert log.of_kind("clear")[0]["dropped_bytes"] > 8000
    assert log.of_kind("mark_echoed")[0] == {
        "t": log.of_kind("mark_echoed")[0]["t"],
        "kind": "mark_echoed",
        "name": "pitch",
        "cleared": True,
    }


async def _keeps_talking(connection: StreamConnection) -> None:
    await connection.wait_for_callee_turn(0)
    heard = connection.inbound_speech_frames()
    await connection.send_audio(UTTERANCE)
    await connection.wait_for_callee_turn(heard)
    await connection.send_audio(audio.tone(3.0, frequency=300.0))


async def test_the_hang_up_persona_ends_the_call_mid_utterance():
    async with FakeAgentServer(_keeps_talking) as agent, simulator(agent) as sim:
        sid = await place(sim, agent, "+15550109")
        connection = await agent.connection()
        call = await sim.wait_for_end(sid)

    assert said(sim, sid) == ["Hello?", "Sorry, who is this?"]
    assert [entry["action"] for entry in call.log.of_kind("persona")] == ["hung_up"]
    assert call.status == "completed"
    assert connection.events[-1]["event"] == "stop"
    # It hung up about 1 s into the 3 s utterance.
    assert 900 <= call.log.of_kind("agent_utterance")[-1]["duration_ms"] <= 1500


@pytest.mark.skipif(
    importlib.util.find_spec("piper") is None, reason="the local Piper voice is not installed"
)
async def test_personas_speak_with_the_local_piper_voice():
    async with FakeAgentServer(_two_turns) as agent, simulator(agent, speak=None) as sim:
        sid = await place(sim, agent, "+15550104")
        connection = await agent.connection()
        await wait_until(lambda: finished_lines(sim, sid) == 2, timeout=60)
        await hang_up(sim, sid)

    lines = sim.get_call(sid).log.of_kind("persona_said")
    assert [entry["text"] for entry in lines] == ["Hello?", "Yes, that sounds great, sign me up."]
    # Real synthesised speech: a sentence lasts well over a second, and it is not silence.
    assert lines[1]["duration_ms"] > 1200
    assert connection.inbound_speech_frames() > 50


def _utterance_end(utterance: dict) -> float:
    return utterance["start_t"] + utterance["duration_ms"] / 1000


async def _long_line(connection: StreamConnection) -> None:
    """An agent that answers the hello with one 4 s line and never stops it."""
    await connection.wait_for_callee_turn(0)
    await connection.send_audio(audio.tone(4.0, frequency=300.0))
    await connection.send_mark("line")


async def test_the_backchanneler_says_uh_huh_and_right_over_the_line_and_answers_after_it():
    async with FakeAgentServer(_long_line) as agent, simulator(agent) as sim:
        sid = await place(sim, agent, "+15550113")
        await wait_until(lambda: finished_lines(sim, sid) == 4)
        await hang_up(sim, sid)

    assert said(sim, sid) == [
        "Hello?",
        "Uh-huh.",
        "Right.",
        "Yes, that sounds great, sign me up.",
    ]
    log = sim.get_call(sid).log
    [line] = log.of_kind("agent_utterance")
    assert line["duration_ms"] >= 3900  # nobody cut it
    notes = [entry for entry in log.of_kind("persona") if entry["action"] == "backchanneled"]
    assert [entry["text"] for entry in notes] == ["Uh-huh.", "Right."]
    # 1 s of agent speech in, then 1 s more after the first one ended; both inside the line.
    first, second = (entry["t"] - line["start_t"] for entry in notes)
    assert 0.95 <= first <= 1.5
    backchannel = log.of_kind("persona_said")[1]
    assert 0.95 <= second - (backchannel["done_t"] - line["start_t"]) <= 1.5
    assert all(entry["done_t"] < _utterance_end(line) for entry in log.of_kind("persona_said")[1:3])
    # The answer waits for the end of the agent's turn (600 ms of silence after it).
    assert log.of_kind("persona_said")[3]["t"] >= _utterance_end(line) + 0.55


async def _waits_for_the_whole_number(connection: StreamConnection) -> None:
    await connection.wait_for_callee_turn(0)
    heard = connection.inbound_speech_frames()
    await connection.send_audio(UTTERANCE)
    await connection.send_mark("question")
    # Both halves of the number (each a 300 ms stand-in line), then the callee's silence.
    half = speech_frames(fast_speak("half"))
    await connection.wait_for(
        lambda: (
            connection.inbound_speech_frames() >= heard + 2 * half
            and connection.inbound_silence_run() >= 20
        )
    )
    await connection.send_audio(UTTERANCE)
    await connection.send_mark("answer")


async def test_the_pauser_stops_mid_sentence_for_the_pause_and_logs_it():
    async with FakeAgentServer(_waits_for_the_whole_number) as agent, simulator(agent) as sim:
        sid = await place(sim, agent, "+15550114")
        await wait_until(lambda: finished_lines(sim, sid) == 4)
        await hang_up(sim, sid)

    assert said(sim, sid) == [
        "Hello?",
        "My number is five five five,",
        "one two three four.",
        "Yes, sign me up.",
    ]
    log = sim.get_call(sid).log
    first_half, second_half = log.of_kind("persona_said")[1:3]
    [paused] = [entry for entry in log.of_kind("persona") if entry["action"] == "paused"]
    [resumed] = [entry for entry in log.of_kind("persona") if entry["action"] == "resumed"]
    # The pause runs from the last frame of the first half, for 0.5 s of stream time, and the
    # second half follows straight on.
    assert first_half["done_t"] <= paused["t"] <= first_half["done_t"] + 0.05
    assert 0.45 <= resumed["t"] - paused["t"] <= 0.7
    assert resumed["t"] <= second_half["t"] <= resumed["t"] + 0.05
    question, answer = log.of_kind("agent_utterance")
    assert first_half["t"] >= _utterance_end(question) + 0.55
    assert log.of_kind("persona_said")[3]["t"] >= _utterance_end(answer) + 0.55


async def test_the_opening_talker_speaks_one_second_into_the_opening():
    async with FakeAgentServer(_long_line) as agent, simulator(agent) as sim:
        sid = await place(sim, agent, "+15550115")
        await wait_until(lambda: finished_lines(sim, sid) == 3)
        await hang_up(sim, sid)

    assert said(sim, sid) == [
        "Hello?",
        "Sorry to interrupt, how much does it cost?",
        "Okay, sign me up.",
    ]
    log = sim.get_call(sid).log
    [opening] = log.of_kind("agent_utterance")
    [talked_over] = [entry for entry in log.of_kind("persona") if entry["action"] == "talked_over"]
    assert 0.95 <= talked_over["t"] - opening["start_t"] <= 1.5
    assert log.of_kind("persona_said")[2]["t"] >= _utterance_end(opening) + 0.55
