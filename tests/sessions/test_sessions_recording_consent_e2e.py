"""Recording consent end to end: two campaign calls through the Twilio simulator.

The real dispatcher, placement through the `twilio` SDK, the simulator's personas, our ASGI
app (uvicorn in a thread) running the live pipeline on the Media Stream, signed recording
callbacks and the recording download. Only the speech providers are instant fakes (babble for
the agent's voice, scripted finals for recognition): turn-taking, marks and recording are what
is under test here, and the fakes keep the test at a few seconds.

* persona 04 hears the opening, the disclosure and answers yes: the call is placed without
  `Record`, the Call Recordings request comes after the simulator echoed the disclosure's last
  mark, and the stored recording and the evidence say so;
* persona 16 hangs up in the middle of the disclosure: no recording request, no recording,
  and the evidence says the disclosure was not played.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import time_machine

from scripts.factories import ScriptFactory
from sessions.live import consumer
from sessions.models import CallEvent, CallSession
from tests.anvil_voice.telephony.test_carrier_harness import (
    AsgiServer,
    SimulatorThread,
    number,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import call_personas, live_settings, persona_campaign
from tests.sessions.pipeline.pipeline_support import FakeRecognizer, FakeVoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.audio_behaviour]

# Spoken by the fake voice at 30 ms a character: the opening takes ~1.3 s and the disclosure
# ~3 s after it, so persona 16 (gone after 2 s of agent speech) leaves in the middle of it.
OPENING = "Hi {{first_name}}, it's Sam from Anvil Solar."
DISCLOSURE = (
    "This call is recorded by {{business_name}} for quality and training, so that we can "
    "serve you better."
)
SAID = "This call is recorded by Acme for quality and training, so that we can serve you better."
YES = "Yes, that sounds great, sign me up."


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    # Personas speak 300 ms of babble per line (the harness's fast voice).
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite]) as simulator:
        yield simulator


@pytest.fixture
def instant_speech(monkeypatch: pytest.MonkeyPatch) -> None:
    # The consumer builds the call's providers; the pipeline itself is the real one.
    monkeypatch.setattr(consumer, "build_voice", lambda setup: (FakeVoice(), None))
    monkeypatch.setattr(consumer, "build_recognizer", lambda: FakeRecognizer(["Hello?", YES]))


def sim_log(simulator: SimulatorThread, to: str) -> tuple[Any, list[dict[str, Any]]]:
    [call] = simulator.calls_to(to)
    return call, simulator.on_loop(lambda: list(call.log.entries))


def test_recording_starts_only_after_the_disclosure_was_heard_in_full(
    settings, simulator, asgi_server, instant_speech, acme
):
    live_settings(settings, simulator, asgi_server)
    script = ScriptFactory(
        organization=acme,
        opening_line=OPENING,
        closing_line="Great, we will be in touch, goodbye!",
        recording_disclosure=DISCLOSURE,
        recording_disclosure_required=True,
    )
    campaign = persona_campaign(
        acme,
        {"04": "Ivy", "16": "Hal"},
        script=script,
        record_calls=True,
        max_concurrent_calls=2,
        calls_per_second=10,
        max_attempts=1,
    )

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        call_personas(campaign, wait=60)
        heard = CallSession.objects.get(campaign=campaign, to_number=number("04", "212"))
        wait_for(lambda: CallSession.objects.get(pk=heard.pk).recording, 20, "the recording")

    # --- persona 04: heard it whole, then recorded --------------------------------------
    heard.refresh_from_db()
    call, log = sim_log(simulator, heard.to_number)
    assert "Record" not in simulator.creates_to(heard.to_number)[-1]["params"]
    marks = [e for e in log if e["kind"] == "mark_echoed" and not e["cleared"]]
    disclosure_mark = heard.compliance["recording"]["disclosure_mark"]
    [echoed] = [e for e in marks if e["name"] == disclosure_mark]
    [request] = [e for e in log if e["kind"] == "rest" and e["path"].endswith("/Recordings.json")]
    [begun] = [e for e in log if e["kind"] == "recording_started"]
    assert echoed["t"] <= request["t"] <= begun["t"]
    assert begun["source"] == "StartCallRecordingAPI"
    # The disclosure is the second agent turn, heard whole; the recording holds what came after.
    agent = [t for t in heard.turns.order_by("start_ms") if t.speaker == "agent"]
    assert agent[1].text == SAID
    assert not agent[1].interrupted
    assert heard.outcome == "interested"
    assert heard.recording_sid == call.recording_sid
    assert heard.recording_started_at is not None
    assert heard.answered_at is not None
    assert heard.answered_at < heard.recording_started_at < heard.ended_at
    evidence = heard.compliance["recording"]
    assert evidence == {
        "requested": True,
        "mode": "after_disclosure",
        "disclosure_required": True,
        "disclosure_text": SAID,
        "disclosure_mark": disclosure_mark,
        "disclosure_played_at": evidence["disclosure_played_at"],
        "playback_confirmed_by": "mark",
        "recording_started_at": heard.recording_started_at.isoformat(),
        "recording_sid": call.recording_sid,
        "recorded": True,
        "reason": "disclosure_confirmed",
    }
    assert datetime.fromisoformat(evidence["disclosure_played_at"]) <= heard.recording_started_at
    # The recording is shorter than the call by at least the opening and the disclosure.
    spoken_before = (agent[1].end_ms - agent[0].start_ms) / 1000
    assert heard.recording_duration_seconds is not None
    assert heard.duration_seconds is not None
    assert len(call.recording) / 8000 <= heard.duration_seconds - spoken_before + 0.5

    # --- persona 16: hung up during the disclosure --------------------------------------
    gone = CallSession.objects.get(campaign=campaign, to_number=number("16", "212"))
    call, log = sim_log(simulator, gone.to_number)
    assert [e["action"] for e in log if e["kind"] == "persona"] == ["hung_up"]
    assert not [e for e in log if e["kind"] == "rest" and e["path"].endswith("/Recordings.json")]
    assert call.recording is None
    assert not gone.recording
    assert gone.recording_started_at is None
    disclosure_turn = [t for t in gone.turns.all() if t.speaker == "agent"][-1]
    assert disclosure_turn.interrupted, "the line went dead in the middle of the disclosure"
    evidence = gone.compliance["recording"]
    assert (evidence["recorded"], evidence["reason"]) == (False, "disclosure_not_played")
    assert evidence["disclosure_played_at"] is None
    assert not CallEvent.objects.filter(session=gone, kind="recording_started").exists()
