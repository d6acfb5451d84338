"""End to end on the Twilio simulator: a best-time campaign learns nothing new, uses what the
list's past calls say, and moves its retries to the hour its callees answer.

The callees are hourly personas (`simulator.hourly`, "evening": they rarely answer at 10:00 and
mostly at 19:00 on their clock). The dispatcher claims, the real placement task dials through
the SDK at the simulator, whose signed status callbacks end the sessions in our ASGI app, and
the outcome handler plans the retries. The clock is frozen and ticking, moved to the retry time
rather than slept through; the speech pipeline is off (no conversation is under test here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from anvil_voice.telephony.simulator.hourly import HourlyPersonas
from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.factories import CallerIdFactory, CampaignFactory, ContactFactory, ContactListFactory
from campaigns.models import CampaignContact, CampaignContactState
from sessions.models import CallSession
from tests.anvil_voice.telephony.test_carrier_harness import (
    CALLER,
    AsgiServer,
    SimulatorThread,
    point_settings_at,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.campaigns.test_campaigns_best_time import calls

pytestmark = pytest.mark.django_db(transaction=True)

NY = ZoneInfo("America/New_York")
SEED = 7
NUMBERS = [f"+1212555{300 + n:04d}" for n in range(8)]
PERSONAS = HourlyPersonas(seed=SEED, clock=lambda: datetime.now(UTC))
for _number in NUMBERS:
    PERSONAS.assign(_number, profile="evening", time_zone="America/New_York")


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite], personas=PERSONAS) as sim:
        yield sim


def settle(campaign) -> None:
    def settled() -> bool:
        time.sleep(0.2)
        dispatch_due()
        return not CampaignContact.objects.filter(
            campaign=campaign, state=CampaignContactState.IN_PROGRESS
        ).exists()

    wait_for(settled, 60.0, "every call of the round to end")


def expected(first: datetime, second: datetime) -> tuple[set[str], set[str]]:
    """Who answers a first call at `first`, and who of the rest a second at `second`: the
    personas' own seeded draws, replayed."""
    fresh = HourlyPersonas(seed=SEED)
    morning, evening = set(), set()
    for number in NUMBERS:
        fresh.assign(number, profile="evening", time_zone="America/New_York")
        if fresh.answers(number, first):
            morning.add(number)
        elif fresh.answers(number, second):
            evening.add(number)
    return morning, evening


def test_retries_move_to_the_evening_the_list_answers_in(settings, simulator, asgi_server, acme):
    point_settings_at(settings, simulator, asgi_server.url)
    settings.CALL_PIPELINE = False
    # No AMD: a person's answer is `answered_at` (what the rates count without a verdict too),
    # and an answered call ends 0.3 s later (the time limit, scaled by the simulator).
    settings.TWILIO_MACHINE_DETECTION = False
    settings.TWILIO_TIME_LIMIT_SECONDS = 30
    contact_list = ContactListFactory(organization=acme)
    contacts = [ContactFactory(contact_list=contact_list, phone_number=n) for n in NUMBERS]
    # Last Tuesday: 19:00 answered, the working day did not (the list's learned rates).
    last_week = TUESDAY_MORNING_NY.astimezone(NY) - timedelta(days=7)
    calls(contacts[0], at=last_week.replace(hour=19), answered=15, attempts=20)
    for hour in range(8, 19):
        calls(contacts[1], at=last_week.replace(hour=hour), answered=0, attempts=8)
    campaign = CampaignFactory(
        organization=acme,
        contact_list=contact_list,
        caller_id=CallerIdFactory(organization=acme, phone_number=CALLER),
        dial_order="best_time",
        max_concurrent_calls=8,
        calls_per_second=10,
        max_attempts=2,
        retry_no_answer_minutes=60,
    )

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True) as clock:  # 10:00 in New York
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        settle(campaign)
        morning = {
            s.to_number
            for s in CallSession.objects.filter(campaign=campaign, answered_at__isnull=False)
        }
        waiting = list(
            CampaignContact.objects.filter(campaign=campaign, state=CampaignContactState.PENDING)
        )
        # Plain would retry at 11:00; best time waits for 19:00, inside the window.
        assert waiting
        assert {
            t.next_attempt_at.astimezone(NY).replace(second=0, microsecond=0) for t in waiting
        } == {TUESDAY_MORNING_NY.astimezone(NY).replace(hour=19, minute=0)}
        clock.move_to(TUESDAY_MORNING_NY + timedelta(hours=9, minutes=1))  # 19:01 New York
        settle(campaign)
        assert timezone.now().astimezone(NY).hour == 19

    retried = {t.contact.phone_number for t in waiting}
    second_calls = CallSession.objects.filter(campaign=campaign, attempt_number=2)
    evening = {s.to_number for s in second_calls.filter(answered_at__isnull=False)}
    assert {s.placed_at.astimezone(NY).hour for s in second_calls} == {19}
    seven_pm = TUESDAY_MORNING_NY + timedelta(hours=9)
    assert (morning, evening) == expected(TUESDAY_MORNING_NY, seven_pm)
    assert retried == set(NUMBERS) - morning
    # The evening connects more of the callees it retried than the morning did of them all.
    assert len(evening) / len(retried) > len(morning) / len(NUMBERS)
