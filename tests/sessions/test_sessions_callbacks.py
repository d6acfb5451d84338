"""Scheduled callbacks: `POST/DELETE /sessions/:id/callback`, the listing, and the dialler
placing them on time in the session's campaign, whatever its status, never twice."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.dialling.callbacks import (
    callback_cancel,
    callback_requested_on_call,
    callback_schedule,
)
from campaigns.dialling.dispatch import claim_due_callbacks, dispatch_due
from campaigns.factories import CampaignFactory, ContactFactory, DoNotCallEntryFactory
from campaigns.models import Campaign, CampaignStatus, Contact
from sessions.factories import CallSessionFactory
from sessions.models import (
    CallbackStatus,
    CallEvent,
    CallSession,
    CallStatus,
    ScheduledCallback,
    SessionKind,
)

SESSIONS = "/api/v1/voice/sessions"
# A Tuesday, 15:00 UTC = 10:00 in New York (EST): inside every window.
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
# 11:00 New York time the same day.
IN_WINDOW = "2026-03-03T11:00:00-05:00"
IN_WINDOW_UTC = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
# 22:30 New York time: after the 21:00 end; the next opening is Wednesday 08:00 (13:00 UTC).
LATE_EVENING = "2026-03-03T22:30:00-05:00"
NEXT_MORNING_UTC = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 50
    settings.CAMPAIGNS_DEFAULT_REGION = "US"
    settings.CAMPAIGNS_DEFAULT_TIME_ZONE = "America/New_York"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def campaign_call(organization, *, status=CampaignStatus.RUNNING, **contact_fields) -> CallSession:
    """A finished call of a running campaign to a New York contact."""
    campaign = CampaignFactory(organization=organization, status=status)
    contact = ContactFactory(contact_list=campaign.contact_list, **contact_fields)
    return CallSessionFactory(
        organization=organization,
        campaign=campaign,
        contact=contact,
        to_number=contact.phone_number,
        status=CallStatus.COMPLETED,
        outcome="no_conversation",
        queued_at=NOW - timedelta(hours=1),
    )


@pytest.fixture
def call(owner) -> CallSession:
    return campaign_call(owner.organization)


def post(persona, session: CallSession, body, **kwargs):
    return persona.client.post(f"{SESSIONS}/{session.pk}/callback", body, format="json", **kwargs)


def error(response) -> tuple[int, str, dict]:
    body = response.json()
    assert body["success"] is False
    return response.status_code, body["error"]["code"], body["error"].get("details", {})


# --- Scheduling through the API ------------------------------------------------------------


def test_it_schedules_a_callback_inside_the_window(owner, call, frozen):
    response = post(owner, call, {"at": IN_WINDOW, "note": "After the school run."})

    assert response.status_code == 201
    callback = ScheduledCallback.objects.get()
    assert response.json() == {
        "success": True,
        "data": {
            "id": callback.pk,
            "session": call.pk,
            "campaign": call.campaign_id,
            "contact": call.contact_id,
            "status": "pending",
            "at": "2026-03-03T16:00:00Z",
            "requestedAt": "2026-03-03T16:00:00Z",
            "adjusted": False,
            "note": "After the school run.",
            "requestedBy": "person",
            "skipReason": "",
            "placedSession": None,
            "createdAt": "2026-03-03T15:00:00Z",
        },
    }
    assert (callback.at, callback.status, callback.created_by_key) == (
        IN_WINDOW_UTC,
        CallbackStatus.PENDING,
        owner.api_key,
    )


def test_the_listing_and_the_detail_show_the_callback_and_the_filter_finds_it(owner, call, frozen):
    other = campaign_call(owner.organization)
    post(owner, call, {"at": IN_WINDOW, "note": "Call me"})

    listing = owner.client.get(SESSIONS).json()["data"]
    detail = owner.client.get(f"{SESSIONS}/{call.pk}").json()["data"]
    scheduled = owner.client.get(SESSIONS, {"callbackScheduled": "true"}).json()["data"]
    unscheduled = owner.client.get(SESSIONS, {"callbackScheduled": "false"}).json()["data"]

    rows = {row["id"]: row for row in listing}
    assert rows[other.pk]["callback"] is None
    assert rows[call.pk]["callback"]["status"] == "pending"
    assert rows[call.pk]["callback"]["at"] == "2026-03-03T16:00:00Z"
    assert rows[call.pk]["callback"]["note"] == "Call me"
    assert detail["callback"] == rows[call.pk]["callback"]
    assert [row["id"] for row in scheduled] == [call.pk]
    assert [row["id"] for row in unscheduled] == [other.pk]


def test_the_listing_reads_callbacks_only_for_a_page_that_has_some(owner, call, frozen):
    for _ in range(3):
        campaign_call(owner.organization)
    post(owner, call, {"at": IN_WINDOW, "note": "Call me"})

    def tables_read(params: dict[str, str]) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert owner.client.get(SESSIONS, params).status_code == 200
        # Each query's own table, not a subquery's (aliased U0, U1...).
        main_table = re.compile(r'FROM "(\w+)"(?! "?U\d)')
        found = (main_table.search(query["sql"]) for query in captured.captured_queries)
        return [match.group(1) for match in found if match and "call_sessions" in match.group(1)]

    # The page (no count: the first page holds every row); the page's sessions' callbacks in
    # one more query when any has one, none otherwise; never a query per row (a column the
    # list needs left unloaded).
    assert tables_read({"callbackScheduled": "false"}) == ["call_sessions_callsession"]
    assert tables_read({"callbackScheduled": "true"}) == [
        "call_sessions_callsession",
        "call_sessions_scheduledcallback",
    ]


def test_the_filter_counts_the_callees_callback_by_its_row_not_by_what_was_said(owner, frozen):
    said = {"callback_at": "2026-03-04T15:00:00+00:00"}
    asked, cancelled = campaign_call(owner.organization), campaign_call(owner.organization)
    CallSession.objects.filter(pk__in=[asked.pk, cancelled.pk]).update(
        outcome="callback_requested", extracted=said
    )
    callback_requested_on_call(session=asked, at=datetime(2026, 3, 4, 15, tzinfo=UTC), now=NOW)
    # Said on a test call (nothing to call back in), or cancelled since: nothing is planned.
    test_call = CallSessionFactory(organization=owner.organization, extracted=said)
    callback_requested_on_call(session=cancelled, at=datetime(2026, 3, 4, 15, tzinfo=UTC), now=NOW)
    callback_cancel(session=cancelled)

    scheduled = owner.client.get(SESSIONS, {"callbackScheduled": "true"}).json()["data"]
    unscheduled = owner.client.get(SESSIONS, {"callbackScheduled": "false"}).json()["data"]

    assert [row["id"] for row in scheduled] == [asked.pk]
    assert {row["id"] for row in unscheduled} == {test_call.pk, cancelled.pk}
    assert ScheduledCallback.objects.get(source_session=asked).requested_by == "callee"


def test_adjust_moves_a_time_outside_the_window_to_the_next_allowed_slot(owner, call, frozen):
    refused = post(owner, call, {"at": LATE_EVENING})
    response = post(owner, call, {"at": LATE_EVENING, "adjust": True})

    status, code, details = error(refused)
    assert (status, code) == (400, "VALIDATION_ERROR")
    assert "2026-03-04T13:00:00+00:00" in details["at"][0]
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["adjusted"], data["requestedAt"], data["at"]) == (
        True,
        "2026-03-04T03:30:00Z",
        "2026-03-04T13:00:00Z",
    )
    assert ScheduledCallback.objects.get().at == NEXT_MORNING_UTC


def test_the_window_is_the_contacts_own_state_rules_and_the_campaigns_hours(owner, frozen):
    # Texas: no calls before noon on Sunday; the campaign allows 10:00-12:00 only.
    session = campaign_call(
        owner.organization, region="TX", time_zone="America/Chicago", phone_number="+12145550142"
    )
    Campaign.objects.filter(pk=session.campaign_id).update(
        window_start=time(10, 0), window_end=time(12, 0)
    )

    sunday_morning = post(owner, session, {"at": "2026-03-08T10:30:00-05:00"})
    response = post(owner, session, {"at": "2026-03-08T10:30:00-05:00", "adjust": True})

    assert error(sunday_morning)[:2] == (400, "VALIDATION_ERROR")
    # Monday 10:00 in Chicago (CDT from Sunday 8 March): 15:00 UTC.
    assert response.json()["data"]["at"] == "2026-03-09T15:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"at": "2026-03-03T11:00:00"}, "at"),  # no offset
        ({"at": "2026-03-03T09:00:00-05:00"}, "at"),  # in the past
        ({"at": "2026-03-03T15:00:00Z"}, "at"),  # now is not the future
        ({"at": "2026-09-03T15:00:00Z"}, "at"),  # more than 90 days ahead
        ({"at": "tomorrow"}, "at"),
        ({}, "at"),
        ({"at": IN_WINDOW, "when": "soon"}, "when"),  # unknown key
        ({"at": IN_WINDOW, "status": "placed"}, "status"),  # not writable
        ({"at": IN_WINDOW, "note": "x" * 501}, "note"),
        ({"at": IN_WINDOW, "adjust": "perhaps"}, "adjust"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(owner, call, frozen, body, field):
    status, code, details = error(post(owner, call, body))

    assert (status, code) == (400, "VALIDATION_ERROR")
    assert field in details
    assert not ScheduledCallback.objects.exists()


def test_a_malformed_body_is_a_parse_error(owner, call, frozen):
    response = owner.client.post(
        f"{SESSIONS}/{call.pk}/callback", "{not json", content_type="application/json"
    )
    not_an_object = post(owner, call, ["2026-03-03T11:00:00-05:00"])

    assert error(response)[:2] == (400, "PARSE_ERROR")
    assert error(not_an_object)[:2] == (400, "VALIDATION_ERROR")


def test_a_second_callback_for_the_same_contact_is_a_conflict(owner, call, frozen):
    same_contact = CallSessionFactory(
        organization=owner.organization,
        campaign=call.campaign,
        contact=call.contact,
        to_number=call.to_number,
    )
    assert post(owner, call, {"at": IN_WINDOW}).status_code == 201

    again = post(owner, call, {"at": "2026-03-03T12:00:00-05:00"})
    from_another_session = post(owner, same_contact, {"at": "2026-03-03T12:00:00-05:00"})

    assert error(again)[:2] == (409, "CONFLICT")
    assert error(from_another_session)[:2] == (409, "CONFLICT")
    assert f"session {call.pk}" in from_another_session.json()["error"]["message"]
    assert ScheduledCallback.objects.count() == 1


def test_the_database_allows_one_pending_callback_per_contact_and_campaign(owner, call, frozen):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    duplicate = ScheduledCallback.objects.get()
    duplicate.pk = None

    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_a_do_not_call_contact_cannot_be_called_back(owner, call, frozen):
    DoNotCallEntryFactory(organization=owner.organization, phone_number=call.contact.phone_number)

    status, code, details = error(post(owner, call, {"at": IN_WINDOW}))

    assert (status, code) == (409, "CONFLICT")
    assert "contact" in details


def test_another_organizations_session_is_not_found(owner, outsider, frozen):
    theirs = campaign_call(outsider.organization)

    assert error(post(owner, theirs, {"at": IN_WINDOW}))[:2] == (404, "NOT_FOUND")
    assert error(owner.client.delete(f"{SESSIONS}/{theirs.pk}/callback"))[:2] == (
        404,
        "NOT_FOUND",
    )
    assert not ScheduledCallback.objects.exists()


def test_viewers_cannot_schedule_or_cancel_but_managers_can(owner, member, viewer, call, frozen):
    denied = post(viewer, call, {"at": IN_WINDOW})
    allowed = post(member, call, {"at": IN_WINDOW})
    cancel_denied = viewer.client.delete(f"{SESSIONS}/{call.pk}/callback")

    assert error(denied)[:2] == (403, "PERMISSION_DENIED")
    assert allowed.status_code == 201
    assert error(cancel_denied)[:2] == (403, "PERMISSION_DENIED")
    assert ScheduledCallback.objects.get().status == CallbackStatus.PENDING


def test_a_test_call_has_no_campaign_to_call_back_in(owner, frozen):
    test_call = CallSessionFactory(organization=owner.organization, kind=SessionKind.TEST)

    status, code, _ = error(post(owner, test_call, {"at": IN_WINDOW}))

    assert (status, code) == (409, "INVALID_STATE")


def test_a_stopped_campaign_takes_no_callbacks_but_a_completed_one_does(owner, frozen):
    stopped = campaign_call(owner.organization, status=CampaignStatus.STOPPED)
    completed = campaign_call(owner.organization, status=CampaignStatus.COMPLETED)

    assert error(post(owner, stopped, {"at": IN_WINDOW}))[:2] == (409, "INVALID_STATE")
    assert post(owner, completed, {"at": IN_WINDOW}).status_code == 201


def test_the_campaigns_end_time_does_not_bound_a_callback(owner, frozen):
    session = campaign_call(owner.organization, status=CampaignStatus.COMPLETED)
    Campaign.objects.filter(pk=session.campaign_id).update(end_at=NOW - timedelta(days=1))

    assert post(owner, session, {"at": IN_WINDOW}).status_code == 201


# --- Cancelling ----------------------------------------------------------------------------


def test_delete_cancels_the_pending_callback_and_a_new_one_may_follow(owner, call, frozen):
    post(owner, call, {"at": IN_WINDOW})

    response = owner.client.delete(f"{SESSIONS}/{call.pk}/callback")
    again = owner.client.delete(f"{SESSIONS}/{call.pk}/callback")
    rescheduled = post(owner, call, {"at": "2026-03-03T12:00:00-05:00"})

    assert (response.status_code, response.content) == (204, b"")
    assert error(again)[:2] == (404, "NOT_FOUND")
    # Audited once, with the key that cancelled it.
    assert list(
        CallEvent.objects.filter(kind="callback_cancelled").values_list("data__apiKey", flat=True)
    ) == [owner.api_key.pk]
    assert rescheduled.status_code == 201
    assert list(ScheduledCallback.objects.order_by("id").values_list("status", flat=True)) == [
        "cancelled",
        "pending",
    ]


def test_delete_without_a_callback_is_not_found(owner, call, frozen):
    assert error(owner.client.delete(f"{SESSIONS}/{call.pk}/callback"))[:2] == (404, "NOT_FOUND")


# --- The dialler places it ------------------------------------------------------------------


def test_the_dialler_places_the_callback_on_time_in_the_same_campaign(
    owner, call, frozen, placement_tasks, django_capture_on_commit_callbacks
):
    callback = callback_schedule(session=call, at=IN_WINDOW_UTC, note="Budget question").callback

    frozen.move_to(IN_WINDOW_UTC - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        early = dispatch_due()
    frozen.move_to(IN_WINDOW_UTC)
    with django_capture_on_commit_callbacks(execute=True):
        on_time = dispatch_due()

    callback.refresh_from_db()
    placed = CallSession.objects.get(kind=SessionKind.CALLBACK)
    campaign = call.campaign
    assert (early, on_time) == (0, 1)
    assert callback.status == CallbackStatus.PLACED
    assert callback.placed_session == placed
    assert placement_tasks == [placed.pk]
    assert (placed.campaign_id, placed.contact_id, placed.target_id) == (
        campaign.pk,
        call.contact_id,
        None,
    )
    assert (placed.to_number, placed.from_number) == (
        call.contact.phone_number,
        campaign.caller_id.phone_number,
    )
    assert placed.status == CallStatus.QUEUED
    assert placed.queued_at == IN_WINDOW_UTC
    assert placed.script_version.script_id == campaign.script_id
    assert placed.voice_id == campaign.voice_id
    assert placed.variables == call.contact.template_variables()
    assert placed.compliance["allowed"] is True
    assert [rule["rule"] for rule in placed.compliance["rules"]][-2:] == [
        "scheduled-callback",
        "caller-id",
    ]
    event = CallEvent.objects.get(session=placed)
    assert (event.kind, event.data["note"], event.data["sourceSession"]) == (
        "callback.placed",
        "Budget question",
        call.pk,
    )


def test_a_callback_is_placed_even_when_its_campaign_completed(
    owner, frozen, placement_tasks, django_capture_on_commit_callbacks
):
    session = campaign_call(owner.organization)
    callback_schedule(session=session, at=IN_WINDOW_UTC)
    Campaign.objects.filter(pk=session.campaign_id).update(
        status=CampaignStatus.COMPLETED, end_at=NOW + timedelta(minutes=5)
    )

    frozen.move_to(IN_WINDOW_UTC + timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=True):
        claimed = dispatch_due()

    assert claimed == 1
    assert CallSession.objects.filter(kind=SessionKind.CALLBACK).count() == 1
    assert len(placement_tasks) == 1


def test_it_is_never_placed_twice(owner, call, frozen, placement_tasks):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    moment = IN_WINDOW_UTC + timedelta(seconds=1)

    first = claim_due_callbacks(now=moment)
    # The placed call ends at once; the next ticks must not call again.
    CallSession.objects.filter(kind=SessionKind.CALLBACK).update(status=CallStatus.COMPLETED)
    second = claim_due_callbacks(now=moment + timedelta(seconds=1))
    third = dispatch_due(now=moment + timedelta(hours=1))

    assert (len(first.session_ids), len(second.session_ids), third) == (1, 0, 0)
    assert CallSession.objects.filter(kind=SessionKind.CALLBACK).count() == 1


def test_a_callback_waits_for_a_free_line_then_is_placed(
    owner, call, frozen, placement_tasks, settings
):
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 1
    callback = callback_schedule(session=call, at=IN_WINDOW_UTC).callback
    busy = CallSessionFactory(organization=owner.organization, status=CallStatus.IN_PROGRESS)
    moment = IN_WINDOW_UTC + timedelta(seconds=1)

    at_capacity = claim_due_callbacks(now=moment)
    callback.refresh_from_db()
    still_pending = callback.status
    CallSession.objects.filter(pk=busy.pk).update(status=CallStatus.COMPLETED)
    line_free = claim_due_callbacks(now=moment + timedelta(seconds=1))

    assert (len(at_capacity.session_ids), still_pending, len(line_free.session_ids)) == (
        0,
        CallbackStatus.PENDING,
        1,
    )


def test_a_cancelled_callback_is_never_placed(owner, call, frozen, placement_tasks):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    callback_cancel(session=call)

    claimed = dispatch_due(now=IN_WINDOW_UTC + timedelta(minutes=1))

    assert claimed == 0
    assert not CallSession.objects.filter(kind=SessionKind.CALLBACK).exists()


def test_a_number_added_to_do_not_call_meanwhile_is_skipped(owner, call, frozen, placement_tasks):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    DoNotCallEntryFactory(organization=owner.organization, phone_number=call.contact.phone_number)

    claimed = dispatch_due(now=IN_WINDOW_UTC)

    callback = ScheduledCallback.objects.get()
    assert claimed == 0
    assert (callback.status, callback.skip_reason) == (CallbackStatus.SKIPPED, "do_not_call")
    assert not CallSession.objects.filter(kind=SessionKind.CALLBACK).exists()


def test_a_window_narrowed_meanwhile_moves_the_callback_to_its_next_opening(
    owner, call, frozen, placement_tasks
):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    # The campaign now calls 08:00-10:00 only: 11:00 is outside, Wednesday 08:00 is next.
    Campaign.objects.filter(pk=call.campaign_id).update(
        window_start=time(8, 0), window_end=time(10, 0)
    )

    claimed = dispatch_due(now=IN_WINDOW_UTC)

    callback = ScheduledCallback.objects.get()
    assert claimed == 0
    assert (callback.status, callback.at) == (CallbackStatus.PENDING, NEXT_MORNING_UTC)
    assert dispatch_due(now=NEXT_MORNING_UTC) == 1


def test_a_paused_campaign_holds_its_callbacks_and_a_stopped_one_skips_them(
    owner, frozen, placement_tasks
):
    paused = campaign_call(owner.organization)
    stopped = campaign_call(owner.organization)
    callback_schedule(session=paused, at=IN_WINDOW_UTC)
    callback_schedule(session=stopped, at=IN_WINDOW_UTC)
    Campaign.objects.filter(pk=paused.campaign_id).update(status=CampaignStatus.PAUSED)
    Campaign.objects.filter(pk=stopped.campaign_id).update(status=CampaignStatus.STOPPED)

    while_paused = dispatch_due(now=IN_WINDOW_UTC)
    Campaign.objects.filter(pk=paused.campaign_id).update(status=CampaignStatus.RUNNING)
    resumed = dispatch_due(now=IN_WINDOW_UTC + timedelta(minutes=10))

    statuses = dict(ScheduledCallback.objects.values_list("campaign_id", "status"))
    assert (while_paused, resumed) == (0, 1)
    assert statuses == {paused.campaign_id: "placed", stopped.campaign_id: "skipped"}
    assert ScheduledCallback.objects.get(campaign_id=stopped.campaign_id).skip_reason == (
        "campaign_stopped"
    )


def test_a_contact_on_a_call_right_now_is_called_back_on_the_next_tick(
    owner, call, frozen, placement_tasks
):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    ringing = CallSessionFactory(
        organization=owner.organization,
        campaign=call.campaign,
        contact=call.contact,
        status=CallStatus.RINGING,
    )

    busy = dispatch_due(now=IN_WINDOW_UTC)
    CallSession.objects.filter(pk=ringing.pk).update(status=CallStatus.COMPLETED)
    free = dispatch_due(now=IN_WINDOW_UTC + timedelta(seconds=1))

    assert (busy, free) == (0, 1)


def test_callbacks_of_every_organization_are_dispatched_in_one_tick(
    owner, outsider, frozen, placement_tasks
):
    ours = campaign_call(owner.organization)
    theirs = campaign_call(outsider.organization)
    callback_schedule(session=ours, at=IN_WINDOW_UTC)
    callback_schedule(session=theirs, at=IN_WINDOW_UTC)

    assert dispatch_due(now=IN_WINDOW_UTC) == 2
    placed = CallSession.objects.filter(kind=SessionKind.CALLBACK)
    assert {(s.organization_id, s.contact_id) for s in placed} == {
        (owner.organization.pk, ours.contact_id),
        (outsider.organization.pk, theirs.contact_id),
    }


# --- Several dispatchers on PostgreSQL ------------------------------------------------------

DISPATCHERS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_dispatchers_place_each_callback_once(settings, placement_tasks):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks: run with DATABASE_URL=postgres://...")
    from anvil_voice.accounts.factories import OrganizationFactory

    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 1000
    organization = OrganizationFactory()
    campaign = CampaignFactory(organization=organization, status=CampaignStatus.COMPLETED)
    for n in range(40):
        contact = Contact.objects.create(
            organization=organization,
            contact_list=campaign.contact_list,
            phone_number=f"+1212555{n:04d}",
            time_zone="America/New_York",
            region="NY",
        )
        source = CallSessionFactory(organization=organization, campaign=campaign, contact=contact)
        callback_schedule(session=source, at=IN_WINDOW_UTC, now=NOW)
    claimed: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(DISPATCHERS)
    lock = threading.Lock()

    def dispatcher() -> None:
        try:
            barrier.wait()
            for tick in range(3):
                count = len(
                    claim_due_callbacks(now=IN_WINDOW_UTC + timedelta(seconds=tick)).session_ids
                )
                with lock:
                    claimed.append(count)
        except BaseException as exc:  # surfaced below, on the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    placed = CallSession.objects.filter(kind=SessionKind.CALLBACK)
    assert sum(claimed) == placed.count() == len(placement_tasks) == 40
    assert placed.values("contact_id").distinct().count() == 40
    assert ScheduledCallback.objects.filter(status=CallbackStatus.PLACED).count() == 40
    assert not ScheduledCallback.objects.filter(placed_session__isnull=True).exists()


# --- The admin's "schedule callback" page ----------------------------------------------------


def staff(persona):
    from django.contrib.auth.models import Permission

    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="call_sessions"))
    return user


def admin_url(session: CallSession) -> str:
    return reverse("admin:call_sessions_callsession_callback", args=[session.pk])


def test_the_session_page_links_to_the_callback_form_which_schedules_one(
    client, owner, call, frozen
):
    client.force_login(staff(owner))

    page = client.get(f"/admin/call_sessions/callsession/{call.pk}/change/")
    form = client.get(admin_url(call))
    # The picker's value is the contact's local time (New York), without an offset.
    response = client.post(admin_url(call), {"at": "2026-03-03T11:00", "note": "Morning"})

    assert admin_url(call) in page.content.decode()
    assert form.status_code == 200
    assert 'type="datetime-local"' in form.content.decode()
    assert "America/New_York" in form.content.decode()
    assert (response.status_code, response["Location"]) == (302, admin_url(call))
    callback = ScheduledCallback.objects.get()
    assert (callback.at, callback.note, callback.created_by) == (
        IN_WINDOW_UTC,
        "Morning",
        owner.membership.user,
    )
    after = client.get(admin_url(call)).content.decode()
    # Confirmed and shown in the contact's local time, not UTC.
    assert "Callback scheduled for Tuesday 3 March 2026, 11:00 (America/New_York, EST)." in after
    assert "A callback is scheduled for <strong" in after


def test_a_time_outside_the_window_is_refused_in_plain_words_with_the_nearest_allowed_one(
    client, owner, call, frozen
):
    client.force_login(staff(owner))

    refused = client.post(admin_url(call), {"at": "2026-03-03T22:30", "note": "Late"})
    content = refused.content.decode()

    assert refused.status_code == 200
    assert not ScheduledCallback.objects.exists()
    assert (
        "Tuesday 3 March 2026, 22:30 (America/New_York, EST) is outside the hours this contact "
        "may be called. The nearest allowed time is Wednesday 4 March 2026, 08:00 "
        "(America/New_York, EST)."
    ) in content
    assert "error.details" not in content
    assert "adjust" not in content
    assert 'name="at" value="2026-03-04T08:00"' in content

    accepted = client.post(admin_url(call), {"at": "2026-03-04T08:00", "note": "Late"})
    assert accepted.status_code == 302
    assert ScheduledCallback.objects.get().at == NEXT_MORNING_UTC


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"at": "soon"}, "Pick a date and a time."),
        ({"at": "2026-03-03T09:00"}, "Must be in the future."),
        # 02:30 on 8 March does not exist in New York (the clocks go from 02:00 to 03:00).
        ({"at": "2026-03-08T02:30"}, "does not exist on 08 March in America/New_York"),
    ],
)
def test_the_admin_form_refuses_what_the_api_refuses(client, owner, call, frozen, fields, message):
    client.force_login(staff(owner))

    response = client.post(admin_url(call), fields)

    content = response.content.decode()
    assert response.status_code == 200
    assert message in content
    assert "error.details" not in content
    assert not ScheduledCallback.objects.exists()


def test_the_admin_page_cancels_a_pending_callback_and_audits_who_did(client, owner, call, frozen):
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    client.force_login(staff(owner))

    shown = client.get(admin_url(call)).content.decode()
    response = client.post(admin_url(call), {"cancel": "Cancel this callback"})
    again = client.post(admin_url(call), {"cancel": "Cancel this callback"}, follow=True)

    assert "Tuesday 3 March 2026, 11:00 (America/New_York, EST)" in shown
    listed = client.get(reverse("admin:call_sessions_scheduledcallback_changelist"))
    assert "Tuesday 3 March 2026, 11:00 (America/New_York, EST)" in listed.content.decode()
    assert response.status_code == 302
    assert ScheduledCallback.objects.get().status == CallbackStatus.CANCELLED
    event = CallEvent.objects.get(session=call, kind="callback_cancelled")
    assert event.data == {
        "callback": ScheduledCallback.objects.get().pk,
        "at": "2026-03-03T16:00:00+00:00",
        "user": owner.membership.user.pk,
        "apiKey": None,
    }
    assert "There is no pending callback to cancel." in again.content.decode()


def test_the_admin_page_is_for_writers_of_the_sessions_organization(
    client, viewer, outsider, call, frozen
):
    client.force_login(staff(viewer))
    as_viewer = client.post(admin_url(call), {"at": "2026-03-03T11:00"})
    client.force_login(staff(outsider))
    as_outsider = client.post(admin_url(call), {"at": "2026-03-03T11:00"})

    assert (as_viewer.status_code, as_outsider.status_code) == (403, 404)
    assert not ScheduledCallback.objects.exists()


# --- When the callback call ends ------------------------------------------------------------


def placed_callback(owner, call, **fields) -> CallSession:
    callback_schedule(session=call, at=IN_WINDOW_UTC)
    claim_due_callbacks(now=IN_WINDOW_UTC)
    session = CallSession.objects.get(kind=SessionKind.CALLBACK)
    CallSession.objects.filter(pk=session.pk).update(status=CallStatus.COMPLETED, **fields)
    session.refresh_from_db()
    return session


def test_an_opt_out_on_a_callback_call_reaches_the_do_not_call_list(
    owner, call, frozen, placement_tasks
):
    from campaigns.models import DoNotCallEntry
    from sessions.signals import session_finished

    session = placed_callback(owner, call, outcome="do_not_call", carrier_call_sid="CA1")

    session_finished.send(sender=CallSession, session=session)

    entry = DoNotCallEntry.objects.get(organization=owner.organization)
    assert (entry.phone_number, entry.source, entry.session_id_ref) == (
        call.contact.phone_number,
        DoNotCallEntry.Source.OPT_OUT,
        session.pk,
    )


def test_a_callee_who_asks_again_on_a_callback_call_gets_a_new_callback(
    owner, call, frozen, placement_tasks
):
    from sessions.signals import session_finished

    # 22:00 New York on Wednesday: outside the window, so Thursday 08:00 (13:00 UTC).
    session = placed_callback(
        owner,
        call,
        outcome="callback_requested",
        extracted={"callback_at": "2026-03-04T22:00:00"},
    )

    session_finished.send(sender=CallSession, session=session)

    again = ScheduledCallback.objects.get(status=CallbackStatus.PENDING)
    assert again.source_session_id == session.pk
    assert again.requested_at == datetime(2026, 3, 5, 3, 0, tzinfo=UTC)
    assert again.at == datetime(2026, 3, 5, 13, 0, tzinfo=UTC)
