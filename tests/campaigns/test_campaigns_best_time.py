"""Best time to call: the answer-rate selector, the dialler's order and retries inside the
window, the API, and the simulator's hourly personas."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from anvil_voice.telephony.simulator.hourly import HourlyPersonas
from campaigns import best_time, services
from campaigns.calling_rules import rules_for
from campaigns.compliance import Callee, Schedule, next_allowed_moment
from campaigns.dialling.dispatch import claim_due_contacts
from campaigns.dialling.outcomes import decide
from campaigns.factories import CampaignFactory, ContactFactory, ContactListFactory
from campaigns.models import Campaign, CampaignContact, CampaignContactState, DialOrder
from sessions.models import AnsweredBy, CallSession, CallStatus, SessionKind

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
# Tuesday 3 March 2026, 20:00 UTC: 15:00 in New York, 12:00 in Los Angeles.
TUESDAY_AFTERNOON = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
A_WEEK_BEFORE = TUESDAY_AFTERNOON - timedelta(days=7)
RATES = "/api/v1/voice/contact-lists/{}/answer-rates"
SYSTEM = services.Actor.named("test")


def ny_contact(contact_list, **fields):
    return ContactFactory(contact_list=contact_list, **fields)


def la_contact(contact_list, n: int = 0):
    return ContactFactory(
        contact_list=contact_list,
        phone_number=f"+1310555{200 + n:04d}",
        time_zone="America/Los_Angeles",
        region="CA",
    )


def calls(contact, *, at: datetime, answered: int, attempts: int) -> None:
    """`attempts` past campaign calls to `contact` placed at `at`, `answered` by a person."""
    CallSession.objects.bulk_create(
        CallSession(
            organization_id=contact.organization_id,
            kind=SessionKind.CAMPAIGN,
            contact=contact,
            to_number=contact.phone_number,
            from_number="+15005550006",
            status=CallStatus.COMPLETED if index < answered else CallStatus.NO_ANSWER,
            answered_by=AnsweredBy.HUMAN if index < answered else AnsweredBy.UNKNOWN,
            answered_at=at if index < answered else None,
            queued_at=at,
            placed_at=at,
        )
        for index in range(attempts)
    )


# --- The rates ------------------------------------------------------------------------------


def test_without_history_every_hour_is_alike_so_the_order_is_plain():
    rates = best_time.AnswerRates.empty()

    assert {rate.rate for row in rates.grid() for rate in row} == {0.5}
    assert best_time.zone_scores(rates, ["America/New_York", "Asia/Tokyo"], now=A_WEEK_BEFORE) == {
        "America/New_York": 0.5,
        "Asia/Tokyo": 0.5,
    }


def test_a_sparse_hour_does_not_outrank_a_well_measured_one():
    # 19:00 answered 60 of 100; 03:00 answered its only call.
    rates = best_time.AnswerRates(
        cells={(1, 19): (100, 60), (1, 3): (1, 1), (1, 10): (100, 10)},
        organization_attempts=201,
        organization_answered=71,
    )

    assert rates.cell(1, 3).observed == 1.0
    assert rates.cell(1, 3).rate < rates.cell(1, 19).rate
    assert rates.cell(1, 10).rate < rates.overall.rate < rates.cell(1, 19).rate
    # An hour never called sits at the list's rate (through the hour and weekday priors).
    assert rates.hour(5).rate == pytest.approx(rates.overall.rate)


def test_the_selector_counts_the_lists_calls_by_the_callees_local_hour_and_weekday(acme, globex):
    contact_list = ContactListFactory(organization=acme)
    other_list = ContactListFactory(organization=acme)
    calls(ny_contact(contact_list), at=A_WEEK_BEFORE, answered=2, attempts=5)  # Tue 15:00 NY
    calls(la_contact(contact_list), at=A_WEEK_BEFORE, answered=4, attempts=4)  # Tue 12:00 LA
    calls(ny_contact(other_list), at=A_WEEK_BEFORE, answered=0, attempts=3)
    calls(
        ContactFactory(contact_list__organization=globex), at=A_WEEK_BEFORE, answered=9, attempts=9
    )
    # Older than the lookback: not counted.
    calls(ny_contact(contact_list), at=A_WEEK_BEFORE - timedelta(days=200), answered=1, attempts=1)

    rates = best_time.answer_rates(contact_list, now=TUESDAY_AFTERNOON)

    assert rates.cells == {(1, 15): (5, 2), (1, 12): (4, 4)}
    # The organization's prior: both of its lists, not the other organization's calls.
    assert (rates.organization_attempts, rates.organization_answered) == (12, 6)
    payload = best_time.answer_rates_payload(rates)
    assert payload["overall"]["attempts"] == 9
    assert payload["byHour"][15] == {
        "hour": 15,
        "attempts": 5,
        "answered": 2,
        "observedRate": 0.4,
        "rate": pytest.approx(payload["byHour"][15]["rate"]),
    }
    assert payload["byWeekday"][1]["attempts"] == 9
    assert len(payload["cells"]) == 7 * 24
    assert (
        payload["byHour"][12]["rate"] > payload["overall"]["rate"] > payload["byHour"][15]["rate"]
    )


# --- The dialler ----------------------------------------------------------------------------


def running(organization, contact_list, **fields) -> Campaign:
    campaign = CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        max_concurrent_calls=1,
        calls_per_second=10,
        **fields,
    )
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=TUESDAY_AFTERNOON)
    return campaign


@pytest.fixture
def learned_list(acme):
    """New York answers badly on Tuesday afternoons, Los Angeles well at Tuesday noon."""
    contact_list = ContactListFactory(organization=acme)
    calls(ny_contact(contact_list), at=A_WEEK_BEFORE, answered=0, attempts=12)
    calls(la_contact(contact_list), at=A_WEEK_BEFORE, answered=10, attempts=12)
    return contact_list


@pytest.mark.parametrize(("order", "called"), [("plain", "New York"), ("best_time", "LA")])
def test_the_claim_calls_the_zone_whose_hour_answers_first(
    acme, learned_list, placement_tasks, order, called
):
    campaign = running(acme, learned_list, dial_order=order)
    # The New York contacts have waited longer.
    CampaignContact.objects.filter(campaign=campaign, contact__time_zone="America/New_York").update(
        next_attempt_at=TUESDAY_AFTERNOON - timedelta(hours=1)
    )

    with time_machine.travel(TUESDAY_AFTERNOON, tick=False):
        result = claim_due_contacts(campaign_id=campaign.pk, now=TUESDAY_AFTERNOON)

    session = CallSession.objects.get(pk__in=result.session_ids)
    zone = "America/New_York" if called == "New York" else "America/Los_Angeles"
    assert session.contact.time_zone == zone


def test_the_best_zone_outside_its_window_is_rescheduled_not_called(acme, placement_tasks):
    # 01:30 UTC Wednesday: 20:30 Tuesday in New York, 17:30 in Los Angeles.
    now = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)
    contact_list = ContactListFactory(organization=acme)
    calls(ny_contact(contact_list), at=now - timedelta(days=7), answered=12, attempts=12)
    calls(la_contact(contact_list), at=now - timedelta(days=7), answered=0, attempts=12)
    # The campaign's window ends at 18:00: New York's best hour is past it.
    campaign = running(acme, contact_list, dial_order="best_time", window_end=time(18, 0))

    with time_machine.travel(now, tick=False):
        scores = best_time.zone_scores(
            best_time.cached_answer_rates(campaign),
            ["America/New_York", "America/Los_Angeles"],
            now=now,
        )
        result = claim_due_contacts(campaign_id=campaign.pk, now=now)

    assert scores["America/New_York"] > scores["America/Los_Angeles"]
    called = CallSession.objects.get(pk__in=result.session_ids)
    assert called.contact.time_zone == "America/Los_Angeles"
    assert result.rescheduled == 1  # the New York contact: to 08:00 Wednesday, its time
    for target in CampaignContact.objects.filter(
        campaign=campaign, contact__time_zone="America/New_York"
    ):
        assert target.state == CampaignContactState.PENDING
        assert target.next_attempt_at.astimezone(NY) == datetime(2026, 3, 4, 8, 0, tzinfo=NY)


def test_a_retry_moves_to_the_hour_that_answers_inside_the_window(acme):
    contact_list = ContactListFactory(organization=acme)
    contact = ny_contact(contact_list)
    # Tuesdays: 19:00 in New York answers, every other hour called does not; 22:00 "answers"
    # best of all, but is outside the legal window.
    evening = datetime(2026, 2, 24, 19, 0, tzinfo=NY)
    calls(contact, at=evening, answered=15, attempts=20)
    calls(contact, at=evening + timedelta(hours=3), answered=20, attempts=20)
    for hour in range(8, 19):
        calls(contact, at=datetime(2026, 2, 24, hour, 0, tzinfo=NY), answered=0, attempts=10)
    campaign = running(acme, contact_list, dial_order=DialOrder.BEST_TIME)
    target = CampaignContact.objects.get(campaign=campaign)
    target.attempts = 1
    session = CallSession(status=CallStatus.NO_ANSWER, placed_at=TUESDAY_AFTERNOON)

    with time_machine.travel(TUESDAY_AFTERNOON, tick=False):
        verdict = decide(session=session, target=target, campaign=campaign, now=TUESDAY_AFTERNOON)

    assert verdict.state == CampaignContactState.PENDING
    # Plain: 16:00 (an hour later). Best time: 19:00 the same evening, never 22:00.
    assert verdict.next_attempt_at.astimezone(NY) == datetime(2026, 3, 3, 19, 0, tzinfo=NY)
    campaign.dial_order = DialOrder.PLAIN
    plain = decide(session=session, target=target, campaign=campaign, now=TUESDAY_AFTERNOON)
    assert plain.next_attempt_at.astimezone(NY) == datetime(2026, 3, 3, 16, 0, tzinfo=NY)


def test_best_moment_never_leaves_the_window_whatever_the_rates_say():
    # Rates that love the night: 02:00-05:00 answer, the day does not.
    night = {(day, hour): (100, 95) for day in range(7) for hour in range(2, 6)}
    day = {(day, hour): (100, 5) for day in range(7) for hour in range(8, 21)}
    rates = best_time.AnswerRates(
        cells={**night, **day}, organization_attempts=4000, organization_answered=3000
    )
    callee = Callee(("America/New_York",), "US", "NY", rules_for(country="US", region="NY"))
    schedule = Schedule(frozenset(range(5)), time(9, 0), time(17, 0), end_at=None)
    start = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)  # Friday 15:00 New York
    for step in range(0, 96, 5):
        earliest = next_allowed_moment(
            callee=callee, schedule=schedule, at=start + timedelta(hours=step)
        )
        assert earliest is not None
        moment = best_time.best_moment(
            rates, callee=callee, schedule=schedule, zone=NY, earliest=earliest
        )
        assert next_allowed_moment(callee=callee, schedule=schedule, at=moment) == moment
        local = moment.astimezone(NY)
        assert local.weekday() < 5
        assert time(9, 0) <= local.time() < time(17, 0)
        assert earliest <= moment <= earliest + best_time.RETRY_HORIZON


# --- The simulator's hourly personas --------------------------------------------------------


def test_hourly_personas_answer_by_local_hour_and_are_deterministic():
    evening = datetime(2026, 3, 3, 19, 0, tzinfo=NY)
    morning = datetime(2026, 3, 3, 10, 0, tzinfo=NY)

    def answers(seed: int, at: datetime) -> list[bool]:
        personas = HourlyPersonas(seed=seed, clock=lambda: at)
        numbers = [f"+1212555{n:04d}" for n in range(300)]
        for number in numbers:
            personas.assign(number, profile="evening", time_zone="America/New_York")
        return [personas(number).key != "no-answer" for number in numbers]

    assert answers(1, evening) == answers(1, evening)
    assert answers(1, evening) != answers(2, evening)
    assert 0.55 < sum(answers(1, evening)) / 300 < 0.75
    assert sum(answers(1, morning)) / 300 < 0.15
    # Numbers without a profile keep their persona.
    assert HourlyPersonas(seed=1)("+15550104").key == "interested"


# --- The API --------------------------------------------------------------------------------


def test_the_api_answers_the_lists_rates_with_counts(owner, learned_list):
    with time_machine.travel(TUESDAY_AFTERNOON, tick=False):
        response = owner.client.get(RATES.format(learned_list.pk))
        narrow = owner.client.get(RATES.format(learned_list.pk), {"lookbackDays": 3})

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {
        "overall",
        "organization",
        "priorStrength",
        "lookbackDays",
        "byHour",
        "byWeekday",
        "cells",
    }
    assert data["overall"] == {
        "attempts": 24,
        "answered": 10,
        "observedRate": pytest.approx(10 / 24, abs=1e-4),
        "rate": pytest.approx(data["overall"]["rate"]),
    }
    assert [row["hour"] for row in data["byHour"]] == list(range(24))
    assert data["byHour"][12]["attempts"] == data["byHour"][15]["attempts"] == 12
    assert narrow.json()["data"]["overall"]["attempts"] == 0
    assert narrow.json()["data"]["lookbackDays"] == 3


@pytest.mark.parametrize(
    "params", [{"lookbackDays": "0"}, {"lookbackDays": "abc"}, {"lookbackDays": "9999"}, {"x": 1}]
)
def test_the_api_refuses_bad_query_parameters(owner, learned_list, params):
    response = owner.client.get(RATES.format(learned_list.pk), params)

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert set(body["error"]["details"]) == set(params)


def test_another_organizations_list_is_a_404(outsider, learned_list):
    response = outsider.client.get(RATES.format(learned_list.pk))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_campaign_takes_a_dial_order_and_refuses_an_unknown_one(owner, make_campaign):
    campaign = make_campaign(owner.organization)
    body = {
        "name": "Best time",
        "scriptId": campaign.script_id,
        "voiceId": campaign.voice_id,
        "contactListId": campaign.contact_list_id,
        "callerId": campaign.caller_id_id,
    }

    made = owner.client.post(
        "/api/v1/voice/campaigns", {**body, "dialOrder": "best_time"}, format="json"
    )
    refused = owner.client.post(
        "/api/v1/voice/campaigns", {**body, "dialOrder": "random"}, format="json"
    )
    default = owner.client.post("/api/v1/voice/campaigns", body, format="json")

    assert made.status_code == 201
    assert made.json()["data"]["dialOrder"] == "best_time"
    assert Campaign.objects.get(pk=made.json()["data"]["id"]).dial_order == DialOrder.BEST_TIME
    assert refused.status_code == 400
    assert "dialOrder" in refused.json()["error"]["details"]
    assert default.json()["data"]["dialOrder"] == "plain"


# --- The admin ------------------------------------------------------------------------------


def test_the_contact_list_page_draws_the_heatmap_and_the_hourly_chart(client, owner, learned_list):
    from django.urls import reverse

    from tests.campaigns.test_campaigns_admin_charts import chart_bars, staff

    staff(client, owner)
    with time_machine.travel(TUESDAY_AFTERNOON, tick=False):
        response = client.get(reverse("admin:campaigns_contactlist_change", args=[learned_list.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    cells = chart_bars(content, "best-time-heatmap")
    hours = chart_bars(content, "best-time-by-hour")
    assert len(cells) == 7 * 24
    assert len(hours) == 24
    # Tuesday noon (Los Angeles answered 10 of 12) above Tuesday 15:00 (New York, 0 of 12).
    assert cells["1-12"] > cells["1-9"] > cells["1-15"]
    assert hours["12"] > hours["15"]
    assert "24 calls counted over the last 180 days, 10 answered by a person" in content


def test_the_campaign_form_sets_the_dial_order_and_defaults_to_plain(client, owner):
    from django.urls import reverse

    from tests.campaigns.test_campaigns_admin_charts import staff

    staff(client, owner)
    template = CampaignFactory(organization=owner.organization)
    form = {
        "organization": owner.organization.pk,
        "script": template.script_id,
        "voice": template.voice_id,
        "contact_list": template.contact_list_id,
        "caller_id": template.caller_id_id,
        "days_of_week": ["0", "1", "2"],
        "window_start": "08:00",
        "window_end": "20:00",
        "max_concurrent_calls": 5,
        "calls_per_second": "1",
        "max_attempts": 3,
        "retry_no_answer_minutes": 60,
        "retry_busy_minutes": 15,
        "retry_voicemail_minutes": 240,
        "voicemail_behaviour": "hang_up",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
    }
    add = reverse("admin:campaigns_campaign_add")

    best = client.post(add, {**form, "name": "Best", "dial_order": "best_time"})
    plain = client.post(add, {**form, "name": "Plain"})

    assert (best.status_code, plain.status_code) == (302, 302)
    assert Campaign.objects.get(name="Best").dial_order == DialOrder.BEST_TIME
    assert Campaign.objects.get(name="Plain").dial_order == DialOrder.PLAIN
