"""Shared by the live-call end-to-end tests: the script, the settings, a monitor client.

Imported as `tests.sessions.live_call_support` (test folders are not packages; see
tests/anvil_voice/telephony/test_carrier_harness.py).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from websockets.sync.client import connect

from anvil_voice.speech.local import get_local_stt, get_local_tts
from tests.anvil_voice.telephony.test_carrier_harness import (
    AsgiServer,
    SimulatorThread,
    point_settings_at,
)

# One sentence per line: on two busy cores Piper may take longer to make a second sentence than
# the first takes to play, and a persona hearing 600 ms of silence takes its turn.
SCRIPT = {
    "name": "Solar plan",
    "opening_line": "Hi {{first_name}}, it's Sam from Anvil Solar, want to hear about our plan?",
    "closing_line": "Great, we will be in touch, goodbye!",
    "system_prompt": "You sell solar plans politely.",
}
OBJECTIONS = [
    {
        "trigger": "We already have a provider",
        "response": "Many people switch from their old provider and save, shall I tell you more?",
    },
    {
        "trigger": "How much does it cost",
        "response": "It costs nothing to start, would you like to sign up?",
    },
]


def words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c in " '").split())


def warm_local_speech() -> None:
    """Load Piper and Whisper once, before any call, so first turns run at conversation speed."""
    get_local_tts().synthesize_ulaw8k("Hello.")
    get_local_stt().transcribe(audio=b"\xff" * 1600, encoding="ulaw", sample_rate=8000)


class MonitorClient:
    """A staff member's live-monitor websocket, read in a thread (the server runs in another)."""

    def __init__(self, url: str, cookie: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._url = url
        self._headers = {"Origin": "http://127.0.0.1", "Cookie": cookie}
        self._socket: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the monitor websocket did not open"

    def _read(self) -> None:
        with connect(self._url, additional_headers=self._headers, open_timeout=10) as socket:
            self._socket = socket
            self._ready.set()
            try:
                for message in socket:
                    self.events.append(json.loads(message))
            except Exception:
                return

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._thread.join(5)


def live_settings(settings: Any, simulator: SimulatorThread, server: AsgiServer) -> None:
    point_settings_at(settings, simulator, server.url)
    settings.CALL_PIPELINE = True
    # Scaled by the simulator's time_scale to 90 s: the agent ends every call well before.
    settings.TWILIO_TIME_LIMIT_SECONDS = 9000
    # Correctness, not speed, is under test here, on a shared two-core box where Piper and
    # Whisper serve several calls in this one process: the production timeouts are too tight.
    settings.CALL_TTS_TIMEOUT_SECONDS = 20
    settings.CALL_STT_TIMEOUT_SECONDS = 30
    # The last words after a hang-up queue behind the other calls' Whisper work here (over 4 s
    # was seen with three calls at once); uvicorn has no close timeout to stay under.
    settings.CALL_HANGUP_GRACE_SECONDS = 30


def persona_campaign(organization: Any, people: dict[str, str], **fields: Any) -> Any:
    """A draft campaign calling simulator personas (digits → first name) in New York, with
    the solar SCRIPT and its OBJECTIONS (or `script=`), from the harness's caller ID."""
    from campaigns.factories import CallerIdFactory, CampaignFactory, ContactListFactory
    from campaigns.models import Contact
    from scripts.factories import ScriptFactory
    from tests.anvil_voice.telephony.test_carrier_harness import CALLER, number

    contact_list = ContactListFactory(organization=organization, name="Personas")
    for digits, first_name in people.items():
        Contact.objects.create(
            organization=organization,
            contact_list=contact_list,
            phone_number=number(digits, "212"),
            first_name=first_name,
            time_zone="America/New_York",
            region="NY",
        )
    fields.setdefault(
        "script", ScriptFactory(organization=organization, objection_responses=OBJECTIONS, **SCRIPT)
    )
    return CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        caller_id=CallerIdFactory(organization=organization, phone_number=CALLER),
        **fields,
    )


def call_personas(campaign: Any, *, wait: float = 180.0) -> None:
    """Start `campaign`, run the dispatcher until every contact was called and the call applied,
    then until its sessions have gone quiet (no new event for 1.5 s, at most 30 s more), so the
    stream's close and the last callbacks land before the test database is flushed (a flush
    racing a row lock in the server thread deadlocks on PostgreSQL). Call it inside
    `time_machine.travel(<a time the campaign may call>, tick=True)`."""
    import time

    from campaigns import services
    from campaigns.dialling.dispatch import dispatch_due
    from campaigns.models import CampaignContact
    from sessions.models import CallEvent
    from tests.anvil_voice.telephony.test_carrier_harness import wait_for

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

    wait_for(all_called, wait, "every live call to end and be applied")
    events = CallEvent.objects.filter(session__campaign=campaign)
    last, since = events.count(), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < 1.5 and time.monotonic() < deadline:
        time.sleep(0.2)
        now = events.count()
        if now != last:
            last, since = now, time.monotonic()
