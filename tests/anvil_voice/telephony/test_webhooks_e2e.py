"""End to end: the real SDK places calls on the simulator, which calls our ASGI app back.

The simulator posts signed status/AMD/recording callbacks to our webhooks and opens the signed
Media Stream websocket on our consumer, all over real sockets (uvicorn in a thread).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.utils import timezone
from test_carrier_harness import (
    AUTH_TOKEN,
    AsgiServer,
    SimulatorThread,
    make_campaign,
    make_session,
    number,
    point_settings_at,
    wait_for,
)
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from anvil_voice.telephony.twilio import TwilioCarrier
from sessions.carrier import status
from sessions.carrier.calls import outbound_call
from sessions.models import CallEvent, CallSession
from sessions.signals import session_finished
from sessions.tasks import session_place_call_task

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 15.0


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite]) as simulator:
        yield simulator


@pytest.fixture
def live_settings(settings, simulator: SimulatorThread, asgi_server: AsgiServer):
    return point_settings_at(settings, simulator, asgi_server.url)


@pytest.fixture
def finished() -> Iterator[list[int]]:
    sent: list[int] = []
    lock = threading.Lock()

    def receiver(sender: Any, session: CallSession, **kwargs: Any) -> None:
        with lock:
            sent.append(session.pk)

    session_finished.connect(receiver, dispatch_uid="test-e2e-finished")
    yield sent
    session_finished.disconnect(dispatch_uid="test-e2e-finished")


def place(session: CallSession) -> str:
    session_place_call_task.delay(session.pk)
    sid = CallSession.objects.values_list("carrier_call_sid", flat=True).get(pk=session.pk)
    assert sid
    return sid


def event_kinds(session: CallSession) -> list[str]:
    return list(CallEvent.objects.filter(session=session).values_list("kind", flat=True))


def wait_until_finished(session: CallSession) -> CallSession:
    wait_for(
        lambda: CallSession.objects.get(pk=session.pk).is_finished,
        WAIT,
        f"session {session.pk} to finish",
    )
    session.refresh_from_db()
    return session


# digits -> (status, answered_by, outcome, streamed)
PERSONAS = {
    "00": ("no_answer", "", "no_answer", False),
    "01": ("busy", "", "busy", False),
    "02": ("failed", "", "failed", False),
    "03": ("completed", "machine", "voicemail", True),
    "04": ("completed", "human", "completed", True),
    "05": ("completed", "human", "completed", True),
    "06": ("completed", "human", "completed", True),
    "07": ("completed", "human", "completed", True),
    "08": ("completed", "human", "completed", True),
    "09": ("completed", "human", "completed", True),
    "10": ("completed", "", "completed", True),  # silent: AMD says "unknown"
    "11": ("completed", "human", "completed", True),
}


def test_each_persona_ends_its_session_right(simulator, live_settings, acme, finished):
    # Persona audio runs in real time: give AMD time to hear "Hello?" before the time limit.
    live_settings.TWILIO_TIME_LIMIT_SECONDS = 250
    sessions = {digits: make_session(acme, number(digits, "301")) for digits in PERSONAS}
    sids = {digits: place(session) for digits, session in sessions.items()}
    calls = {digits: simulator.wait_for_end(sid, WAIT) for digits, sid in sids.items()}

    results = {}
    for digits, session in sessions.items():
        session = wait_until_finished(session)
        streamed = "stream_started" in event_kinds(session)
        if PERSONAS[digits][3]:
            wait_for(lambda s=session: "stream_stopped" in event_kinds(s), WAIT, "stream stop")
        results[digits] = (session.status, session.answered_by, session.outcome, streamed)
    assert results == PERSONAS
    # Every callback the simulator signed was accepted by our signature check.
    answers = [
        entry["http_status"]
        for call in calls.values()
        for entry in call.log.entries
        if entry["kind"] in {"callback", "amd_callback"}
    ]
    assert answers
    assert set(answers) == {200}
    assert sorted(finished) == sorted(session.pk for session in sessions.values())

    interested = CallSession.objects.get(pk=sessions["04"].pk)
    assert interested.stream_sid.startswith("MZ")
    assert interested.ringing_at is not None
    assert interested.answered_at is not None
    assert interested.duration_seconds is not None
    stopped = CallEvent.objects.get(session=interested, kind="stream_stopped")
    assert stopped.data["media_frames"] > 0
    assert stopped.data["malformed_frames"] == 0


def test_a_forged_callback_is_refused_over_http(asgi_server, live_settings, acme):
    session = make_session(
        acme, number("04", "302"), status="ringing", carrier_call_sid="CA" + "1" * 32
    )
    url = asgi_server.url + "/telephony/twilio/status/"
    params = {"CallSid": session.carrier_call_sid, "CallStatus": "completed", "SequenceNumber": "9"}

    forged = httpx.post(
        url,
        data=params,
        headers={"X-Twilio-Signature": RequestValidator("guess").compute_signature(url, params)},
    )
    missing = httpx.post(url, data=params)
    signed = httpx.post(
        url,
        data=params,
        headers={"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)},
    )

    assert (forged.status_code, missing.status_code) == (403, 403)
    assert signed.status_code == 200
    session.refresh_from_db()
    assert session.status == "completed"
    assert event_kinds(session) == ["carrier_status", "finished"]


def stream_url(asgi_server: AsgiServer, token: str) -> tuple[str, str]:
    """(where to connect, the wss:// URL Twilio would sign)."""
    path = f"/ws/twilio/media/{token}/"
    return f"ws://127.0.0.1:{asgi_server.port}{path}", f"wss://127.0.0.1:{asgi_server.port}{path}"


def open_stream(asgi_server: AsgiServer, token: str, signing_token: str | None = AUTH_TOKEN):
    local, public = stream_url(asgi_server, token)
    headers = {}
    if signing_token is not None:
        headers["X-Twilio-Signature"] = RequestValidator(signing_token).compute_signature(
            public, {}
        )
    return connect(local, additional_headers=headers, open_timeout=5)


@pytest.mark.parametrize("case", ["unsigned", "forged", "unknown", "expired", "finished"])
def test_the_media_stream_refuses_bad_handshakes_over_http(asgi_server, live_settings, acme, case):
    session = make_session(acme, number("04", "303"), status="in_progress")
    token = session.token
    signing: str | None = AUTH_TOKEN
    if case == "unsigned":
        signing = None
    elif case == "forged":
        signing = "guess"
    elif case == "unknown":
        token = "x" * 43
    elif case == "expired":
        CallSession.objects.filter(pk=session.pk).update(token_expires_at=timezone.now())
    elif case == "finished":
        CallSession.objects.filter(pk=session.pk).update(status="completed")

    with pytest.raises(InvalidStatus) as refused:
        open_stream(asgi_server, token, signing)

    assert refused.value.response.status_code == 403
    session.refresh_from_db()
    assert session.stream_sid == ""
    assert event_kinds(session) == []


def test_the_media_stream_accepts_a_signed_handshake_and_records_start_and_stop(
    asgi_server, live_settings, acme
):
    session = make_session(acme, number("04", "304"), status="in_progress")
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ" + "5" * 32,
        "start": {
            "accountSid": "AC" + "7" * 32,
            "streamSid": "MZ" + "5" * 32,
            "callSid": "CA" + "5" * 32,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"session": session.token},
        },
    }
    with open_stream(asgi_server, session.token) as websocket:
        websocket.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        websocket.send(json.dumps(start))
        websocket.send("not json")
        websocket.send(json.dumps({"event": "stop", "streamSid": "MZ" + "5" * 32}))
        wait_for(lambda: "stream_stopped" in event_kinds(session), WAIT, "stream stop")

    session.refresh_from_db()
    assert session.stream_sid == "MZ" + "5" * 32
    # The stream named the call before anyone stored its id: it is bound now.
    assert session.carrier_call_sid == "CA" + "5" * 32
    stopped = CallEvent.objects.get(session=session, kind="stream_stopped")
    assert stopped.data["malformed_frames"] == 1


def test_hanging_up_an_answered_call(simulator, live_settings, acme, finished):
    live_settings.TWILIO_TIME_LIMIT_SECONDS = 6000
    session = make_session(acme, number("10", "305"))
    sid = place(session)
    wait_for(lambda: "stream_started" in event_kinds(session), WAIT, "the stream to start")

    assert status.session_hang_up(session_id=session.pk)

    assert simulator.wait_for_end(sid, WAIT).status == "completed"
    session = wait_until_finished(session)
    assert (session.status, session.outcome) == ("completed", "completed")
    assert finished == [session.pk]


def test_cancelling_a_ringing_call(simulator, live_settings, acme):
    live_settings.TWILIO_CALL_TIMEOUT_SECONDS = 600
    session = make_session(acme, number("00", "306"))
    sid = place(session)
    wait_for(lambda: CallSession.objects.get(pk=session.pk).status == "ringing", WAIT, "ringing")

    TwilioCarrier().cancel(outbound_call(CallSession.objects.get(pk=session.pk)))

    assert simulator.wait_for_end(sid, WAIT).status == "canceled"
    session = wait_until_finished(session)
    assert (session.status, session.outcome, session.answered_at) == (
        "canceled",
        "no_conversation",
        None,
    )


def test_a_machine_is_hung_up_on_and_the_call_is_recorded(simulator, live_settings, acme):
    live_settings.TWILIO_TIME_LIMIT_SECONDS = 6000
    campaign = make_campaign(acme, voicemail_behaviour="hang_up", record_calls=True)
    session = make_session(acme, number("03", "307"), campaign=campaign)

    sid = place(session)

    # Nothing but our hang-up ends this call before its (scaled) 60 s time limit.
    call = simulator.wait_for_end(sid, WAIT)
    assert call.status == "completed"
    assert call.log.of_kind("time_limit") == []
    session = wait_until_finished(session)
    assert (session.answered_by, session.outcome) == ("machine", "voicemail")
    wait_for(lambda: CallSession.objects.get(pk=session.pk).recording, WAIT, "the recording")
    session.refresh_from_db()
    with session.recording.open("rb") as stored:
        assert stored.read(4) == b"RIFF"
    assert session.recording_sid == call.recording_sid
    assert event_kinds(session).count("hang_up_requested") == 1


def test_a_create_that_times_out_while_the_call_streams_is_one_call(simulator, live_settings, acme):
    live_settings.TWILIO_HTTP_TIMEOUT_SECONDS = 0.5
    simulator.sim.faults.stall_next_creates(1, seconds=2.0)
    to = number("04", "308")
    session = make_session(acme, to)

    session_place_call_task.delay(session.pk)

    [call] = simulator.calls_to(to)
    session.refresh_from_db()
    assert session.carrier_call_sid == call.sid
    assert len(simulator.creates_to(to)) == 1
    simulator.wait_for_end(call.sid, WAIT)
    session = wait_until_finished(session)
    assert session.status == "completed"
