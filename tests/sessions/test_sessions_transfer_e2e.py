"""Transfers end to end: campaign calls through the Twilio simulator to a person.

The real dispatcher, placement and the call update through the `twilio` SDK, the simulator's
`<Dial>`, our ASGI app running the live pipeline and answering the signed `<Dial action>`.
Only speech is faked (instant babble voice, scripted recognition).

Persona 04 (and 34, the same persona) says yes; the script transfers on agreement:
* cold, to persona 18, who answers and talks: the session is `transferred`, the transfer
  `completed`, answered, with its talk time;
* warm, to persona 18: the caller waits in a conference hearing our hold audio while the
  person is called on a leg of their own; the person hears a briefing (who, why, what was
  said) and joins; the caller hears them;
* warm, persona 22 to persona 19 (the campaign overriding the script's number), who never
  answers: the agent comes back on a new stream, offers a callback, and the caller's "tomorrow
  at 3" makes the session `callback_requested` with that time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from anvil_voice.telephony.simulator.personas import CALLBACK_TOMORROW_AT_3
from campaigns.models import CampaignContact
from scripts.engine.transfer_return import NOBODY_AVAILABLE
from scripts.factories import ScriptFactory
from sessions.live import consumer
from sessions.models import CallSession, Transfer
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


def recognizing(monkeypatch: pytest.MonkeyPatch, *streams: list[str]) -> None:
    """Each media stream of the call recognises its own list (a caller back from a transfer
    is on a second stream, with a recogniser of its own)."""
    answers = iter(streams)
    monkeypatch.setattr(consumer, "build_recognizer", lambda: FakeRecognizer(next(answers, [])))


def test_a_warm_transfer_holds_the_caller_briefs_the_person_then_joins_them(
    settings, simulator, asgi_server, monkeypatch, acme
):
    live_settings(settings, simulator, asgi_server)
    monkeypatch.setattr(consumer, "build_voice", lambda setup: (FakeVoice(), None))
    recognizing(monkeypatch, ["Hello?", YES])
    campaign = transfer_campaign(acme, "34", mode="warm")  # persona 04 again
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        call_personas(campaign, wait=60)

    session = CallSession.objects.get(campaign=campaign)
    assert session.outcome == "transferred"
    [transfer] = Transfer.objects.filter(session=session)
    assert (transfer.mode, transfer.state, transfer.carrier_status) == (
        "warm",
        "completed",
        "completed",
    )
    assert transfer.carrier_leg_sid.startswith("CA")
    assert [event["status"] for event in transfer.leg_events] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert transfer.answered_at is not None
    assert transfer.ended_at is not None
    assert transfer.requested_at <= transfer.answered_at <= transfer.ended_at
    assert transfer.talk_seconds is not None
    assert transfer.talk_seconds >= 1
    assert transfer.returned_at is None

    # The caller: hold audio (ours, fetched through the signed waitUrl), then the person.
    caller = sim_log(simulator, session.to_number)
    [wait] = [entry for entry in caller if entry["kind"] == "conference_wait_fetch"]
    assert wait["http_status"] == 200
    hold = [e for e in caller if e["kind"] == "played" and e.get("source") == "play"]
    assert hold
    assert hold[0]["url"].endswith("/telephony/twilio/hold-audio.wav")
    assert hold[0]["decoded"] is True
    [heard] = [entry for entry in caller if entry["kind"] == "conference_heard"]
    assert heard["from_call_sid"] == transfer.carrier_leg_sid
    assert hold[0]["t"] < heard["t"]

    # The person: their own call, briefed before they joined the caller.
    person = sim_log(simulator, number("18", "212"))
    [briefing] = [e for e in person if e["kind"] == "twiml" and e["verb"] == "Say"]
    assert briefing["text"] == (
        "Transfer from the calling agent: Ivy. They said yes to the offer. "
        "They said: Hello? We said: Hi Ivy, want our plan? They said: " + YES + " "
        "We said: Of course. Let me connect you with a colleague now, please hold. "
        "Connecting you now."
    )
    kinds = [entry["kind"] for entry in person]
    assert kinds.index("twiml") < kinds.index("conference_joined") < kinds.index("persona_said")
    callbacks = [entry for entry in person if entry["kind"] == "callback"]
    assert {entry["http_status"] for entry in callbacks} == {204}  # signed, and accepted


def test_a_warm_transfer_nobody_answers_brings_the_agent_back_to_offer_a_callback(
    settings, simulator, asgi_server, monkeypatch, acme
):
    live_settings(settings, simulator, asgi_server)
    monkeypatch.setattr(consumer, "build_voice", lambda setup: (FakeVoice(), None))
    recognizing(monkeypatch, ["Hello?", YES], [CALLBACK_TOMORROW_AT_3])
    # The campaign's number overrides the script's: 19 never answers. 22 accepts a callback.
    campaign = transfer_campaign(acme, "22", mode="warm", transfer_number=number("19", "212"))
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        call_personas(campaign, wait=60)

    session = CallSession.objects.get(campaign=campaign)
    [transfer] = Transfer.objects.filter(session=session)
    assert transfer.target_number == number("19", "212")
    assert (transfer.state, transfer.carrier_status) == ("no_answer", "no-answer")
    assert [event["status"] for event in transfer.leg_events] == [
        "initiated",
        "ringing",
        "no-answer",
    ]
    assert transfer.answered_at is None
    assert transfer.talk_seconds is None
    assert transfer.returned_at is not None
    assert transfer.resumed_at is not None
    assert (session.outcome, session.end_reason) == ("callback_requested", "callback_scheduled")
    assert session.extracted["callback_at"].startswith("2026-")  # tomorrow at 3 PM in New York
    assert "T15:00:00-0" in session.extracted["callback_at"]
    # The campaign acts on it: the contact is called back then.
    [target] = CampaignContact.objects.filter(campaign=campaign)
    assert target.last_outcome == "callback_requested"
    assert target.next_attempt_at is not None
    assert (
        target.next_attempt_at.isoformat()
        == datetime.fromisoformat(session.extracted["callback_at"]).astimezone(UTC).isoformat()
    )

    turns = list(session.turns.order_by("index"))
    assert [turn.index for turn in turns] == list(range(len(turns)))
    said = [(turn.speaker, turn.text) for turn in turns]
    transfer_line = "Of course. Let me connect you with a colleague now, please hold."
    back = said.index(("agent", NOBODY_AVAILABLE))
    assert said[back - 1] == ("agent", transfer_line)
    assert ("contact", CALLBACK_TOMORROW_AT_3) in said[back:]
    assert said[-1][0] == "agent"
    assert said[-1][1].startswith("Of course. We'll call you back tomorrow at 3")

    caller = sim_log(simulator, session.to_number)
    streams = [e for e in caller if e["kind"] == "twiml" and e["verb"] == "Connect/Stream"]
    assert len(streams) == 2
    assert streams[1]["parameters"]["transfer_return"] == str(transfer.pk)
    assert [e for e in caller if e["kind"] == "played" and e.get("source") == "play"]
    assert not [e for e in caller if e["kind"] == "twiml" and e["verb"] == "Say"]
