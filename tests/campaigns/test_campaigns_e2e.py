"""End to end on the Twilio simulator: a campaign over persona numbers runs to `completed`.

The dispatcher claims contacts and (after commit) the real placement task dials through the
real Twilio SDK at the simulator; the simulator posts signed status callbacks to our ASGI app
(uvicorn in a thread), whose webhooks end the sessions, and answered calls talk to the live
pipeline (local Whisper and Piper, the scripted agent) over their Media Streams. The
conversation's outcome and the carrier's end meet in `session_finished`, which the campaign's
outcome handler applies. Retries are reached by moving the (frozen, ticking) clock past the
retry delays, never by sleeping.

Costs (issue 19): the first run checks every call's cost; the second, two personas one at a
time under a budget of one cent, checks that the budget pauses the campaign: Val's voicemail
is billed a started minute, which spends the cent, and the next tick pauses it (reason
`budget`), so Nick is never called.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

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
from sessions.models import CallEvent, CallSession, SessionCost
from tests.anvil_voice.telephony.test_carrier_harness import (
    AsgiServer,
    SimulatorThread,
    number,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import live_settings, persona_campaign, warm_local_speech

pytestmark = pytest.mark.django_db(transaction=True)

CAMPAIGNS = "/api/v1/voice/campaigns"

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
    # Every call carries its cost (issue 19): answered calls a started minute each at the
    # default Twilio price, the rest nothing; the local stack's work is compute time, no money.
    answered = CallSession.objects.filter(campaign=campaign, answered_at__isnull=False)
    assert {session.cost for session in answered} == {Decimal("0.0140")}
    assert set(
        CallSession.objects.filter(campaign=campaign, answered_at__isnull=True).values_list(
            "cost", flat=True
        )
    ) == {Decimal("0")}
    ivy = SessionCost.objects.get(session__to_number=number("04", "212"))
    assert ivy.stt_provider == "local-whisper"
    assert ivy.stt_audio_seconds > 0.3  # Whisper heard her
    assert ivy.compute_cpu_seconds > 0  # the models' CPU was measured (Whisper's own threads aside)
    assert (ivy.stt_cost, ivy.tts_cost, ivy.compute_cost) == (0, 0, 0)
    assert CampaignStats.objects.get(campaign=campaign).cost_total == Decimal("0.0140") * len(
        answered
    )
    # The opt-out reached the organization's do-not-call list.
    assert DoNotCallEntry.objects.filter(
        organization=acme, phone_number=number("08", "212")
    ).exists()


def test_a_campaigns_calls_carry_their_cost_and_its_budget_pauses_it(
    settings, simulator, asgi_server, owner
):
    live_settings(settings, simulator, asgi_server)
    campaign = persona_campaign(
        owner.organization,
        {"03": "Val", "06": "Nick"},
        max_concurrent_calls=1,
        calls_per_second=10,
        budget_amount=Decimal("0.01"),
    )
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        val = CampaignContact.objects.filter(
            campaign=campaign, contact__phone_number=number("03", "212")
        )

        # One tick places Val's call (one at a time). Ticks are not run again until her call
        # is applied: the budget counts applied calls, and a tick between her call's end and
        # its outcome could still place the next call (the overshoot docs/decisions.md bounds).
        assert dispatch_due() == 1

        def val_done() -> bool:
            time.sleep(0.3)
            return val.filter(state="pending", attempts=1).exists()

        wait_for(val_done, 180.0, "Val's call to end and be applied")
        assert dispatch_due() == 0
        # Let the stream's close and the last callbacks land before the database is flushed.
        events = CallEvent.objects.filter(session__campaign=campaign)
        last, since = events.count(), time.monotonic()
        while time.monotonic() - since < 1.5:
            time.sleep(0.2)
            if events.count() != last:
                last, since = events.count(), time.monotonic()

    campaign.refresh_from_db()
    [call] = CallSession.objects.filter(campaign=campaign)
    cost = SessionCost.objects.get(session=call)
    assert call.to_number == number("03", "212")
    assert call.outcome == "voicemail"  # a machine answered: billed, like any answer
    # The simulator's Twilio duration, billed by the started minute at the default price.
    assert 0 < cost.carrier_seconds <= 60
    assert (cost.carrier, cost.carrier_billed_minutes) == ("twilio", 1)
    assert (call.cost, call.cost_currency) == (Decimal("0.0140"), "USD")
    assert CampaignStats.objects.get(campaign=campaign).cost_total == Decimal("0.0140")
    # One started minute spent the cent: paused, with the budget as the reason; Nick waits.
    assert campaign.status == CampaignStatus.PAUSED
    assert (
        CampaignContact.objects.get(
            campaign=campaign, contact__phone_number=number("06", "212")
        ).attempts
        == 0
    )
    dialling = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}").json()["data"]["dialling"]
    assert (dialling["state"], dialling["reason"]) == ("waiting", "budget")
    costs = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/costs").json()["data"]
    assert (costs["overall"]["perConnectedCall"], costs["overall"]["perSuccess"]) == (
        "0.0140",
        None,  # a voicemail is no success
    )
    assert costs["budget"]["state"] == "spent"
