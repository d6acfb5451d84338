"""The campaign admin's budget field and its "Rehearse" action (issue 19): both through the API's
services, with their errors on the page, scoped by organization and role."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from campaigns.factories import CampaignFactory
from campaigns.models import Campaign, CampaignStatus
from campaigns.rehearsal.models import MixSource, Rehearsal, RehearsalStatus
from tests.campaigns.test_campaigns_admin_charts import staff

NO_INLINES = {"transitions-TOTAL_FORMS": "0", "transitions-INITIAL_FORMS": "0"}


def _draft_form(template: Campaign, **fields: object) -> dict[str, object]:
    return {
        "organization": template.organization_id,
        "name": "Budgeted",
        "script": template.script_id,
        "voice": template.voice_id,
        "contact_list": template.contact_list_id,
        "caller_id": template.caller_id_id,
        "days_of_week": ["0", "1", "2", "3", "4"],
        "window_start": "09:00",
        "window_end": "17:00",
        "max_concurrent_calls": 5,
        "calls_per_second": "1",
        "max_attempts": 3,
        "retry_no_answer_minutes": 60,
        "retry_busy_minutes": 15,
        "retry_voicemail_minutes": 240,
        "voicemail_behaviour": "hang_up",
        **NO_INLINES,
        **fields,
    }


def test_the_campaign_form_sets_changes_and_clears_the_budget_through_the_service(
    client, owner, viewer, settings
):
    staff(client, owner)
    template = CampaignFactory(organization=owner.organization)
    add_url = reverse("admin:campaigns_campaign_add")
    assert f"Budget ({settings.COST_CURRENCY})" in client.get(add_url).content.decode()

    created = client.post(add_url, _draft_form(template, budget="250.00"))
    assert created.status_code == 302, created.content.decode()[:2000]
    campaign = Campaign.objects.get(name="Budgeted")
    assert campaign.budget_amount == Decimal("250.00")
    assert campaign.budget_currency == settings.COST_CURRENCY

    # Started: its settings are locked, its budget is not (and its status is not written back).
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert client.post(change_url, {"budget": "300", **NO_INLINES}).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.budget_amount, campaign.status) == (Decimal("300.00"), "running")

    for bad, message in [("0", "between 0.01"), ("1.234", "2 decimal places"), ("x", "number")]:
        refused = client.post(change_url, {"budget": bad, **NO_INLINES})
        assert refused.status_code == 200
        assert message in refused.content.decode(), bad

    assert client.post(change_url, {"budget": "", **NO_INLINES}).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.budget_amount, campaign.budget_currency) == (None, "")

    # A stopped campaign: the service's refusal, beside the field; untouched, it saves.
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.STOPPED)
    stopped = client.post(change_url, {"budget": "50", **NO_INLINES})
    assert stopped.status_code == 200
    assert "its budget cannot change" in stopped.content.decode()
    assert client.post(change_url, {"budget": "", **NO_INLINES}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.budget_amount is None

    # A viewer sees the budget read-only and cannot post one.
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.PAUSED, budget_amount=Decimal("80")
    )
    staff(client, viewer)
    read_only = client.get(change_url).content.decode()
    assert "field-budget" in read_only
    assert "80.00" in read_only
    assert 'name="budget"' not in read_only
    assert client.post(change_url, {"budget": "999", **NO_INLINES}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.budget_amount == Decimal("80.00")


def test_the_rehearse_action_starts_a_rehearsal_and_opens_its_report(
    client, owner, viewer, outsider, make_campaign
):
    campaign = make_campaign(owner.organization, contacts=2)
    url = reverse("admin:campaigns_campaign_rehearse", args=[campaign.pk])
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    staff(client, owner)
    assert url in client.get(change_url).content.decode()
    assert 'data-testid="rehearse-form"' in client.get(url).content.decode()

    bad = [
        ({"size": "0", "persona_interested": "1"}, "Between 1 and"),
        ({"size": "5"}, "At least one weight must be positive."),
        ({"size": "5", "estimate": "on"}, "Give a mix: fewer than"),
        ({"size": "many", "persona_interested": "1"}, "Enter a whole number."),
        ({"size": "5", "persona_interested": "-1"}, "greater than or equal to 0"),
    ]
    for body, message in bad:
        refused = client.post(url, body)
        assert refused.status_code == 200, body
        assert message in refused.content.decode(), body
    assert not Rehearsal.objects.exists()

    started = client.post(url, {"size": "6", "persona_interested": "2", "persona_no_answer": "1"})
    rehearsal = Rehearsal.objects.get()
    assert started.status_code == 302
    assert started["Location"] == reverse("admin:campaigns_rehearsal_change", args=[rehearsal.pk])
    assert (rehearsal.campaign_id, rehearsal.size, rehearsal.mix_source) == (
        campaign.pk,
        6,
        MixSource.GIVEN,
    )
    assert rehearsal.mix == {"interested": round(2 / 3, 6), "no-answer": round(1 / 3, 6)}
    assert rehearsal.status == RehearsalStatus.QUEUED
    report = client.get(started["Location"])
    assert report.status_code == 200
    assert 'data-testid="rehearsal-page"' in report.content.decode()
    # Queued: the page reloads itself until the worker has written the report.
    assert 'data-testid="rehearsal-refresh"' in report.content.decode()

    # A stopped campaign: the service's refusal, as a plain message.
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.STOPPED)
    stopped = client.post(url, {"size": "6", "persona_interested": "1"})
    assert "The campaign is stopped." in stopped.content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DRAFT)

    staff(client, viewer)
    assert url not in client.get(change_url).content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"size": "6", "persona_interested": "1"}).status_code == 403
    staff(client, outsider)
    assert client.post(url, {"size": "6", "persona_interested": "1"}).status_code == 404
    assert Rehearsal.objects.count() == 1
