"""End to end on the Twilio simulator: a campaign over persona numbers runs to `completed`.

The dispatcher claims contacts and (after commit) the real placement task dials through the
real Twilio SDK at the simulator; the simulator posts signed status callbacks to our ASGI app
(uvicorn in a thread), whose webhooks end the sessions, and answered calls talk to the live
pipeline (local Whisper and Piper, the scripted agent) over their Media Streams. The
conversation's outcome and the carrier's end meet in `session_finished`, which the campaign's
outcome handler applies. Retries are reached by moving the (frozen, ticking) clock past the
retry delays, never by sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import (
    CampaignContact,
    CampaignStats,
    CampaignStatus,
    DoNotCallEntry,
)
from campaigns.selectors import campaign_stats_payload
from sessions.models import CallSession
from tests.anvil_voice.telephony.test_carrier_harness import (
    AsgiServer,
    SimulatorThread,
    number,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import live_settings, persona_campaign, warm_local_speech

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 180.0
# persona digits → (first name, contact state at the end, outcomes of its calls)
PERSONAS = {
    "00": ("Nora", "exhausted", ["no_answer", "no_answer"]),
    "01": ("Bianca", "exhausted", ["busy", "busy"]),
    "02": ("Fred", "exhausted", ["failed", "failed"]),
    "03": ("Val", "exhausted", ["voicemail", "voicemail"]),
    "04": ("Ivy", "completed", ["interested"]),
    "06": ("Nick", "completed", ["not_interested"]),
    "08": ("Rita", "do_not_call", ["do_not_call"]),
}


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    warm_local_speech()
    # speak=None: the personas talk with Piper, so the agent has words to hear.
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite], speak=None) as simulator:
        yield simulator


def settle(campaign) -> int:
    """Dispatch (as beat does) until every due contact was called and its call applied."""
    due = CampaignContact.objects.filter(campaign=campaign, state__in=["pending", "in_progress"])
    placed = 0

    def settled() -> bool:
        nonlocal placed
        time.sleep(0.3)
        placed += dispatch_due()
        return not CampaignContact.objects.filter(campaign=campaign, state="in_progress").exists()

    wait_for(settled, WAIT, "every call of the round to end")
    while due.filter(next_attempt_at__lte=timezone.now()).exists():
        placed += dispatch_due()
        wait_for(settled, WAIT, "every call of the round to end")
    return placed


def test_a_campaign_over_the_personas_runs_to_completed(settings, simulator, asgi_server, acme):
    live_settings(settings, simulator, asgi_server)
    campaign = persona_campaign(
        acme,
        {digits: name for digits, (name, _state, _outcomes) in PERSONAS.items()},
        # Four at a time keeps local speech near real time on two cores.
        max_concurrent_calls=4,
        calls_per_second=10,
        max_attempts=2,
        retry_no_answer_minutes=1,
        retry_busy_minutes=1,
        retry_voicemail_minutes=1,
    )

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True) as clock:
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        first_round = settle(campaign)
        clock.shift(timedelta(minutes=2))
        second_round = settle(campaign)
        clock.shift(timedelta(minutes=2))
        dispatch_due()

    campaign.refresh_from_db()
    assert (first_round, second_round) == (7, 4)
    assert campaign.status == CampaignStatus.COMPLETED
    outcomes = {
        digits: list(
            CallSession.objects.filter(to_number=number(digits, "212"))
            .order_by("attempt_number")
            .values_list("outcome", flat=True)
        )
        for digits in PERSONAS
    }
    states = {
        digits: CampaignContact.objects.get(
            campaign=campaign, contact__phone_number=number(digits, "212")
        ).state
        for digits in PERSONAS
    }
    assert outcomes == {digits: expected[2] for digits, expected in PERSONAS.items()}
    assert states == {digits: expected[1] for digits, expected in PERSONAS.items()}
    stats = campaign_stats_payload(CampaignStats.objects.get(campaign=campaign))
    assert stats["contacts"] == {
        "total": 7,
        "pending": 0,
        "inProgress": 0,
        "completed": 2,
        "failed": 0,
        "doNotCall": 1,
        "exhausted": 4,
        "waitingForCapacity": 0,
    }
    assert stats["calls"]["placed"] == stats["calls"]["finished"] == 11
    assert (stats["calls"]["busy"], stats["calls"]["noAnswer"], stats["calls"]["failed"]) == (
        2,
        2,
        2,
    )
    assert {name: count for name, count in stats["outcomes"].items() if count} == {
        "interested": 1,
        "notInterested": 1,
        "doNotCall": 1,
        "noAnswer": 2,
        "busy": 2,
        "failed": 2,
        "voicemail": 2,
    }
    assert stats["progressPercent"] == 100.0
    rebuilt = services.campaign_stats_rebuild(campaign=campaign, save=False)
    assert (rebuilt.calls_finished, rebuilt.completed, rebuilt.exhausted) == (11, 2, 4)
    # The opt-out reached the organization's do-not-call list.
    assert DoNotCallEntry.objects.filter(
        organization=acme, phone_number=number("08", "212")
    ).exists()
