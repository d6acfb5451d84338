"""Finished calls (`session_finished`) → contact state, retries, counters, DNC, completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.dialling.outcomes import apply_missed_outcomes
from campaigns.models import (
    CampaignContact,
    CampaignContactState,
    CampaignStats,
    CampaignStatus,
    DoNotCallEntry,
)
from sessions.models import (
    AnsweredBy,
    CallbackStatus,
    CallSession,
    CallStatus,
    ConversationState,
    Outcome,
    ScheduledCallback,
    SessionKind,
)
from sessions.signals import session_finished
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

SYSTEM = services.Actor.named("test")
STAT_FIELDS = [
    field.name
    for field in CampaignStats._meta.get_fields()
    if field.name not in {"id", "campaign", "cost_currency"}
]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def claimed_campaign(make_campaign, organization, contacts: int = 1, **fields):
    campaign = make_campaign(
        organization,
        contacts=contacts,
        max_attempts=fields.pop("max_attempts", 3),
        retry_no_answer_minutes=60,
        retry_busy_minutes=15,
        retry_voicemail_minutes=240,
        **fields,
    )
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    dispatch_due(now=NOW)
    return campaign


def finish(session: CallSession, **fields: object) -> CallSession:
    fields.setdefault("ended_at", NOW)
    CallSession.objects.filter(pk=session.pk).update(**fields)
    session.refresh_from_db()
    session_finished.send(sender=CallSession, session=session)
    return session


def counters(campaign) -> dict[str, object]:
    stats = CampaignStats.objects.get(campaign=campaign)
    return {name: getattr(stats, name) for name in STAT_FIELDS}


def assert_counters_match_rows(campaign) -> None:
    rebuilt = services.campaign_stats_rebuild(campaign=campaign, save=False)
    assert counters(campaign) == {name: getattr(rebuilt, name) for name in STAT_FIELDS}


HUMAN = {
    "carrier_call_sid": "CA-human",
    "answered_by": AnsweredBy.HUMAN,
    "answered_at": NOW,
    "duration_seconds": 75,
}


@pytest.mark.parametrize(
    ("fields", "state", "last_outcome", "retry_minutes"),
    [
        (
            {**HUMAN, "status": CallStatus.COMPLETED, "outcome": Outcome.INTERESTED},
            "completed",
            "interested",
            None,
        ),
        (
            {**HUMAN, "status": CallStatus.COMPLETED, "outcome": Outcome.NOT_INTERESTED},
            "completed",
            "not_interested",
            None,
        ),
        (
            {**HUMAN, "status": CallStatus.COMPLETED, "outcome": Outcome.NO_CONVERSATION},
            "completed",
            "no_conversation",
            None,
        ),
        (
            {"carrier_call_sid": "CA1", "status": CallStatus.NO_ANSWER},
            "pending",
            "no_answer",
            60,
        ),
        ({"carrier_call_sid": "CA1", "status": CallStatus.BUSY}, "pending", "busy", 15),
        (
            {
                "carrier_call_sid": "CA1",
                "status": CallStatus.COMPLETED,
                "answered_by": AnsweredBy.MACHINE,
                "answered_at": NOW,
                "duration_seconds": 20,
                "outcome": Outcome.VOICEMAIL,
            },
            "pending",
            "voicemail",
            240,
        ),
        (
            {
                "carrier_call_sid": "CA1",
                "status": CallStatus.COMPLETED,
                "outcome": Outcome.NO_CONVERSATION,
            },
            "pending",
            "no_conversation",
            60,
        ),
        (
            {
                "placed_at": NOW,
                "status": CallStatus.FAILED,
                "outcome": Outcome.FAILED,
                "end_reason": "invalid_number",
                "error_code": "21211",
            },
            "failed",
            "failed",
            None,
        ),
        (
            {
                "carrier_call_sid": "CA1",
                "status": CallStatus.FAILED,
                "outcome": Outcome.FAILED,
                "error_code": "31005",
            },
            "pending",
            "failed",
            60,
        ),
    ],
)
def test_it_moves_the_contact_on_by_how_the_call_ended(
    owner, make_campaign, frozen, fields, state, last_outcome, retry_minutes
):
    campaign = claimed_campaign(make_campaign, owner.organization)
    session = CallSession.objects.get()

    finish(session, **fields)

    target = CampaignContact.objects.get()
    assert (target.state, target.last_outcome, target.attempts) == (state, last_outcome, 1)
    if retry_minutes is not None:
        assert target.next_attempt_at == NOW + timedelta(minutes=retry_minutes)
    assert_counters_match_rows(campaign)


def test_an_opt_out_adds_the_number_to_the_organizations_do_not_call_list(
    owner, make_campaign, frozen
):
    campaign = claimed_campaign(make_campaign, owner.organization)
    session = CallSession.objects.get()

    finish(session, **HUMAN, status=CallStatus.COMPLETED, outcome=Outcome.DO_NOT_CALL)

    target = CampaignContact.objects.get()
    entry = DoNotCallEntry.objects.get()
    assert target.state == CampaignContactState.DO_NOT_CALL
    assert (entry.organization_id, entry.phone_number, entry.source, entry.session_id_ref) == (
        owner.organization.pk,
        session.to_number,
        "opt_out",
        session.pk,
    )
    assert counters(campaign)["outcome_do_not_call"] == 1


def test_a_callback_request_is_scheduled_at_the_time_the_callee_asked_for(
    owner, make_campaign, frozen
):
    claimed_campaign(make_campaign, owner.organization)
    session = CallSession.objects.get()
    tomorrow_at_three = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)  # 15:00 EST

    finish(
        session,
        **HUMAN,
        status=CallStatus.COMPLETED,
        outcome=Outcome.CALLBACK_REQUESTED,
        extracted={"callback_at": tomorrow_at_three.isoformat()},
    )

    target = CampaignContact.objects.get()
    assert (target.state, target.next_attempt_at) == ("pending", tomorrow_at_three)
    assert dispatch_due(now=tomorrow_at_three - timedelta(minutes=1)) == 0
    assert dispatch_due(now=tomorrow_at_three) == 1


SESSIONS = "/api/v1/voice/sessions"
# Wednesday 15:00 in New York.
TOMORROW_AT_THREE = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)


def asked_for_a_callback(make_campaign, organization):
    """A campaign call on which the callee asked to be called back tomorrow at three."""
    campaign = claimed_campaign(make_campaign, organization)
    session = finish(
        CallSession.objects.get(),
        **HUMAN,
        status=CallStatus.COMPLETED,
        outcome=Outcome.CALLBACK_REQUESTED,
        extracted={"callback_at": TOMORROW_AT_THREE.isoformat()},
    )
    return campaign, session


def test_a_callback_the_callee_asks_for_is_one_scheduled_callback_dialled_once(
    owner, make_campaign, frozen, placement_tasks
):
    campaign, session = asked_for_a_callback(make_campaign, owner.organization)

    callback = ScheduledCallback.objects.get()
    target = CampaignContact.objects.get()
    assert (callback.status, callback.requested_by, callback.source_session_id) == (
        CallbackStatus.PENDING,
        "callee",
        session.pk,
    )
    assert (callback.at, callback.requested_at, callback.target_id) == (
        TOMORROW_AT_THREE,
        TOMORROW_AT_THREE,
        target.pk,
    )
    assert (callback.created_by_id, callback.created_by_key_id) == (None, None)
    shown = owner.client.get(f"{SESSIONS}/{session.pk}").json()["data"]["callback"]
    assert (shown["id"], shown["status"], shown["requestedBy"]) == (
        callback.pk,
        "pending",
        "callee",
    )
    listed = owner.client.get(SESSIONS, {"callbackScheduled": "true"}).json()["data"]
    assert [row["id"] for row in listed] == [session.pk]
    second = owner.client.post(
        f"{SESSIONS}/{session.pk}/callback", {"at": "2026-03-04T16:00:00-05:00"}, format="json"
    )
    assert (second.status_code, second.json()["error"]["code"]) == (409, "CONFLICT")

    frozen.move_to(TOMORROW_AT_THREE - timedelta(minutes=1))
    assert dispatch_due(now=TOMORROW_AT_THREE - timedelta(minutes=1)) == 0
    frozen.move_to(TOMORROW_AT_THREE)
    assert dispatch_due(now=TOMORROW_AT_THREE) == 1
    for later in (timedelta(seconds=1), timedelta(minutes=5), timedelta(hours=3)):
        assert dispatch_due(now=TOMORROW_AT_THREE + later) == 0

    placed = CallSession.objects.exclude(pk=session.pk).get()
    callback.refresh_from_db()
    target.refresh_from_db()
    assert (callback.status, callback.placed_session_id) == (CallbackStatus.PLACED, placed.pk)
    # The callback call is the contact's next attempt, so the campaign's rules follow it.
    assert (placed.kind, placed.target_id, placed.attempt_number) == (
        SessionKind.CALLBACK,
        target.pk,
        2,
    )
    assert (target.state, target.attempts) == (CampaignContactState.IN_PROGRESS, 2)
    assert_counters_match_rows(campaign)


def test_a_callback_call_nobody_answers_is_retried_by_the_campaigns_rules(
    owner, make_campaign, frozen, placement_tasks
):
    campaign, _ = asked_for_a_callback(make_campaign, owner.organization)
    frozen.move_to(TOMORROW_AT_THREE)
    dispatch_due(now=TOMORROW_AT_THREE)
    placed = CallSession.objects.get(kind=SessionKind.CALLBACK)

    finish(
        placed, carrier_call_sid="CA-cb", status=CallStatus.NO_ANSWER, ended_at=TOMORROW_AT_THREE
    )

    target = CampaignContact.objects.get()
    assert (target.state, target.last_outcome, target.next_attempt_at) == (
        CampaignContactState.PENDING,
        Outcome.NO_ANSWER,
        TOMORROW_AT_THREE + timedelta(minutes=60),
    )
    assert not ScheduledCallback.objects.filter(status=CallbackStatus.PENDING).exists()
    assert dispatch_due(now=TOMORROW_AT_THREE + timedelta(minutes=60)) == 1
    assert CallSession.objects.filter(target=target).count() == 3
    assert_counters_match_rows(campaign)


def test_the_sweep_applies_a_callback_attempt_whose_outcome_was_lost(
    owner, make_campaign, frozen, placement_tasks
):
    campaign, _ = asked_for_a_callback(make_campaign, owner.organization)
    frozen.move_to(TOMORROW_AT_THREE)
    dispatch_due(now=TOMORROW_AT_THREE)
    # Finished, but the process died before `session_finished` ran.
    CallSession.objects.filter(kind=SessionKind.CALLBACK).update(
        **{**HUMAN, "carrier_call_sid": "CA-cb"},
        status=CallStatus.COMPLETED,
        outcome=Outcome.INTERESTED,
        ended_at=TOMORROW_AT_THREE,
    )

    assert apply_missed_outcomes(now=TOMORROW_AT_THREE + timedelta(minutes=6)) == 1

    assert CampaignContact.objects.get().state == CampaignContactState.COMPLETED
    assert_counters_match_rows(campaign)


def test_cancelling_the_callees_callback_puts_the_contact_back_on_its_retry_schedule(
    owner, make_campaign, frozen, placement_tasks
):
    _, session = asked_for_a_callback(make_campaign, owner.organization)

    response = owner.client.delete(f"{SESSIONS}/{session.pk}/callback")

    assert response.status_code == 204
    assert ScheduledCallback.objects.get(source_session=session).status == CallbackStatus.CANCELLED
    target = CampaignContact.objects.get()
    # One retry delay (retry_no_answer_minutes) after the cancel, inside the window.
    assert (target.state, target.next_attempt_at) == (
        CampaignContactState.PENDING,
        NOW + timedelta(minutes=60),
    )
    assert dispatch_due(now=NOW + timedelta(minutes=59)) == 0
    assert dispatch_due(now=NOW + timedelta(minutes=60)) == 1
    assert dispatch_due(now=TOMORROW_AT_THREE) == 0
    retry = CallSession.objects.exclude(pk=session.pk).get()
    assert (retry.kind, retry.attempt_number) == (SessionKind.CAMPAIGN, 2)


def test_a_person_scheduled_callback_holds_the_contacts_own_retry(
    owner, make_campaign, frozen, placement_tasks
):
    claimed_campaign(make_campaign, owner.organization)
    session = finish(CallSession.objects.get(), carrier_call_sid="CA1", status=CallStatus.NO_ANSWER)
    # The contact's retry is due in an hour; a person asks for a call tomorrow instead.
    scheduled = owner.client.post(
        f"{SESSIONS}/{session.pk}/callback", {"at": TOMORROW_AT_THREE.isoformat()}, format="json"
    )
    assert scheduled.status_code == 201
    assert scheduled.json()["data"]["requestedBy"] == "person"

    assert dispatch_due(now=NOW + timedelta(minutes=60)) == 0
    frozen.move_to(TOMORROW_AT_THREE)
    assert dispatch_due(now=TOMORROW_AT_THREE) == 1
    assert dispatch_due(now=TOMORROW_AT_THREE + timedelta(seconds=1)) == 0
    placed = CallSession.objects.exclude(pk=session.pk).get()
    assert (placed.kind, placed.attempt_number) == (SessionKind.CALLBACK, 2)


def test_a_retry_stays_inside_the_calling_window(owner, make_campaign):
    evening = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)  # 20:30 EST
    with time_machine.travel(evening, tick=False):
        campaign = make_campaign(owner.organization, contacts=1, retry_no_answer_minutes=60)
        services.campaign_start(campaign=campaign, actor=SYSTEM, now=evening)
        dispatch_due(now=evening)
        finish(CallSession.objects.get(), carrier_call_sid="CA1", status=CallStatus.NO_ANSWER)

    # 21:30 would be too late: the next allowed moment is 08:00 the next morning.
    assert CampaignContact.objects.get().next_attempt_at == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


def test_it_exhausts_a_contact_at_the_attempt_cap(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization, max_attempts=2)

    finish(CallSession.objects.get(), carrier_call_sid="CA1", status=CallStatus.BUSY)
    dispatch_due(now=NOW + timedelta(minutes=15))
    second = CallSession.objects.get(attempt_number=2)
    finish(second, carrier_call_sid="CA2", status=CallStatus.BUSY)

    target = CampaignContact.objects.get()
    campaign.refresh_from_db()
    assert (target.state, target.attempts) == (CampaignContactState.EXHAUSTED, 2)
    assert campaign.status == CampaignStatus.COMPLETED
    assert_counters_match_rows(campaign)


def test_a_call_cancelled_before_dialling_goes_back_uncounted(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization, max_attempts=1)
    services.campaign_pause(campaign=campaign, actor=SYSTEM)

    finish(
        CallSession.objects.get(),
        status=CallStatus.CANCELED,
        end_reason="compliance:campaign_not_running",
    )
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    redialled = dispatch_due(now=NOW + timedelta(seconds=1))

    target = CampaignContact.objects.get()
    assert redialled == 1
    assert (target.attempts, target.skipped_attempts, target.state) == (2, 1, "in_progress")
    assert counters(campaign)["sessions_skipped"] == 1
    assert counters(campaign)["calls_finished"] == 0
    assert_counters_match_rows(campaign)


def test_a_number_refused_by_the_placement_dnc_check_is_not_a_call(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization)

    finish(
        CallSession.objects.get(),
        placed_at=NOW,
        status=CallStatus.FAILED,
        outcome=Outcome.DO_NOT_CALL,
        end_reason="do_not_call",
    )

    assert CampaignContact.objects.get().state == CampaignContactState.DO_NOT_CALL
    assert counters(campaign)["calls_finished"] == 0
    assert counters(campaign)["sessions_skipped"] == 1


def test_handling_the_same_session_twice_changes_nothing(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization, contacts=2)
    first = CallSession.objects.order_by("id").first()
    finish(first, carrier_call_sid="CA1", status=CallStatus.NO_ANSWER)
    before = (counters(campaign), list(CampaignContact.objects.values()))

    session_finished.send(sender=CallSession, session=first)
    finish(first, carrier_call_sid="CA1", status=CallStatus.NO_ANSWER)

    assert (counters(campaign), list(CampaignContact.objects.values())) == before
    assert DoNotCallEntry.objects.count() == 0


def test_the_last_outcome_completes_the_campaign(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization, contacts=2)
    first, second = CallSession.objects.order_by("id")

    finish(first, **HUMAN, status=CallStatus.COMPLETED, outcome=Outcome.INTERESTED)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    finish(
        second,
        **{**HUMAN, "carrier_call_sid": "CA-second"},
        status=CallStatus.COMPLETED,
        outcome=Outcome.NOT_INTERESTED,
    )

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.transitions.last().actor_system == "dialler"
    assert_counters_match_rows(campaign)


def test_outcomes_of_a_stopped_campaign_are_still_recorded(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization)
    services.campaign_stop(campaign=campaign, actor=SYSTEM)

    finish(CallSession.objects.get(), **HUMAN, status=CallStatus.COMPLETED, outcome="interested")

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert CampaignContact.objects.get().state == CampaignContactState.COMPLETED


def test_sessions_outside_campaigns_are_ignored(owner, make_campaign, frozen):
    from sessions.models import SessionKind

    campaign = claimed_campaign(make_campaign, owner.organization)
    test_call = CallSession.objects.create(
        organization=owner.organization,
        kind=SessionKind.TEST,
        to_number="+12125550104",
        from_number="+15555550100",
        status=CallStatus.COMPLETED,
    )

    session_finished.send(sender=CallSession, session=test_call)

    assert counters(campaign)["calls_finished"] == 0


def test_the_sweep_applies_an_outcome_whose_signal_was_lost(owner, make_campaign, frozen):
    campaign = claimed_campaign(make_campaign, owner.organization, contacts=3)
    lost, talking, recent = CallSession.objects.order_by("id")
    # Finished, but the process died before `session_finished` ran: no signal sent.
    CallSession.objects.filter(pk=lost.pk).update(
        **{**HUMAN, "carrier_call_sid": "CA-lost"},
        status=CallStatus.COMPLETED,
        outcome=Outcome.INTERESTED,
        ended_at=NOW,
    )
    # Still talking on our side: the conversation's close sends the signal, not the sweep.
    CallSession.objects.filter(pk=talking.pk).update(
        **{**HUMAN, "carrier_call_sid": "CA-talking"},
        status=CallStatus.COMPLETED,
        ended_at=NOW,
        conversation_state=ConversationState.OPEN,
    )
    CallSession.objects.filter(pk=recent.pk).update(
        **{**HUMAN, "carrier_call_sid": "CA-recent"},
        status=CallStatus.COMPLETED,
        ended_at=NOW + timedelta(minutes=4),
    )

    later = NOW + timedelta(minutes=6)
    assert apply_missed_outcomes(now=later) == 1
    assert apply_missed_outcomes(now=later) == 0

    states = dict(CampaignContact.objects.values_list("sessions__pk", "state"))
    assert states == {lost.pk: "completed", talking.pk: "in_progress", recent.pk: "in_progress"}
    # Counted once, as the signal would have: the other two are still on their way.
    assert (counters(campaign)["calls_finished"], counters(campaign)["in_progress"]) == (1, 2)


def test_an_applied_outcome_is_stamped_and_the_sweep_leaves_it_alone(
    owner, make_campaign, frozen, django_capture_on_commit_callbacks
):
    campaign = claimed_campaign(make_campaign, owner.organization, contacts=1)
    session = CallSession.objects.get()
    CallSession.objects.filter(pk=session.pk).update(
        **{**HUMAN, "carrier_call_sid": "CA-done"},
        status=CallStatus.COMPLETED,
        outcome=Outcome.INTERESTED,
        ended_at=NOW,
    )
    session.refresh_from_db()

    session_finished.send(sender=CallSession, session=session)
    # A redelivered signal and a late sweep: neither applies it again.
    session_finished.send(sender=CallSession, session=session)
    swept = apply_missed_outcomes(now=NOW + timedelta(minutes=10))
    session.refresh_from_db()

    assert session.outcome_applied_at == NOW
    assert swept == 0
    assert counters(campaign)["calls_finished"] == 1
