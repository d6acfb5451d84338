"""Live calls end to end: the simulator's talking personas against our whole stack.

The real dispatcher claims the contacts, the real placement dials through the `twilio` SDK at
the simulator, which rings the personas; each persona speaks with the local Piper voice into a
Media Stream served by our ASGI app (uvicorn in a thread), where `LiveCallConsumer` runs the
pipeline with local Whisper and Piper and the scripted agent. Status, AMD and recording
callbacks come back signed. A staff member's browser-side subscription (the live monitor's
websocket, authenticated by a Django session cookie) receives the transcript as it happens.
"""

from __future__ import annotations

import json
import time
import wave
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dt_time
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import CampaignContact, DoNotCallEntry
from scripts.factories import ScriptFactory
from sessions.models import CallEvent, CallSession, ScheduledCallback
from tests.anvil_voice.telephony.test_carrier_harness import (
    AsgiServer,
    SimulatorThread,
    number,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import (
    OBJECTIONS,
    SCRIPT,
    MonitorClient,
    live_settings,
    persona_campaign,
    warm_local_speech,
    words,
)

pytestmark = pytest.mark.django_db(transaction=True)

# digits → (first name, outcome, words the persona says that the transcript must hold)
TALKERS = {
    "04": ("Ivy", "interested", ["sign me up"]),
    "05": ("Olga", "interested", ["provider", "makes sense"]),
    "06": ("Nick", "not_interested", ["not interested"]),
    "07": ("Cal", "callback_requested", ["call me back", "tomorrow"]),
    "08": ("Rita", "do_not_call", ["take me off", "stop calling"]),
    # Only asked who was calling, then hung up: nobody said no (issue 13), no conversation.
    "09": ("Hugo", "no_conversation", ["sorry", "this"]),
    "11": ("Bart", "interested", ["speaking"]),
    # Says it and hangs up with the last word: heard, acted on, nothing said back.
    "12": ("Opal", "do_not_call", ["take me off"]),
}
CALL_WAIT = 180.0
CONCURRENT_CALLS = 3


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    warm_local_speech()
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite], speak=None) as simulator:
        yield simulator


def test_every_talking_persona_gets_a_transcript_an_outcome_and_a_recording(
    settings, simulator, asgi_server, acme, owner
):
    live_settings(settings, simulator, asgi_server)
    user = owner.membership.user
    user.is_staff = True
    user.save()
    browser = Client()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    monitor = MonitorClient(f"ws://127.0.0.1:{asgi_server.port}/ws/monitor/", cookie)

    campaign = persona_campaign(
        acme,
        {digits: name for digits, (name, _outcome, _said) in TALKERS.items()},
        # Three at a time keeps local speech near real time on two cores.
        max_concurrent_calls=CONCURRENT_CALLS,
        calls_per_second=10,
        max_attempts=1,
        record_calls=True,
    )

    try:
        with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
            services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
            targets = CampaignContact.objects.filter(campaign=campaign)

            def all_called() -> bool:
                # The dispatcher runs every second in production (beat); here, on each poll.
                time.sleep(0.3)
                dispatch_due()
                return (
                    not targets.filter(attempts=0).exists()
                    and not targets.filter(state="in_progress").exists()
                )

            wait_for(all_called, CALL_WAIT, "every live call to end and be applied")
            wait_for(
                lambda: (
                    CallSession.objects.filter(campaign=campaign).exclude(recording="").count()
                    == len(TALKERS)
                ),
                30,
                "every recording to be stored",
            )
            wait_until_quiet(campaign)
    finally:
        monitor.close()

    sessions = {
        s.to_number[-2:]: s
        for s in CallSession.objects.filter(campaign=campaign).prefetch_related("turns")
    }
    report = {
        digits: (
            session.outcome,
            [(turn.speaker, turn.text) for turn in session.turns.all()],
        )
        for digits, session in sessions.items()
    }
    # Outcomes first, in one assertion, so a failure shows every call's transcript.
    assert {d: s.outcome for d, s in sessions.items()} == {
        d: expected[1] for d, expected in TALKERS.items()
    }, json.dumps(report, indent=1)

    heard = {
        digits: words(" ".join(t.text for t in s.turns.all() if t.speaker == "contact"))
        for digits, s in sessions.items()
    }
    missed = {
        digits: [phrase for phrase in said if phrase not in heard[digits]]
        for digits, (_name, _outcome, said) in TALKERS.items()
    }
    assert not any(missed.values()), (missed, heard)

    for digits, (first_name, _outcome, _said) in TALKERS.items():
        session = sessions[digits]
        turns = list(session.turns.all())
        opening = turns[0] if turns[0].speaker == "agent" else turns[1]
        expected_opening = SCRIPT["opening_line"].replace("{{first_name}}", first_name)
        if opening.interrupted:
            # On two cores shared with PostgreSQL, a server stall longer than the audio queued
            # at the carrier leaves a gap that the persona takes for the end of the agent's turn,
            # so it talks over the rest (seen once in CI with 0.2 s queued; now 0.8-1 s). The
            # transcript then holds what was heard: a prefix.
            assert opening.text, digits
            assert expected_opening.startswith(opening.text), (digits, opening.text)
        else:
            assert opening.text == expected_opening
        # Turns are listed by when they began on the stream's clock (they are numbered as they
        # end), and every agent reply carries its timings.
        assert [t.start_ms for t in turns] == sorted(t.start_ms for t in turns)
        assert sorted(t.index for t in turns) == list(range(len(turns)))
        assert all(t.end_ms >= t.start_ms for t in turns)
        replies = [t for t in turns if t.speaker == "agent" and t.latency.get("since")]
        assert replies, digits
        for reply in replies:
            if reply.latency["since"] == "speech_end":
                assert reply.latency["first_frame_ms"] >= reply.latency["stt_final_ms"] > 0
        # A playable recording: a WAV of the call's audio, stored through the storage API.
        with session.recording.open("rb") as handle, wave.open(BytesIO(handle.read())) as wav:
            assert wav.getframerate() == 8000
            assert wav.getnframes() / 8000 > 2.0
        assert session.summary
        assert CallEvent.objects.filter(session=session, kind="conversation_ended").count() == 1

    objection = sessions["05"].extracted["objections"]
    assert [item["trigger"] for item in objection] == ["We already have a provider"]

    callback = sessions["07"]
    at = datetime.fromisoformat(callback.extracted["callback_at"])
    new_york = ZoneInfo("America/New_York")
    tomorrow = TUESDAY_MORNING_NY.astimezone(new_york).date() + timedelta(days=1)
    # "Tomorrow at 3" in the contact's zone.
    assert at.astimezone(new_york).replace(tzinfo=None) == datetime.combine(tomorrow, dt_time(15))
    target = CampaignContact.objects.get(
        campaign=campaign, contact__phone_number=number("07", "212")
    )
    assert (target.state, target.next_attempt_at) == ("pending", at)
    # The callee's request is a scheduled callback like a person's, the contact's next call.
    asked = ScheduledCallback.objects.get(source_session=callback)
    assert (asked.status, asked.requested_by, asked.at, asked.target_id) == (
        "pending",
        "callee",
        at,
        target.pk,
    )

    assert DoNotCallEntry.objects.filter(
        organization=acme, phone_number=number("08", "212")
    ).exists()
    # The persona hung up on us. Twilio sends `stop` first; on a loaded box the socket can
    # close before it arrives, which the session tells apart (and counts the same).
    assert sessions["09"].end_reason in {"contact_hung_up", "stream_disconnected"}

    # "Take me off your list." and the line went dead mid-utterance: the words were still
    # recognised and given to the agent, whose opt-out reached the do-not-call list.
    gone = sessions["12"]
    assert gone.end_reason in {"contact_hung_up", "stream_disconnected"}
    assert gone.extracted["opt_out_via"] == "speech"
    last = list(gone.turns.all())[-1]
    assert (last.speaker, last.recognized) == ("contact", True)
    assert "take me off" in words(last.text)
    assert DoNotCallEntry.objects.filter(
        organization=acme, phone_number=number("12", "212")
    ).exists()
    assert (
        CampaignContact.objects.get(
            campaign=campaign, contact__phone_number=number("12", "212")
        ).state
        == "do_not_call"
    )
    assert CallEvent.objects.filter(session=gone, kind="pipeline.heard_after_end").exists()
    [sim_gone] = simulator.calls_to(number("12", "212"))
    assert [e["action"] for e in sim_gone.log.of_kind("persona")] == ["hung_up"]

    # Barge-in: the persona talked over the agent; we sent `clear` and kept only what played.
    barged = sessions["11"]
    [sim_call] = simulator.calls_to(number("11", "212"))
    assert [e["action"] for e in sim_call.log.of_kind("persona")].count("barged_in") == 1
    assert sim_call.log.of_kind("clear"), "the agent never sent clear"
    # (At least one agent turn: a stall, as above, can make the persona talk over another.)
    interrupted = [t for t in barged.turns.all() if t.interrupted]
    assert interrupted
    assert {t.speaker for t in interrupted} == {"agent"}
    assert CallEvent.objects.filter(session=barged, kind="pipeline.barge_in").exists()

    # The live monitor saw each call's transcript as it happened, and nothing else.
    turns_seen = [e for e in monitor.events if e.get("type") == "turn"]
    ids = {s.pk for s in sessions.values()}
    assert {e["sessionId"] for e in turns_seen} == ids
    for session in sessions.values():
        live_lines = [e["text"] for e in turns_seen if e["sessionId"] == session.pk]
        assert live_lines == [t.text for t in session.turns.order_by("index")]


def test_a_machine_gets_the_scripts_voicemail_message_after_the_beep(
    settings, simulator, asgi_server, acme
):
    live_settings(settings, simulator, asgi_server)
    message = "Hi {{first_name}}, it's Sam from Anvil Solar, please call us back."
    campaign = persona_campaign(
        acme,
        {"03": "Val"},
        script=ScriptFactory(
            organization=acme, objection_responses=OBJECTIONS, voicemail_message=message, **SCRIPT
        ),
        max_attempts=1,
        voicemail_behaviour="leave_message",
    )

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        assert dispatch_due() == 1
        wait_for(
            lambda: (
                CallEvent.objects.filter(
                    session__campaign=campaign, kind="conversation_ended"
                ).exists()
                and CallSession.objects.filter(campaign=campaign, status="completed").exists()
            ),
            CALL_WAIT,
            "the voicemail call to end",
        )
        # Let the stream's close and the last callbacks land before the test database is
        # flushed (a flush racing a row lock in the server thread deadlocks on PostgreSQL).
        wait_for(
            lambda: CallEvent.objects.filter(
                session__campaign=campaign, kind__in=["stream_stopped", "stream_disconnected"]
            ).exists(),
            CALL_WAIT,
            "the stream to close",
        )
        wait_until_quiet(campaign)

    session = CallSession.objects.get(campaign=campaign)
    assert (session.answered_by, session.outcome) == ("machine", "voicemail")
    assert session.end_reason == "voicemail_left"
    spoken = message.replace("{{first_name}}", "Val")
    assert session.turns.filter(speaker="agent", text=spoken, interrupted=False).exists()
    [sim_call] = simulator.calls_to(number("03", "212"))
    [left] = [e for e in sim_call.log.of_kind("persona") if e["action"] == "voicemail"]
    # What the agent played after the beep is the message: most of its ~4 s were heard.
    assert left["message_ms"] >= 2000


def wait_until_quiet(campaign, quiet_seconds: float = 1.5) -> None:
    """Until the campaign's sessions have had no new event for `quiet_seconds` (bounded)."""
    events = CallEvent.objects.filter(session__campaign=campaign)
    last, since = events.count(), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < quiet_seconds and time.monotonic() < deadline:
        time.sleep(0.2)
        now = events.count()
        if now != last:
            last, since = now, time.monotonic()
