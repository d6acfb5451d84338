"""`/api/v1/voice/campaigns`: create, list, get with stats, start/pause/stop, sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.dialling.dispatch import dispatch_due
from campaigns.dialling.outcomes import record_outcome
from campaigns.factories import (
    CallerIdFactory,
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
)
from campaigns.models import Campaign, CampaignStatus, CampaignTransition
from scripts.factories import ScriptFactory
from sessions.models import AnsweredBy, CallSession, CallStatus, Outcome
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from voices.factories import VoiceFactory
from voices.models import VoiceStatus

CAMPAIGNS = "/api/v1/voice/campaigns"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def empty_stats(total: int = 0) -> dict[str, object]:
    return {
        "contacts": {
            "total": total,
            "pending": total,
            "inProgress": 0,
            "completed": 0,
            "failed": 0,
            "doNotCall": 0,
            "exhausted": 0,
            "waitingForCapacity": 0,
        },
        "calls": {
            "placed": 0,
            "finished": 0,
            "answered": 0,
            "human": 0,
            "machine": 0,
            "busy": 0,
            "noAnswer": 0,
            "failed": 0,
        },
        "outcomes": {
            "interested": 0,
            "notInterested": 0,
            "callbackRequested": 0,
            "doNotCall": 0,
            "noConversation": 0,
            "voicemail": 0,
            "noAnswer": 0,
            "busy": 0,
            "failed": 0,
            "completed": 0,
            "ivrUnresolved": 0,
            "transferred": 0,
        },
        "talkTime": {"totalSeconds": 0, "averageSeconds": 0.0},
        "answerRate": 0.0,
        "progressPercent": 0.0,
        "cost": None,
    }


IDLE = {
    "state": "idle",
    "reason": None,
    "nextDialAt": None,
    "waitingForCapacity": 0,
    "nextDialLocal": None,
    "message": None,
}


def campaign_payload(
    campaign: Campaign, stats: dict[str, object], dialling: dict[str, object] | None = None
) -> dict[str, object]:
    campaign.refresh_from_db()
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "scriptId": campaign.script_id,
        "voiceId": campaign.voice_id,
        "contactListId": campaign.contact_list_id,
        "callerId": campaign.caller_id_id,
        "callerIdNumber": campaign.caller_id.phone_number,
        "startAt": iso(campaign.start_at),
        "endAt": iso(campaign.end_at),
        "daysOfWeek": campaign.days_of_week,
        "windowStart": campaign.window_start.strftime("%H:%M"),
        "windowEnd": campaign.window_end.strftime("%H:%M"),
        "maxConcurrentCalls": campaign.max_concurrent_calls,
        "callsPerSecond": float(campaign.calls_per_second),
        "maxAttempts": campaign.max_attempts,
        "retryNoAnswerMinutes": campaign.retry_no_answer_minutes,
        "retryBusyMinutes": campaign.retry_busy_minutes,
        "retryVoicemailMinutes": campaign.retry_voicemail_minutes,
        "voicemailBehaviour": campaign.voicemail_behaviour,
        "recordCalls": campaign.record_calls,
        "transferNumber": campaign.transfer_number,
        "transferTargetKind": campaign.transfer_target_kind,
        "dialOrder": campaign.dial_order,
        "createdAt": iso(campaign.created_at),
        "updatedAt": iso(campaign.updated_at),
        "startedAt": iso(campaign.started_at),
        "completedAt": iso(campaign.completed_at),
        "dialling": dialling or IDLE,
        "stats": stats,
        "budget": None,
    }


@pytest.fixture
def graph(owner):
    organization = owner.organization
    contact_list = ContactListFactory(organization=organization, name="Spring leads")
    ContactFactory(contact_list=contact_list)
    return {
        "script": ScriptFactory(
            organization=organization, voicemail_message="Hi {{first_name}}, call us back."
        ),
        "voice": VoiceFactory(organization=organization),
        "contact_list": contact_list,
        "caller_id": CallerIdFactory(organization=organization, phone_number="+15555550100"),
    }


def create_body(graph, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Spring solar",
        "scriptId": graph["script"].pk,
        "voiceId": graph["voice"].pk,
        "contactListId": graph["contact_list"].pk,
        "callerId": graph["caller_id"].pk,
        "daysOfWeek": [0, 1, 2, 3, 4],
        "windowStart": "09:00",
        "windowEnd": "20:00",
        "maxConcurrentCalls": 20,
        "callsPerSecond": 2.5,
        "maxAttempts": 2,
        "retryNoAnswerMinutes": 30,
        "voicemailBehaviour": "leave_message",
        "recordCalls": True,
    }
    body.update(changes)
    return body


def test_it_creates_a_draft_campaign(owner, graph):
    response = owner.client.post(CAMPAIGNS, create_body(graph), format="json")

    assert response.status_code == 201
    campaign = Campaign.objects.get()
    # Not started yet: the list's one contact is the one that would take part, pending.
    assert response.json() == {"success": True, "data": campaign_payload(campaign, empty_stats(1))}
    assert response.json()["data"]["status"] == "draft"
    assert response.json()["data"]["windowStart"] == "09:00"
    assert response.json()["data"]["callsPerSecond"] == 2.5


def test_it_lists_campaigns_newest_first_and_filters_by_status(owner, outsider, make_campaign):
    older = make_campaign(owner.organization, name="Older")
    newer = make_campaign(owner.organization, name="Newer", status=CampaignStatus.PAUSED)
    make_campaign(outsider.organization, name="Elsewhere")

    everything = owner.client.get(CAMPAIGNS).json()
    paused = owner.client.get(CAMPAIGNS, {"status": "paused"}).json()

    assert everything == {
        "success": True,
        "data": [
            campaign_payload(
                newer,
                empty_stats(3),
                {
                    "state": "waiting",
                    "reason": "paused",
                    "nextDialAt": None,
                    "waitingForCapacity": 0,
                    "nextDialLocal": None,
                    "message": "Paused. It dials again when resumed.",
                },
            ),
            campaign_payload(older, empty_stats(3)),
        ],
        "meta": {"total": 2, "cursor": None, "hasMore": False},
    }
    assert [row["name"] for row in paused["data"]] == ["Newer"]


def test_it_gets_a_campaign_with_stats_from_its_counters(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=4)
    with time_machine.travel(TUESDAY_MORNING_NY, tick=False):
        owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")
        dispatch_due(now=TUESDAY_MORNING_NY)
        first, second, third, _fourth = CallSession.objects.order_by("id")
        CallSession.objects.filter(pk=first.pk).update(
            status=CallStatus.COMPLETED,
            carrier_call_sid="CA1",
            answered_by=AnsweredBy.HUMAN,
            answered_at=TUESDAY_MORNING_NY,
            duration_seconds=90,
            outcome=Outcome.INTERESTED,
            cost="0.0130",
            cost_currency="USD",
        )
        CallSession.objects.filter(pk=second.pk).update(
            status=CallStatus.NO_ANSWER, carrier_call_sid="CA2"
        )
        CallSession.objects.filter(pk=third.pk).update(
            status=CallStatus.COMPLETED,
            carrier_call_sid="CA3",
            answered_by=AnsweredBy.MACHINE,
            answered_at=TUESDAY_MORNING_NY,
            duration_seconds=30,
            outcome=Outcome.VOICEMAIL,
        )
        for session in (first, second, third):
            record_outcome(session_id=session.pk)

        response = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}")

    stats = empty_stats(4)
    stats["contacts"] = {
        "total": 4,
        "pending": 2,
        "inProgress": 1,
        "completed": 1,
        "failed": 0,
        "doNotCall": 0,
        "exhausted": 0,
        "waitingForCapacity": 0,
    }
    stats["calls"] = {
        "placed": 4,
        "finished": 3,
        "answered": 2,
        "human": 1,
        "machine": 1,
        "busy": 0,
        "noAnswer": 1,
        "failed": 0,
    }
    stats["outcomes"] = {**stats["outcomes"], "interested": 1, "voicemail": 1, "noAnswer": 1}
    stats["talkTime"] = {"totalSeconds": 120, "averageSeconds": 60.0}
    stats["answerRate"] = 0.6667
    stats["progressPercent"] = 25.0
    stats["cost"] = {"total": "0.0130", "currency": "USD", "calls": 1}
    # Its one tick placed every contact's call.
    dialling = {
        "state": "dialling",
        "reason": None,
        "nextDialAt": None,
        "waitingForCapacity": 0,
        "nextDialLocal": None,
        "message": "Dialling.",
    }
    assert response.json() == {
        "success": True,
        "data": campaign_payload(campaign, stats, dialling),
    }


def test_it_starts_pauses_resumes_and_stops_with_an_audit_trail(owner, make_campaign):
    campaign = make_campaign(owner.organization)

    statuses = [
        owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/{verb}").json()["data"]["status"]
        for verb in ("start", "pause", "start", "stop")
    ]

    assert statuses == ["running", "paused", "running", "stopped"]
    transitions = list(
        CampaignTransition.objects.filter(campaign=campaign).values_list(
            "from_status", "to_status", "actor_api_key_id", "actor_system"
        )
    )
    key = owner.api_key.pk
    assert transitions == [
        ("draft", "running", key, ""),
        ("running", "paused", key, ""),
        ("paused", "running", key, ""),
        ("running", "stopped", key, ""),
    ]
    campaign.refresh_from_db()
    assert campaign.started_at is not None
    assert campaign.completed_at is not None


def test_it_schedules_a_campaign_that_starts_later_and_the_dispatcher_starts_it(
    owner, make_campaign
):
    start_at = TUESDAY_MORNING_NY + timedelta(hours=1)
    campaign = make_campaign(owner.organization, start_at=start_at)

    with time_machine.travel(TUESDAY_MORNING_NY, tick=False):
        response = owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")
        dispatch_due(now=TUESDAY_MORNING_NY)
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.SCHEDULED
        claimed = dispatch_due(now=start_at)

    assert response.json()["data"]["status"] == "scheduled"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert claimed == 3
    assert CampaignTransition.objects.filter(campaign=campaign).last().actor_system == (
        "dispatcher: start time reached"
    )


@pytest.mark.parametrize(
    ("status", "verb"),
    [
        (CampaignStatus.DRAFT, "pause"),
        (CampaignStatus.DRAFT, "stop"),
        (CampaignStatus.SCHEDULED, "pause"),
        (CampaignStatus.RUNNING, "start"),
        (CampaignStatus.PAUSED, "pause"),
        (CampaignStatus.STOPPED, "start"),
        (CampaignStatus.STOPPED, "stop"),
        (CampaignStatus.COMPLETED, "start"),
        (CampaignStatus.COMPLETED, "pause"),
        (CampaignStatus.COMPLETED, "stop"),
    ],
)
def test_it_refuses_transitions_the_state_machine_does_not_allow(
    owner, make_campaign, status, verb
):
    campaign = make_campaign(owner.organization, status=status)

    response = owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/{verb}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVALID_STATE"
    campaign.refresh_from_db()
    assert campaign.status == status
    assert not CampaignTransition.objects.exists()


def test_it_hides_another_organizations_campaign_on_every_route(owner, outsider, make_campaign):
    campaign = make_campaign(owner.organization)

    for method, suffix in [
        ("get", ""),
        ("get", "/sessions"),
        ("post", "/start"),
        ("post", "/pause"),
        ("post", "/stop"),
    ]:
        response = getattr(outsider.client, method)(f"{CAMPAIGNS}/{campaign.pk}{suffix}")
        assert response.status_code == 404, suffix
        assert response.json()["error"]["code"] == "NOT_FOUND"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_it_refuses_another_organizations_script_voice_list_and_caller_id(owner, outsider, graph):
    foreign = CampaignFactory(organization=outsider.organization)

    response = owner.client.post(
        CAMPAIGNS,
        create_body(
            graph,
            scriptId=foreign.script_id,
            voiceId=foreign.voice_id,
            contactListId=foreign.contact_list_id,
            callerId=foreign.caller_id_id,
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "scriptId": ["Not found in your organization."],
        "voiceId": ["Not found in your organization."],
        "contactListId": ["Not found in your organization."],
        "callerId": ["Not found in your organization."],
    }
    assert Campaign.objects.filter(organization=owner.organization).count() == 0


def test_it_forbids_viewers_from_creating_or_starting(viewer, make_campaign, graph):
    campaign = make_campaign(viewer.organization)

    created = viewer.client.post(CAMPAIGNS, create_body(graph), format="json")
    started = viewer.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")
    read = viewer.client.get(f"{CAMPAIGNS}/{campaign.pk}")

    assert created.status_code == 403
    assert started.status_code == 403
    assert read.status_code == 200
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "details"),
    [
        ({"maxConcurrentCalls": 0}, {"maxConcurrentCalls": ["Must be from 1 to 500."]}),
        ({"maxConcurrentCalls": 10_000}, {"maxConcurrentCalls": ["Must be from 1 to 500."]}),
        (
            {"callsPerSecond": 0},
            {"callsPerSecond": ["Must be above 0 and at most 50 (the carrier account's cap)."]},
        ),
        (
            {"callsPerSecond": 51},
            {"callsPerSecond": ["Must be above 0 and at most 50 (the carrier account's cap)."]},
        ),
        (
            {"windowStart": "18:00", "windowEnd": "09:00"},
            {"windowEnd": ["The window must end after it starts."]},
        ),
        (
            {"windowStart": "07:00", "windowEnd": "22:00"},
            {
                "windowStart": ["Calls may not start before 08:00 local time."],
                "windowEnd": ["Calls may not go past 21:00 local time."],
            },
        ),
        (
            {"daysOfWeek": [0, 7]},
            {"daysOfWeek": ["Give distinct days from 0 (Monday) to 6 (Sunday)."]},
        ),
        ({"daysOfWeek": []}, {"daysOfWeek": ["Give distinct days from 0 (Monday) to 6 (Sunday)."]}),
        (
            {"startAt": "2026-04-02T10:00:00Z", "endAt": "2026-04-01T10:00:00Z"},
            {"endAt": ["The campaign must end after it starts."]},
        ),
        ({"maxAttempts": 0}, {"maxAttempts": ["Must be from 1 to 10."]}),
        (
            {"retryBusyMinutes": 0},
            {"retryBusyMinutes": ["Must be from 1 to 10080 minutes (a week)."]},
        ),
        ({"voiceId": 987654}, {"voiceId": ["Not found in your organization."]}),
        ({"status": "running"}, {"status": ["Unknown field."]}),
        ({"windowStart": "9am"}, None),
    ],
)
def test_it_refuses_bad_campaign_settings_and_creates_nothing(owner, graph, change, details):
    response = owner.client.post(CAMPAIGNS, create_body(graph, **change), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    if details is not None:
        assert response.json()["error"]["details"] == details
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("problem", "details"),
    [
        (
            "voice_processing",
            {"voiceId": ["The voice is processing; only a ready voice can call."]},
        ),
        ("voice_failed", {"voiceId": ["The voice is failed; only a ready voice can call."]}),
        ("empty_list", {"contactListId": ["The contact list is empty."]}),
        ("ended", {"endAt": ["The campaign's end time has passed."]}),
    ],
)
def test_it_refuses_to_start_a_campaign_that_is_not_ready(owner, make_campaign, problem, details):
    campaign = make_campaign(
        owner.organization,
        contacts=0 if problem == "empty_list" else 2,
        end_at=datetime(2020, 1, 1, tzinfo=UTC) if problem == "ended" else None,
    )
    if problem == "voice_processing":
        campaign.voice.status = VoiceStatus.PROCESSING
        campaign.voice.save()
    if problem == "voice_failed":
        campaign.voice.status = VoiceStatus.FAILED
        campaign.voice.save()

    response = owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == details
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.materialize_until_id is None
    assert not campaign.targets.exists()
    assert not CampaignTransition.objects.exists()


def test_it_refuses_to_start_when_the_caller_id_is_not_the_organizations(
    owner, outsider, make_campaign
):
    campaign = make_campaign(owner.organization)
    # Only reachable by editing rows behind the API's back (the API checks on create).
    Campaign.objects.filter(pk=campaign.pk).update(
        caller_id=CallerIdFactory(organization=outsider.organization)
    )

    response = owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "callerId": ["The caller ID is not registered to your organization."]
    }


def test_it_lists_a_campaigns_sessions_with_filters_and_cursor(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=3)
    with time_machine.travel(TUESDAY_MORNING_NY, tick=False):
        owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")
        dispatch_due(now=TUESDAY_MORNING_NY)
    newest = CallSession.objects.order_by("-id").first()
    CallSession.objects.filter(pk=newest.pk).update(status=CallStatus.BUSY)

    page = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/sessions", {"limit": 2}).json()
    busy = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/sessions", {"status": "busy"}).json()
    bad = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/sessions", {"status": "nope"})

    assert page["meta"]["total"] == 3
    assert page["meta"]["hasMore"] is True
    assert len(page["data"]) == 2
    session = CallSession.objects.get(pk=page["data"][0]["id"])
    assert page["data"][0] == {
        "id": session.pk,
        "kind": "campaign",
        "contactId": session.contact_id,
        "attemptNumber": 1,
        "toNumber": session.to_number,
        "fromNumber": session.from_number,
        "status": "busy",
        "answeredBy": "",
        "outcome": "",
        "queuedAt": iso(TUESDAY_MORNING_NY),
        "placedAt": None,
        "answeredAt": None,
        "endedAt": None,
        "durationSeconds": None,
        "endReason": "",
        "callbackAt": None,
        "cost": None,
        "costCurrency": "",
        "compliance": session.compliance,
    }
    assert [row["id"] for row in busy["data"]] == [newest.pk]
    assert bad.status_code == 400


# --- Issue 13 item 6: "leave the script's voicemail message" needs a message -----------------

NO_VOICEMAIL_MESSAGE = [
    'The script "Silent" has no voicemail message: add one to the script, or choose "hang_up".'
]


def test_it_refuses_to_leave_a_voicemail_message_the_script_does_not_have(owner, graph):
    silent = ScriptFactory(organization=owner.organization, name="Silent", voicemail_message="")

    refused = owner.client.post(
        CAMPAIGNS,
        create_body(graph, scriptId=silent.pk, voicemailBehaviour="leave_message"),
        format="json",
    )
    hanging_up = owner.client.post(
        CAMPAIGNS,
        create_body(graph, scriptId=silent.pk, voicemailBehaviour="hang_up"),
        format="json",
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert refused.json()["error"]["details"] == {"voicemailBehaviour": NO_VOICEMAIL_MESSAGE}
    assert hanging_up.status_code == 201
    assert Campaign.objects.get().voicemail_behaviour == "hang_up"


def test_it_refuses_to_start_when_the_script_lost_its_voicemail_message(owner, make_campaign):
    campaign = make_campaign(owner.organization, voicemail_behaviour="leave_message")
    # Edited after the campaign was created: the start checks again.
    campaign.script.name = "Silent"
    campaign.script.voicemail_message = ""
    campaign.script.save()

    response = owner.client.post(f"{CAMPAIGNS}/{campaign.pk}/start")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"voicemailBehaviour": NO_VOICEMAIL_MESSAGE}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


# --- Issue 13 item 7: a campaign not started yet counts its list's contacts -----------------


def test_a_draft_campaign_counts_its_lists_contacts_as_pending(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=8)

    got = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}").json()["data"]
    listed = owner.client.get(CAMPAIGNS).json()["data"]

    assert got["stats"] == empty_stats(8)
    assert (got["stats"]["contacts"]["total"], got["stats"]["contacts"]["pending"]) == (8, 8)
    assert [row["stats"] for row in listed] == [empty_stats(8)]


def test_the_campaign_list_reads_list_counts_without_a_query_per_campaign(owner, make_campaign):
    make_campaign(owner.organization, contacts=2)
    owner.client.get(CAMPAIGNS)  # the key's first use writes its last-used time
    with CaptureQueriesContext(connection) as one:
        owner.client.get(CAMPAIGNS)
    for contacts in (3, 4, 5):
        make_campaign(owner.organization, contacts=contacts)
    with CaptureQueriesContext(connection) as four:
        rows = owner.client.get(CAMPAIGNS).json()["data"]

    assert len(four.captured_queries) == len(one.captured_queries)
    assert [row["stats"]["contacts"]["total"] for row in rows] == [5, 4, 3, 2]


# --- Issue 13 item 8: callerId is optional ---------------------------------------------------


def test_without_a_caller_id_a_campaign_calls_from_the_organizations_only_one(owner, graph):
    body = create_body(graph)
    del body["callerId"]

    response = owner.client.post(CAMPAIGNS, body, format="json")

    assert response.status_code == 201
    assert response.json()["data"]["callerId"] == graph["caller_id"].pk


def test_without_a_caller_id_a_campaign_calls_from_the_default_one(owner, outsider, graph):
    CallerIdFactory(organization=outsider.organization, phone_number="+15555550150")
    default = CallerIdFactory(
        organization=owner.organization, phone_number="+15555550101", is_default=True
    )
    CallerIdFactory(organization=owner.organization, phone_number="+15555550102")

    response = owner.client.post(CAMPAIGNS, create_body(graph, callerId=None), format="json")

    assert response.status_code == 201
    assert response.json()["data"]["callerId"] == default.pk
    assert response.json()["data"]["callerIdNumber"] == "+15555550101"


def test_without_a_caller_id_several_and_no_default_are_refused_naming_the_field(owner, graph):
    CallerIdFactory(organization=owner.organization, phone_number="+15555550101")
    body = create_body(graph)
    del body["callerId"]

    response = owner.client.post(CAMPAIGNS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == {
        "callerId": ["Your organization has 2 caller IDs and none is the default: name one."]
    }
    assert not Campaign.objects.exists()


def test_without_a_caller_id_an_organization_with_none_is_told_to_register_one(owner, graph):
    graph["caller_id"].delete()
    body = create_body(graph)
    del body["callerId"]

    response = owner.client.post(CAMPAIGNS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "callerId": ["Your organization has no caller ID: register one (/phone-numbers)."]
    }


def test_the_schema_says_caller_id_is_optional_and_what_it_defaults_to(owner):
    schema = owner.client.get("/api/v1/voice/schema/", {"format": "json"}).json()
    write = schema["components"]["schemas"]["CampaignWriteRequest"]

    assert "callerId" not in write.get("required", [])
    assert "default caller ID" in write["properties"]["callerId"]["description"]
    numbers = schema["components"]["schemas"]["CallerId"]["properties"]
    assert "isDefault" in numbers


def test_a_campaigns_transfer_target_kind_is_saved_and_checked(owner, graph):
    """Who answers the transfer number: a person (the default, the calling window applies)
    or a business line."""
    body = create_body(graph, transferNumber="+12125550118", transferTargetKind="business")
    response = owner.client.post(CAMPAIGNS, body, format="json")
    assert response.status_code == 201
    assert response.json()["data"]["transferTargetKind"] == "business"
    assert Campaign.objects.get().transfer_target_kind == "business"

    default = owner.client.post(CAMPAIGNS, create_body(graph, name="Other"), format="json")
    assert default.json()["data"]["transferTargetKind"] == "person"

    bad = owner.client.post(
        CAMPAIGNS, create_body(graph, name="Bad", transferTargetKind="robot"), format="json"
    )
    assert bad.status_code == 400
    assert "transferTargetKind" in str(bad.json())
