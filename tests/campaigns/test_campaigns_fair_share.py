"""Fair shares of the carrier account between tenants (issue 15, item 3).

Every organization dials through one carrier account. One tenant with several campaigns used to
take most of its calls per second; now each tick splits the account's calls between the
organizations with due work (max-min fair), then between an organization's campaigns, within
each campaign's own CPS and each organization's operator-set cap. The clock is explicit: one
`dispatch_due(now=...)` a second, and every claimed session stays queued (concurrency is ample).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from anvil_voice.accounts.models import Organization
from campaigns import services
from campaigns.dialling import fair_share, pacing
from campaigns.dialling.dispatch import dispatch_due
from campaigns.dialling.fair_share import OrganizationDemand, plan_tick, turn_order, water_fill
from campaigns.dialling.gate import wait_for_dial_slot
from campaigns.factories import ContactFactory
from campaigns.models import CampaignContact, PacingBucket
from sessions.factories import CallSessionFactory
from sessions.models import CallSession, ScheduledCallback
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

SYSTEM = services.Actor.named("test")
SECONDS = 10


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def account_of_ten(settings) -> None:
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 10


def running(make_campaign, organization, *, cps=10, contacts=SECONDS * 5):
    campaign = make_campaign(
        organization, contacts=contacts, calls_per_second=cps, max_concurrent_calls=500
    )
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    return campaign


def tick_for(seconds: int) -> list[int]:
    return [dispatch_due(now=NOW + timedelta(seconds=second)) for second in range(seconds)]


def calls_of(organization: Organization) -> int:
    return CallSession.objects.filter(organization=organization).count()


# --- the split itself ----------------------------------------------------------------------


def test_water_filling_gives_what_one_does_not_need_to_the_others():
    assert water_fill(budget=10, demands={"a": 10, "b": 10}) == {"a": 5, "b": 5}
    assert water_fill(budget=10, demands={"a": 2, "b": 10, "c": 10}) == {"a": 2, "b": 4, "c": 4}
    assert water_fill(budget=10, demands={"a": 0, "b": 3}) == {"a": 0, "b": 3}
    # Spare calls go to the first in order, one each.
    assert water_fill(budget=10, demands={"c": 9, "a": 9, "b": 9}) == {"c": 4, "a": 3, "b": 3}
    assert water_fill(budget=0, demands={"a": 5}) == {"a": 0}


def test_an_organizations_share_goes_to_its_callbacks_first_then_its_campaigns():
    plan = plan_tick(
        budget=10,
        organizations={
            1: OrganizationDemand(callbacks=2, campaigns={11: 10, 12: 10}),
            2: OrganizationDemand(campaigns={21: 10}),
            3: OrganizationDemand(campaigns={31: 10}, cap=1),
        },
    )

    assert (plan.callbacks, plan.campaigns) == ({1: 2, 2: 0, 3: 0}, {11: 2, 12: 1, 21: 4, 31: 1})


def test_ties_rotate_and_whoever_waited_longest_goes_first():
    earlier, later = NOW, NOW + timedelta(seconds=1)

    assert turn_order({1: later, 2: earlier, 3: None}, turn=0) == [3, 2, 1]
    assert [turn_order({1: later, 2: later, 3: later}, turn=t) for t in range(3)] == [
        [1, 2, 3],
        [2, 3, 1],
        [3, 1, 2],
    ]


# --- the dialler ---------------------------------------------------------------------------


def test_a_tenant_with_many_campaigns_does_not_starve_another(
    acme, globex, make_campaign, account_of_ten, frozen
):
    for _ in range(3):
        running(make_campaign, acme)
    running(make_campaign, globex)

    per_tick = tick_for(SECONDS)

    # Each gets half of the account's 10 a second (before: Globex got a quarter of the ticks).
    assert per_tick == [10] * SECONDS
    assert calls_of(acme) == calls_of(globex) == SECONDS * 5


def test_a_tenant_that_needs_less_leaves_the_rest_to_the_other(
    acme, globex, make_campaign, account_of_ten, frozen
):
    running(make_campaign, acme, contacts=SECONDS * 8)
    running(make_campaign, globex, cps=2)

    assert tick_for(SECONDS) == [10] * SECONDS
    assert (calls_of(acme), calls_of(globex)) == (SECONDS * 8, SECONDS * 2)


def test_an_organizations_campaigns_share_its_part_evenly(
    acme, globex, make_campaign, account_of_ten, frozen
):
    first, second = running(make_campaign, acme), running(make_campaign, acme)
    running(make_campaign, globex)

    tick_for(SECONDS)

    # Acme's 5 a second: 2 and 3, the spare one going round, so 2.5 each over time.
    assert CallSession.objects.filter(campaign=first).count() == SECONDS * 5 // 2
    assert CallSession.objects.filter(campaign=second).count() == SECONDS * 5 // 2
    assert calls_of(globex) == SECONDS * 5


def test_an_operators_cap_holds_for_the_organization_and_frees_the_rest(
    acme, globex, make_campaign, account_of_ten, frozen
):
    Organization.objects.filter(pk=acme.pk).update(max_calls_per_second=Decimal("3"))
    running(make_campaign, acme)
    running(make_campaign, acme)
    running(make_campaign, globex, contacts=SECONDS * 7)

    tick_for(SECONDS)

    # Campaigns at 10 CPS are held to their organization's 3 (clamped at dial time).
    assert (calls_of(acme), calls_of(globex)) == (SECONDS * 3, SECONDS * 7)


def test_callbacks_count_against_their_organizations_share_and_cap(
    acme, globex, make_campaign, account_of_ten, frozen
):
    Organization.objects.filter(pk=acme.pk).update(max_calls_per_second=Decimal("2"))
    campaign = running(make_campaign, acme, contacts=5)
    running(make_campaign, globex)
    dispatch_due(now=NOW)  # materialises Acme's contacts (and dials two of them)
    waiting = CampaignContact.objects.filter(campaign=campaign, attempts=0).select_related(
        "contact"
    )
    for target in waiting:
        ScheduledCallback.objects.create(
            organization=acme,
            source_session=CallSessionFactory(organization=acme, campaign=campaign),
            campaign=campaign,
            contact=target.contact,
            target=target,
            at=NOW,
            requested_at=NOW,
        )

    per_second = [
        (calls_of(acme), calls_of(globex), dispatch_due(now=NOW + timedelta(seconds=second)))
        for second in (1, 2)
    ]
    callbacks_placed = ScheduledCallback.objects.filter(status="placed").count()

    # The test's own source sessions are Acme's too (3). At 1 s Acme's cap of 2 holds back its
    # third callback (Globex gets the other 8); at 2 s it is the only call Acme has left.
    assert per_second == [(2 + 3, 8, 10), (4 + 3, 16, 10)]
    assert (calls_of(acme), calls_of(globex)) == (5 + 3, 25)
    assert callbacks_placed == 3


def test_the_dial_slots_space_an_organizations_creates_to_its_cap(
    acme, make_campaign, settings, frozen
):
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 50
    Organization.objects.filter(pk=acme.pk).update(max_calls_per_second=Decimal("1"))
    campaigns = [running(make_campaign, acme, contacts=1) for _ in range(2)]
    sessions = [CallSessionFactory(organization=acme, campaign=c) for c in campaigns]
    slept: list[float] = []

    waits = [wait_for_dial_slot(session, sleep=slept.append) for session in sessions]

    # Two campaigns at 10 CPS each, but their organization may place one create a second.
    assert waits[0] == 0
    assert 0 < waits[1] <= 1.0
    assert PacingBucket.objects.filter(key=f"dial-slot:{pacing.organization_bucket(acme.pk)}")


def test_calls_a_share_leaves_unused_go_to_the_others_in_the_same_tick(
    acme, globex, make_campaign, account_of_ten, frozen
):
    too_early = make_campaign(acme, contacts=0, calls_per_second=10, max_concurrent_calls=500)
    for _ in range(10):  # 07:00 in Los Angeles: outside the window, rescheduled
        ContactFactory(contact_list=too_early.contact_list, time_zone="America/Los_Angeles")
    services.campaign_start(campaign=too_early, actor=SYSTEM, now=NOW)
    running(make_campaign, acme)
    running(make_campaign, globex)

    # The early campaign's part of Acme's share is not lost: the account's 10 are all used.
    assert dispatch_due(now=NOW) == 10
    assert CallSession.objects.filter(campaign=too_early).count() == 0


def test_a_tick_the_account_does_not_limit_plans_once(
    acme, globex, make_campaign, account_of_ten, frozen, monkeypatch
):
    running(make_campaign, acme, cps=2)
    running(make_campaign, globex, cps=3)
    plans: list[int] = []
    real_plan = fair_share.plan_tick

    def counted(**kwargs):
        plans.append(kwargs["budget"])
        return real_plan(**kwargs)

    monkeypatch.setattr(fair_share, "plan_tick", counted)

    assert dispatch_due(now=NOW) == 5
    assert plans == [10]  # nobody was held back by a share: no second pass
