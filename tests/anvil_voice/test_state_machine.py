"""The one transition helper (`anvil_voice.state_machine`) and the machines built on it:
campaign status, voice status, campaign-contact state and scheduled-callback status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import TextChoices

from anvil_voice.errors import InvalidState, NotFound
from anvil_voice.state_machine import StateMachine, TransitionNotAllowed, transition
from campaigns.dialling.callbacks import callback_cancel
from campaigns.factories import CampaignFactory, ContactFactory
from campaigns.models import (
    CAMPAIGN_CONTACT_STATES,
    CAMPAIGN_STATES,
    Campaign,
    CampaignContact,
    CampaignContactState,
    CampaignStatus,
    CampaignTransition,
)
from campaigns.services import lifecycle
from sessions.factories import CallSessionFactory
from sessions.models import CALLBACK_STATES, CallbackStatus, ScheduledCallback
from voices import services as voice_services
from voices.factories import VoiceFactory
from voices.models import VOICE_STATES, Voice, VoiceEvent, VoiceStatus

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


class Light(TextChoices):
    RED = "red", "Red"
    GREEN = "green", "Green"
    AMBER = "amber", "Amber"
    OFF = "off", "Off"


LIGHT = StateMachine.of(
    "status",
    {
        Light.RED: {Light.GREEN},
        Light.GREEN: {Light.AMBER},
        Light.AMBER: {Light.RED},
        Light.OFF: set(),
    },
)


# --- The helper -----------------------------------------------------------------------------


def test_the_map_is_kept_as_plain_strings_with_the_sources_of_each_target() -> None:
    machine = StateMachine.of("status", {"a": ["b", "c"], "b": ["c"], "c": []})

    assert machine.allowed == {
        "a": frozenset({"b", "c"}),
        "b": frozenset({"c"}),
        "c": frozenset(),
    }
    assert machine.sources("c") == ("a", "b")
    assert machine.sources("b") == ("a",)
    assert machine.sources("a") == ()  # nothing leads back to the start
    assert LIGHT.sources(Light.RED) == ("amber",)
    assert all(type(key) is str for key in LIGHT.allowed)


def test_can_and_check_follow_the_map() -> None:
    assert LIGHT.can(Light.RED, Light.GREEN)
    assert LIGHT.can("red", "green")
    assert not LIGHT.can(Light.RED, Light.AMBER)
    assert not LIGHT.can(Light.OFF, Light.RED)
    assert not LIGHT.can("unknown", Light.RED)
    LIGHT.check(Light.GREEN, Light.AMBER)

    with pytest.raises(TransitionNotAllowed, match="status: red -> amber is not allowed"):
        LIGHT.check(Light.RED, Light.AMBER)
    assert issubclass(TransitionNotAllowed, ValueError)


def test_a_target_nothing_may_reach_is_refused_before_any_query() -> None:
    with pytest.raises(TransitionNotAllowed, match="nothing may move to draft"):
        transition(Campaign.objects.all(), machine=CAMPAIGN_STATES, to=CampaignStatus.DRAFT)


def test_only_one_of_two_racing_callers_moves_the_row_and_writes_the_audit(acme) -> None:
    campaign = CampaignFactory(organization=acme, status=CampaignStatus.RUNNING)
    audits: list[int] = []

    def audit(moved: int) -> None:
        audits.append(moved)
        CampaignTransition.objects.create(
            campaign=campaign,
            from_status=CampaignStatus.RUNNING,
            to_status=CampaignStatus.PAUSED,
            actor_system="test",
        )

    def move() -> int:
        return transition(
            Campaign.objects.filter(pk=campaign.pk),
            machine=CAMPAIGN_STATES,
            to=CampaignStatus.PAUSED,
            updates={"updated_at": NOW},
            audit=audit,
        )

    assert move() == 1
    assert move() == 0  # the second caller read `running` too, but the row is paused now

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert campaign.updated_at == NOW
    assert audits == [1]
    assert CampaignTransition.objects.filter(campaign=campaign).count() == 1


def test_a_bulk_transition_moves_only_the_rows_allowed_to_and_counts_them(acme) -> None:
    campaign = CampaignFactory(organization=acme)
    states = [
        CampaignContactState.PENDING,
        CampaignContactState.PENDING,
        CampaignContactState.COMPLETED,
        CampaignContactState.IN_PROGRESS,
    ]
    rows = [
        CampaignContact.objects.create(
            organization=acme,
            campaign=campaign,
            contact=ContactFactory(contact_list=campaign.contact_list),
            state=state,
        )
        for state in states
    ]

    moved = transition(
        CampaignContact.objects.filter(campaign=campaign),
        machine=CAMPAIGN_CONTACT_STATES,
        to=CampaignContactState.IN_PROGRESS,
        updates={"last_outcome": "claimed"},
    )

    assert moved == 2
    assert [
        (row.state, row.last_outcome)
        for row in CampaignContact.objects.filter(pk__in=[row.pk for row in rows]).order_by("id")
    ] == [
        ("in_progress", "claimed"),
        ("in_progress", "claimed"),
        ("completed", ""),  # final: untouched
        ("in_progress", ""),  # already there, and in_progress -> in_progress is not a move
    ]


# --- Every machine covers its choices ---------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "choices"),
    [
        (CAMPAIGN_STATES, CampaignStatus),
        (VOICE_STATES, VoiceStatus),
        (CAMPAIGN_CONTACT_STATES, CampaignContactState),
        (CALLBACK_STATES, CallbackStatus),
    ],
    ids=["campaign", "voice", "campaign-contact", "scheduled-callback"],
)
def test_every_state_of_the_choices_is_in_the_map_and_nothing_else(
    machine: StateMachine, choices: type[TextChoices]
) -> None:
    named = set(machine.allowed) | {t for targets in machine.allowed.values() for t in targets}

    assert named == set(choices.values)
    assert set(machine.allowed) == set(choices.values)  # final states listed with no targets


def test_the_campaign_map_is_the_one_the_lifecycle_and_admin_use() -> None:
    assert lifecycle.ALLOWED_TRANSITIONS is CAMPAIGN_STATES.allowed
    assert CAMPAIGN_STATES.sources(CampaignStatus.STOPPED) == ("paused", "running", "scheduled")


# --- Disallowed transitions are refused, as before ------------------------------------------


def test_a_completed_campaign_cannot_be_started_and_nothing_is_written(acme) -> None:
    campaign = CampaignFactory(organization=acme, status=CampaignStatus.COMPLETED)

    with pytest.raises(InvalidState) as started:
        lifecycle.campaign_start(campaign=campaign, actor=lifecycle.Actor.named("test"))
    with pytest.raises(InvalidState) as moved:
        lifecycle.campaign_transition(
            campaign=campaign, to=CampaignStatus.RUNNING, actor=lifecycle.Actor.named("test")
        )

    assert (started.value.message, started.value.details) == (
        "A completed campaign cannot be started.",
        {"status": "completed", "requested": "running"},
    )
    assert (moved.value.message, moved.value.details) == (
        "A completed campaign cannot become running.",
        {"status": "completed", "requested": "running"},
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert not CampaignTransition.objects.exists()


def test_an_allowed_campaign_move_writes_the_columns_and_one_audit_row(acme) -> None:
    campaign = CampaignFactory(organization=acme, status=CampaignStatus.RUNNING)

    moved = lifecycle.campaign_transition(
        campaign=campaign, to=CampaignStatus.STOPPED, actor=lifecycle.Actor.named("test"), now=NOW
    )

    stored = Campaign.objects.get(pk=campaign.pk)
    assert (moved.status, moved.updated_at, moved.completed_at) == ("stopped", NOW, NOW)
    assert (stored.status, stored.updated_at, stored.completed_at) == ("stopped", NOW, NOW)
    assert list(
        CampaignTransition.objects.filter(campaign=campaign).values_list(
            "from_status", "to_status", "actor_system", "at"
        )
    ) == [("running", "stopped", "test", NOW)]


def test_a_ready_voice_cannot_go_back_to_processing(acme) -> None:
    voice = VoiceFactory(organization=acme, status=VoiceStatus.READY)

    with pytest.raises(TransitionNotAllowed):
        voice_services._voice_transition(
            voice=voice, from_status=VoiceStatus.READY, to_status=VoiceStatus.PROCESSING
        )
    with pytest.raises(InvalidState, match="Only a failed clone can be retried"):
        voice_services.voice_clone_retry(voice=voice)

    assert Voice.objects.get(pk=voice.pk).status == VoiceStatus.READY
    assert not VoiceEvent.objects.exists()


def test_a_voice_that_moved_on_meanwhile_is_left_alone_without_an_event(acme) -> None:
    voice = VoiceFactory(organization=acme, status=VoiceStatus.PROCESSING)
    stale = Voice.objects.get(pk=voice.pk)

    assert voice_services._voice_transition(
        voice=voice, from_status=VoiceStatus.PROCESSING, to_status=VoiceStatus.FAILED, reason="x"
    )
    assert not voice_services._voice_transition(
        voice=stale, from_status=VoiceStatus.PROCESSING, to_status=VoiceStatus.READY
    )

    assert Voice.objects.get(pk=voice.pk).status == VoiceStatus.FAILED
    assert stale.status == VoiceStatus.PROCESSING  # not updated in memory either
    assert list(VoiceEvent.objects.values_list("from_status", "to_status", "reason")) == [
        ("processing", "failed", "x")
    ]


def test_a_finished_campaign_contact_never_moves_again(acme) -> None:
    campaign = CampaignFactory(organization=acme)
    contact = CampaignContact.objects.create(
        organization=acme,
        campaign=campaign,
        contact=ContactFactory(contact_list=campaign.contact_list),
        state=CampaignContactState.DO_NOT_CALL,
    )

    for target in (CampaignContactState.PENDING, CampaignContactState.IN_PROGRESS):
        with pytest.raises(TransitionNotAllowed):
            CAMPAIGN_CONTACT_STATES.check(CampaignContactState.DO_NOT_CALL, target)
        assert not transition(
            CampaignContact.objects.filter(pk=contact.pk),
            machine=CAMPAIGN_CONTACT_STATES,
            to=target,
        )

    contact.refresh_from_db()
    assert contact.state == CampaignContactState.DO_NOT_CALL


def test_a_placed_callback_cannot_be_cancelled_or_made_pending_again(acme) -> None:
    campaign = CampaignFactory(organization=acme, status=CampaignStatus.RUNNING)
    contact = ContactFactory(contact_list=campaign.contact_list)
    session = CallSessionFactory(organization=acme, campaign=campaign, contact=contact)
    callback = ScheduledCallback.objects.create(
        organization=acme,
        source_session=session,
        campaign=campaign,
        contact=contact,
        at=NOW + timedelta(hours=1),
        requested_at=NOW + timedelta(hours=1),
        status=CallbackStatus.PLACED,
    )

    with pytest.raises(NotFound) as cancelled:
        callback_cancel(session=session)
    with pytest.raises(TransitionNotAllowed, match="nothing may move to pending"):
        transition(
            ScheduledCallback.objects.filter(pk=callback.pk),
            machine=CALLBACK_STATES,
            to=CallbackStatus.PENDING,
        )

    assert (cancelled.value.code, cancelled.value.message) == (
        "NOT_FOUND",
        "This session has no pending callback.",
    )
    assert not CALLBACK_STATES.can(CallbackStatus.PLACED, CallbackStatus.CANCELLED)
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.PLACED


def test_a_pending_callback_is_cancelled_once(acme) -> None:
    campaign = CampaignFactory(organization=acme, status=CampaignStatus.RUNNING)
    contact = ContactFactory(contact_list=campaign.contact_list)
    session = CallSessionFactory(organization=acme, campaign=campaign, contact=contact)
    ScheduledCallback.objects.create(
        organization=acme,
        source_session=session,
        campaign=campaign,
        contact=contact,
        at=NOW + timedelta(hours=1),
        requested_at=NOW + timedelta(hours=1),
    )

    cancelled = callback_cancel(session=session, now=NOW)

    assert (cancelled.status, cancelled.updated_at) == (CallbackStatus.CANCELLED, NOW)
    stored = ScheduledCallback.objects.get(pk=cancelled.pk)
    assert (stored.status, stored.updated_at) == ("cancelled", NOW)
    with pytest.raises(NotFound):
        callback_cancel(session=session, now=NOW)
