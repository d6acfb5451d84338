"""The dialler: claims within concurrency and CPS, never twice, materialisation, pause, stop."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

from campaigns import services
from campaigns.dialling.dispatch import claim_due_contacts, dispatch_due
from campaigns.factories import ContactFactory, DoNotCallEntryFactory
from campaigns.models import (
    CampaignContact,
    CampaignContactState,
    CampaignStats,
    CampaignStatus,
    CampaignTransition,
    PacingBucket,
)
from campaigns.selectors import campaign_stats_payload
from sessions.models import CallSession, CallStatus, SessionKind
from tests.campaigns.campaigns_fakes import RecordingCarrier
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

SYSTEM = services.Actor.named("test")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def started(make_campaign, organization, **fields):
    campaign = make_campaign(organization, **fields)
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    return campaign


def assert_attempts_match_sessions(campaign) -> None:
    for target in CampaignContact.objects.filter(campaign=campaign):
        numbers = sorted(
            CallSession.objects.filter(target=target).values_list("attempt_number", flat=True)
        )
        assert numbers == list(range(1, target.attempts + 1))


def test_it_claims_a_contact_with_a_complete_queued_session(owner, make_campaign, frozen):
    campaign = started(make_campaign, owner.organization, contacts=1)

    claimed = dispatch_due(now=NOW)

    session = CallSession.objects.get()
    target = CampaignContact.objects.get()
    contact = target.contact
    assert claimed == 1
    assert (target.state, target.attempts) == (CampaignContactState.IN_PROGRESS, 1)
    assert session.kind == SessionKind.CAMPAIGN
    assert session.status == CallStatus.QUEUED
    assert (session.target_id, session.attempt_number, session.contact_id) == (
        target.pk,
        1,
        contact.pk,
    )
    assert session.script_version.number == campaign.script.version
    assert session.voice_id == campaign.voice_id
    assert (session.to_number, session.from_number) == (
        contact.phone_number,
        campaign.caller_id.phone_number,
    )
    assert session.variables == contact.template_variables()
    assert session.compliance["allowed"] is True
    assert [rule["rule"] for rule in session.compliance["rules"]] == [
        "US",
        "campaign-schedule",
        "do-not-call",
        "attempt-cap",
        "caller-id",
    ]


def test_it_records_the_scripts_current_version_at_claim_time(owner, make_campaign, frozen):
    from scripts.services import script_update

    campaign = started(make_campaign, owner.organization, contacts=2, max_concurrent_calls=1)
    dispatch_due(now=NOW)
    script_update(script=campaign.script, fields={"closing_line": "Bye now!"})
    CallSession.objects.update(status=CallStatus.COMPLETED)
    dispatch_due(now=NOW + timedelta(seconds=1))

    assert list(
        CallSession.objects.order_by("id").values_list("script_version__number", flat=True)
    ) == [1, 2]


def test_it_enqueues_placement_only_after_commit(
    owner, make_campaign, frozen, placement_tasks, django_capture_on_commit_callbacks
):
    started(make_campaign, owner.organization, contacts=2)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch_due(now=NOW)
        assert placement_tasks == []
    for callback in callbacks:
        callback()

    assert sorted(placement_tasks) == sorted(CallSession.objects.values_list("pk", flat=True))


def test_it_keeps_to_the_campaigns_concurrency(owner, make_campaign, frozen):
    campaign = started(make_campaign, owner.organization, contacts=5, max_concurrent_calls=2)

    first = dispatch_due(now=NOW)
    while_busy = dispatch_due(now=NOW + timedelta(seconds=5))
    CallSession.objects.filter(pk=CallSession.objects.first().pk).update(
        status=CallStatus.COMPLETED
    )
    after_one_ends = dispatch_due(now=NOW + timedelta(seconds=10))

    assert (first, while_busy, after_one_ends) == (2, 0, 1)
    assert CallSession.objects.exclude(status=CallStatus.COMPLETED).count() == 2
    assert_attempts_match_sessions(campaign)


def test_it_keeps_to_the_campaigns_calls_per_second(owner, make_campaign, frozen):
    started(
        make_campaign, owner.organization, contacts=10, max_concurrent_calls=50, calls_per_second=2
    )

    ticks = [
        dispatch_due(now=NOW),
        dispatch_due(now=NOW),
        dispatch_due(now=NOW + timedelta(milliseconds=500)),
        dispatch_due(now=NOW + timedelta(seconds=1)),
        dispatch_due(now=NOW + timedelta(seconds=3)),
    ]

    # A full bucket holds one second's worth (2); it refills at 2 a second, never above 2.
    assert ticks == [2, 0, 1, 1, 2]


def test_contacts_the_gate_turns_away_do_not_use_up_the_calls_per_second(
    owner, make_campaign, frozen
):
    campaign = make_campaign(owner.organization, contacts=0, calls_per_second=2)
    for _ in range(3):  # 06:00 in Los Angeles: outside the window, rescheduled
        ContactFactory(contact_list=campaign.contact_list, time_zone="America/Los_Angeles")
    ContactFactory(contact_list=campaign.contact_list)
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)

    claimed = dispatch_due(now=NOW)

    assert claimed == 1
    assert PacingBucket.objects.get(key=f"campaign:{campaign.pk}").tokens == 1.0
    assert CampaignContact.objects.filter(state=CampaignContactState.PENDING).count() == 3


def test_it_shares_the_accounts_calls_per_second_between_campaigns(
    owner, make_campaign, settings, frozen
):
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 3
    for _ in range(2):
        started(make_campaign, owner.organization, contacts=5, calls_per_second=3)

    assert dispatch_due(now=NOW) == 3
    assert dispatch_due(now=NOW) == 0
    assert dispatch_due(now=NOW + timedelta(seconds=1)) == 3


def test_a_repeated_or_redelivered_dispatch_never_dials_an_attempt_twice(
    owner, make_campaign, frozen
):
    campaign = started(make_campaign, owner.organization, contacts=3)

    first = claim_due_contacts(campaign_id=campaign.pk, now=NOW)
    again = claim_due_contacts(campaign_id=campaign.pk, now=NOW + timedelta(seconds=2))
    dispatch_due(now=NOW + timedelta(seconds=4))

    assert len(first.session_ids) == 3
    assert again.session_ids == []
    assert CallSession.objects.count() == 3
    assert_attempts_match_sessions(campaign)
    target = CampaignContact.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        CallSession.objects.create(
            organization=campaign.organization,
            campaign=campaign,
            target=target,
            attempt_number=1,
            to_number="+12125550104",
            from_number="+15555550100",
        )


def test_it_materialises_contacts_in_batches_and_marks_listed_numbers(
    owner, make_campaign, monkeypatch, frozen
):
    monkeypatch.setattr("campaigns.services.lifecycle.MATERIALIZE_BATCH", 2)
    campaign = make_campaign(owner.organization, contacts=0, max_concurrent_calls=1)
    contacts = [ContactFactory(contact_list=campaign.contact_list) for _ in range(5)]
    DoNotCallEntryFactory(organization=owner.organization, phone_number=contacts[1].phone_number)

    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    after_start = CampaignContact.objects.count()
    dispatch_due(now=NOW)
    after_tick = CampaignContact.objects.count()
    dispatch_due(now=NOW + timedelta(seconds=1))
    # Contacts added after the start are not part of the campaign.
    ContactFactory(contact_list=campaign.contact_list)
    dispatch_due(now=NOW + timedelta(seconds=2))
    dispatch_due(now=NOW + timedelta(seconds=3))

    assert (after_start, after_tick) == (2, 4)
    assert CampaignContact.objects.count() == 5
    listed = CampaignContact.objects.get(contact=contacts[1])
    assert listed.state == CampaignContactState.DO_NOT_CALL
    stats = CampaignStats.objects.get(campaign=campaign)
    assert (stats.contacts_total, stats.contacts_materialized, stats.do_not_call) == (5, 5, 1)
    assert services.campaign_stats_rebuild(campaign=campaign, save=False).pending == stats.pending


def test_pause_stops_new_claims_and_resume_never_redials_an_attempt(owner, make_campaign, frozen):
    campaign = started(make_campaign, owner.organization, contacts=4, max_concurrent_calls=2)
    dispatch_due(now=NOW)
    first_called = set(CallSession.objects.values_list("target_id", flat=True))

    services.campaign_pause(campaign=campaign, actor=SYSTEM)
    while_paused = dispatch_due(now=NOW + timedelta(seconds=1))
    CallSession.objects.update(status=CallStatus.COMPLETED)  # the live calls finish
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW + timedelta(seconds=2))
    after_resume = dispatch_due(now=NOW + timedelta(seconds=3))

    assert while_paused == 0
    assert after_resume == 2
    second_called = set(
        CallSession.objects.filter(status=CallStatus.QUEUED).values_list("target_id", flat=True)
    )
    assert first_called.isdisjoint(second_called)
    assert CallSession.objects.count() == 4
    assert_attempts_match_sessions(campaign)


def test_stop_cancels_unanswered_calls_at_the_carrier_and_tolerates_failures(
    owner, make_campaign, settings, frozen, django_capture_on_commit_callbacks
):
    settings.CARRIER_BACKEND = "tests.campaigns.campaigns_fakes.RecordingCarrier"
    RecordingCarrier.reset()
    campaign = started(make_campaign, owner.organization, contacts=4)
    dispatch_due(now=NOW)
    queued, ringing, failing, answered = CallSession.objects.order_by("id")
    CallSession.objects.filter(pk=ringing.pk).update(status=CallStatus.RINGING)
    CallSession.objects.filter(pk=failing.pk).update(status=CallStatus.INITIATED)
    CallSession.objects.filter(pk=answered.pk).update(status=CallStatus.IN_PROGRESS)
    RecordingCarrier.failing.add(failing.to_number)

    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_stop(campaign=campaign, actor=SYSTEM)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert sorted(RecordingCarrier.cancelled) == sorted([queued.pk, ringing.pk])
    assert dispatch_due(now=NOW + timedelta(seconds=1)) == 0
    RecordingCarrier.reset()


def test_the_dispatcher_stops_a_campaign_at_its_end_time(owner, make_campaign, frozen):
    campaign = started(
        make_campaign, owner.organization, contacts=2, end_at=NOW + timedelta(minutes=5)
    )

    before = dispatch_due(now=NOW)
    after = dispatch_due(now=NOW + timedelta(minutes=5))

    campaign.refresh_from_db()
    assert (before, after) == (2, 0)
    assert campaign.status == CampaignStatus.STOPPED
    assert campaign.transitions.last().actor_system == "dispatcher: end time reached"


def test_the_dispatcher_completes_a_campaign_with_nothing_left_to_dial(
    owner, make_campaign, frozen
):
    campaign = make_campaign(owner.organization, contacts=2)
    for contact in campaign.contact_list.contacts.all():
        DoNotCallEntryFactory(organization=owner.organization, phone_number=contact.phone_number)
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)

    assert dispatch_due(now=NOW) == 0

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    stats = campaign_stats_payload(CampaignStats.objects.get(campaign=campaign))
    assert stats["contacts"]["doNotCall"] == 2
    assert stats["progressPercent"] == 100.0
    assert CampaignTransition.objects.filter(campaign=campaign).last().actor_system == "dialler"


def test_one_broken_campaign_does_not_stop_the_others(owner, make_campaign, monkeypatch, frozen):
    broken = started(make_campaign, owner.organization, contacts=1)
    healthy = started(make_campaign, owner.organization, contacts=1)
    real_claim = claim_due_contacts

    def claim(*, campaign_id, now, **options):
        if campaign_id == broken.pk:
            raise RuntimeError("boom")
        return real_claim(campaign_id=campaign_id, now=now, **options)

    monkeypatch.setattr("campaigns.dialling.dispatch.claim_due_contacts", claim)

    assert dispatch_due(now=NOW) == 1
    assert CallSession.objects.get().campaign_id == healthy.pk
