"""A campaign's cost per connected call and per success, and its budget: half pace near it, a
pause at it, with the reason on the API."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import CampaignStats, CampaignStatus, CampaignTransition
from scripts.models import ScriptVersion
from sessions.costs import session_cost_record
from sessions.factories import CallSessionFactory
from sessions.models import CallSession, CallStatus, SessionKind
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/voice/campaigns"
SYSTEM = services.Actor.named("test")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def started(make_campaign, organization, *, spent: str, budget: str = "10.00", **fields):
    campaign = make_campaign(organization, budget_amount=Decimal(budget), **fields)
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    CampaignStats.objects.filter(campaign=campaign).update(cost_total=Decimal(spent))
    return campaign


def test_near_its_budget_a_campaign_dials_at_half_pace_and_says_why(owner, make_campaign, frozen):
    campaign = started(
        make_campaign, owner.organization, spent="9.20", contacts=6, max_concurrent_calls=4
    )

    placed = dispatch_due(now=NOW)
    body = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}").json()["data"]

    assert placed == 2  # half of its four concurrent calls
    assert body["status"] == "running"
    assert body["dialling"]["message"] == (
        "Dialling. At half pace: 90 % or more of its budget is spent."
    )
    assert body["budget"] == {
        "amount": "10.00",
        "currency": "USD",
        "spent": "9.2000",
        "spentPercent": 92.0,
        "slowAtPercent": 90,
        "state": "slow",
    }


def test_at_its_budget_a_campaign_pauses_with_the_reason_budget(owner, make_campaign, frozen):
    campaign = started(make_campaign, owner.organization, spent="10.00", contacts=3)

    placed = dispatch_due(now=NOW)
    body = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}").json()["data"]

    assert placed == 0
    assert not CallSession.objects.filter(campaign=campaign).exists()
    assert body["status"] == "paused"
    assert body["dialling"] == {
        "state": "waiting",
        "reason": "budget",
        "nextDialAt": None,
        "waitingForCapacity": 0,
        "nextDialLocal": None,
        "message": "Paused: its budget is spent. It dials again when the budget is raised and "
        "the campaign resumed.",
    }
    transition = CampaignTransition.objects.filter(campaign=campaign).last()
    assert (transition.to_status, transition.actor_system) == ("paused", "budget")

    # Resumed without more budget: paused again at the next tick, for the same reason.
    owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")
    assert dispatch_due(now=NOW + timedelta(seconds=1)) == 0
    campaign.refresh_from_db()
    assert (campaign.status, campaign.budget_state) == (CampaignStatus.PAUSED, "spent")

    # Raised: a plain pause until resumed, then it dials.
    raised = owner.client.put(f"{CAMPAIGNS}/{campaign.pk}/budget", {"amount": "50"}, format="json")
    reason = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}").json()["data"]["dialling"]["reason"]
    owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")
    assert raised.status_code == 200
    assert raised.json()["data"]["state"] == "ok"
    assert reason == "paused"
    assert dispatch_due(now=NOW + timedelta(seconds=2)) == 3


def _call(campaign, version, *, hour, minutes, outcome, answered=True):
    session = CallSessionFactory(
        organization=campaign.organization,
        campaign=campaign,
        kind=SessionKind.CAMPAIGN,
        script_version=version,
        status=CallStatus.COMPLETED if answered else CallStatus.NO_ANSWER,
        queued_at=NOW + timedelta(hours=hour),
        answered_at=NOW + timedelta(hours=hour) if answered else None,
        ended_at=NOW + timedelta(hours=hour, minutes=minutes),
        duration_seconds=minutes * 60 if answered else 0,
        outcome=outcome,
    )
    session_cost_record(session_id=session.pk)
    return session


def test_costs_per_connected_call_and_per_success_by_script_version_and_hour(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=0)
    first = campaign.script.versions.get()
    second = ScriptVersion.objects.create(
        organization=owner.organization, script=campaign.script, number=2, snapshot={}
    )
    _call(campaign, first, hour=0, minutes=3, outcome="interested")  # 0.042
    _call(campaign, first, hour=0, minutes=1, outcome="not_interested")  # 0.014
    _call(campaign, first, hour=1, minutes=0, outcome="no_answer", answered=False)  # 0
    _call(campaign, second, hour=1, minutes=2, outcome="transferred")  # 0.028
    CallSessionFactory(organization=owner.organization, campaign=campaign, kind="test")

    response = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/costs")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["overall"] == {
        "calls": 4,
        "pricedCalls": 4,
        "connectedCalls": 3,
        "successes": 2,
        "total": "0.0840",
        "perCall": "0.0210",
        "perConnectedCall": "0.0280",
        "perSuccess": "0.0420",
        "breakdown": {
            "carrier": "0.0840",
            "speechToText": "0.0000",
            "textToSpeech": "0.0000",
            "llm": "0.0000",
            "compute": "0.0000",
        },
        "computeCpuSeconds": 0.0,
    }
    assert data["successOutcomes"] == ["interested", "transferred"]
    versions = {row["scriptVersion"]: row for row in data["byScriptVersion"]}
    assert (versions[1]["total"], versions[1]["perSuccess"]) == ("0.0560", "0.0560")
    assert (versions[2]["total"], versions[2]["perConnectedCall"]) == ("0.0280", "0.0280")
    assert [(row["hour"][:13], row["total"]) for row in data["byHour"]] == [
        ("2026-03-03T15", "0.0560"),
        ("2026-03-03T16", "0.0280"),
    ]
    assert data["budget"] is None

    chosen = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/costs?success=not_interested")
    assert chosen.json()["data"]["overall"]["perSuccess"] == "0.0840"


@pytest.mark.parametrize(
    ("method", "path", "body", "details"),
    [
        ("get", "costs?success=sold", None, {"success": ["Not an outcome: sold."]}),
        ("put", "budget", {}, {"amount": ["This field is required."]}),
        ("put", "budget", {"amount": "lots"}, {"amount": ["A valid number is required."]}),
        (
            "put",
            "budget",
            {"amount": "0"},
            {"amount": ["Ensure this value is greater than or equal to 0.01."]},
        ),
        (
            "put",
            "budget",
            {"amount": "5", "currency": "EUR"},
            {"currency": ["Calls are priced in USD; a budget must be in it too."]},
        ),
    ],
)
def test_bad_input_is_a_validation_error(owner, make_campaign, method, path, body, details):
    campaign = make_campaign(owner.organization, contacts=0)

    response = getattr(owner.client, method)(
        f"{CAMPAIGNS}/{campaign.pk}/{path}", body, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == details


def test_the_budget_belongs_to_the_campaigns_organization_and_its_writers(
    owner, viewer, outsider, make_campaign
):
    campaign = make_campaign(owner.organization, contacts=0)
    url = f"{CAMPAIGNS}/{campaign.pk}"

    assert outsider.client.get(f"{url}/costs").status_code == 404
    assert outsider.client.put(f"{url}/budget", {"amount": "5"}, format="json").status_code == 404
    assert viewer.client.put(f"{url}/budget", {"amount": "5"}, format="json").status_code == 403
    assert viewer.client.get(f"{url}/costs").status_code == 200
    assert owner.client.put(f"{url}/budget", {"amount": "5"}, format="json").status_code == 200
    assert owner.client.delete(f"{url}/budget").status_code == 204
    campaign.refresh_from_db()
    assert (campaign.budget_amount, campaign.budget_state) == (None, "")

    campaign.status = CampaignStatus.STOPPED
    campaign.save(update_fields=["status"])
    stopped = owner.client.put(f"{url}/budget", {"amount": "5"}, format="json")
    assert stopped.status_code == 409
    assert stopped.json()["error"]["code"] == "INVALID_STATE"


def test_a_campaign_is_created_with_a_budget(owner, make_campaign):
    template = make_campaign(owner.organization, contacts=0)
    body = {
        "name": "Spring",
        "scriptId": template.script_id,
        "voiceId": template.voice_id,
        "contactListId": template.contact_list_id,
        "callerId": template.caller_id_id,
        "budget": {"amount": "25.50", "currency": "usd"},
    }

    response = owner.client.post(CAMPAIGNS, body, format="json")

    assert response.status_code == 201
    assert response.json()["data"]["budget"]["amount"] == "25.50"
    assert response.json()["data"]["budget"]["state"] == "ok"


def test_the_admin_shows_the_costs_of_a_campaign_and_of_each_call(client, owner, make_campaign):
    user = owner.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["campaigns", "call_sessions"])
    )
    client.force_login(user)
    campaign = make_campaign(owner.organization, contacts=0, budget_amount=Decimal("1.00"))
    version = campaign.script.versions.get()
    session = _call(campaign, version, hour=0, minutes=2, outcome="interested")
    # What the outcome handler adds when it applies the call.
    CampaignStats.objects.filter(campaign=campaign).update(cost_total=Decimal("0.028"))

    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    call = client.get(reverse("admin:call_sessions_callsession_change", args=[session.pk]))

    content = page.content.decode()
    assert re.search(r'id="campaign-cost-total">0.0280 USD<', content)
    assert re.search(r'id="campaign-cost-per-success">0.0280<', content)
    assert 'id="campaign-budget" data-state="ok">2.8% of 1.00 USD<' in content
    assert 'data-key="carrier" data-label="Carrier minutes" data-value="280"' in content
    assert "0.0280 USD</text>" in content  # the chart writes money, not units
    detail = call.content.decode()
    assert 'data-testid="session-cost"' in detail
    assert "<td>Carrier</td><td>twilio</td><td>120 s → 2 billed min</td><td>0.0280</td>" in detail
    assert "<th>0.0280 USD</th>" in detail


def test_a_call_that_ended_but_is_not_applied_yet_counts_against_the_budget(
    owner, make_campaign, frozen
):
    campaign = started(make_campaign, owner.organization, spent="0", budget="0.01", contacts=2)
    assert dispatch_due(now=NOW) == 2
    first = CallSession.objects.filter(campaign=campaign).first()
    # The carrier ended it (a minute); its conversation is still closing: not priced, not applied.
    CallSession.objects.filter(pk=first.pk).update(
        status=CallStatus.COMPLETED, ended_at=NOW, duration_seconds=40
    )

    dispatch_due(now=NOW + timedelta(seconds=1))

    campaign.refresh_from_db()
    assert (campaign.status, campaign.budget_state) == (CampaignStatus.PAUSED, "spent")
