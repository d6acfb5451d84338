"""Transfers end to end: campaign calls through the Twilio simulator to a person.

The real dispatcher, placement and the call update through the `twilio` SDK, the simulator's
`<Dial>`, our ASGI app running the live pipeline and answering the signed `<Dial action>`.
Only speech is faked (instant babble voice, scripted recognition).

Persona 04 (and 24, the same persona) says yes; the script transfers on agreement:
* to persona 18, who answers and talks: the session is `transferred`, the transfer
  `completed`, answered, with its talk time;
* to persona 19 (the campaign overriding the script's number), who never answers (warm): the
  caller hears that nobody could take the call, and the session becomes `callback_requested`;
* warm, to persona 18: the person hears a briefing (who, why, what was said) before the caller
  is connected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from scripts.factories import ScriptFactory
from sessions.live import consumer
from sessions.models import CallSession, Transfer
from sessions.transfers import TRANSFER_FAILED_LINE
from tests.anvil_voice.telephony.test_carrier_harness import AsgiServer, SimulatorThread, number
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import call_personas, live_settings, persona_campaign
from tests.sessions.pipeline.pipeline_support import FakeRecognizer, FakeVoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.audio_behaviour]

YES = "Yes, that sounds great, sign me up."


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite]) as simulator:
        yield simulator


@pytest.fixture
def instant_speech(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "build_voice", lambda setup: (FakeVoice(), None))
    monkeypatch.setattr(consumer, "build_recognizer", lambda: FakeRecognizer(["Hello?", YES]))


def sim_log(simulator: SimulatorThread, to: str) -> list[dict[str, Any]]:
    [call] = simulator.calls_to(to)
    return simulator.on_loop(lambda: list(call.log.entries))


def transfer_campaign(organization: Any, contact: str, *, mode: str = "cold", **fields: Any) -> Any:
    script = ScriptFactory(
        organization=organization,
        opening_line="Hi {{first_name}}, want our plan?",
        closing_line="Great, goodbye!",
        transfer={
            "number": number("18", "212"),
            "mode": mode,
            "on_agreement": True,
            "timeout_seconds": 10,
        },
    )
    return persona_campaign(organization, {contact: "Ivy"}, script=script, max_attempts=1, **fields)


def test_a_cold_transfer_connects_the_caller_to_the_person_who_answers(
    settings, simulator, asgi_server, instant_speech, acme
):
    live_settings(settings, simulator, asgi_server)
    campaign = transfer_campaign(acme, "04")
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        call_personas(campaign, wait=60)

    session = CallSession.objects.get(campaign=campaign)
    assert (session.outcome, session.end_reason) == ("transferred", "transferred")
    [transfer] = Transfer.objects.filter(session=session)
    assert (transfer.mode, transfer.reason, transfer.state) == ("cold", "agreement", "completed")
    assert transfer.target_number == number("18", "212")
    assert transfer.carrier_status == "completed"
    assert transfer.talk_seconds is not None
    assert transfer.talk_seconds >= 1
    assert transfer.answered_at is not None
    assert transfer.ended_at is not None
    assert transfer.requested_at <= transfer.answered_at <= transfer.ended_at
    agent = [turn.text for turn in session.turns.order_by("index") if turn.speaker == "agent"]
    assert agent[-1] == "Of course. Let me connect you with a colleague now, please hold."
    log = sim_log(simulator, session.to_number)
    kinds = [entry["kind"] for entry in log]
    assert kinds.index("dial") < kinds.index("dial_answered") < kinds.index("dial_action")
    [action] = [entry for entry in log if entry["kind"] == "dial_action"]
    assert action["http_status"] == 200  # signed, and our signature check accepted it
    assert action["params"]["DialCallStatus"] == "completed"
    assert not [entry for entry in log if entry.get("verb") == "Say"]


def test_a_transfer_nobody_answers_tells_the_caller_and_asks_for_a_callback(
    settings, simulator, asgi_server, instant_speech, acme
):
    live_settings(settings, simulator, asgi_server)
    # The campaign's number overrides the script's: 19 never answers.
    # 24 is persona 04 again (by its last digit), on a number of its own in the simulator.
    campaign = transfer_campaign(acme, "24", mode="warm", transfer_number=number("19", "212"))
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        call_personas(campaign, wait=60)

    session = CallSession.objects.get(campaign=campaign)
    [transfer] = Transfer.objects.filter(session=session)
    assert transfer.target_number == number("19", "212")
    assert (transfer.state, transfer.carrier_status) == ("no_answer", "no-answer")
    assert transfer.answered_at is None
    assert transfer.talk_seconds is None
    assert session.outcome == "callback_requested"
    assert session.end_reason == "transfer_no_answer"
    log = sim_log(simulator, session.to_number)
    said = [entry["text"] for entry in log if entry["kind"] == "twiml" and entry["verb"] == "Say"]
    assert said == [TRANSFER_FAILED_LINE], "the caller is never dropped in silence"
    assert not [entry for entry in log if entry["kind"] == "dial_whisper"]


def test_a_warm_transfer_briefs_the_person_before_connecting_the_caller(
    settings, simulator, asgi_server, instant_speech, acme
):
    live_settings(settings, simulator, asgi_server)
    campaign = transfer_campaign(acme, "34", mode="warm")  # persona 04 again
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        call_personas(campaign, wait=60)

    session = CallSession.objects.get(campaign=campaign)
    assert session.outcome == "transferred"
    [transfer] = Transfer.objects.filter(session=session)
    assert (transfer.mode, transfer.state) == ("warm", "completed")
    log = sim_log(simulator, session.to_number)
    [briefing] = [entry for entry in log if entry["kind"] == "dial_whisper"]
    assert briefing["text"] == (
        "Transfer from the calling agent: Ivy. They said yes to the offer. "
        "They said: Hello? We said: Hi Ivy, want our plan? They said: " + YES + " "
        "We said: Of course. Let me connect you with a colleague now, please hold. "
        "Connecting you now."
    )
    [fetch] = [entry for entry in log if entry["kind"] == "dial_whisper_fetch"]
    assert fetch["http_status"] == 200
    kinds = [entry["kind"] for entry in log]
    heard = next(i for i, e in enumerate(log) if e["kind"] == "played" and e["source"] == "dial")
    assert kinds.index("dial_answered") < kinds.index("dial_whisper") < heard
    # Answered when the person picked up (the briefing's request), not derived afterwards.
    assert transfer.answered_at is not None
    assert transfer.ended_at is not None
    assert transfer.requested_at <= transfer.answered_at <= transfer.ended_at
    assert transfer.talk_seconds is not None
