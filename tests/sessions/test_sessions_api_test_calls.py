"""`POST /api/v1/voice/calls/test`: validation, compliance, tenancy, the enqueue and its limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from campaigns.factories import CallerIdFactory, DoNotCallEntryFactory
from scripts.factories import ScriptFactory
from sessions.models import CallEvent, CallSession, CallStatus, SessionKind
from voices.factories import VoiceFactory
from voices.models import VoiceStatus

TEST_CALLS = "/api/v1/voice/calls/test"


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _inside_the_calling_window():
    # Test calls obey the calling window at the number (Washington DC here): a Tuesday 10:00
    # EST, whatever the hour the suite runs at. The clock ticks, for the rate limit's sake.
    with time_machine.travel(datetime(2026, 3, 3, 15, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def placed(placement_tasks) -> list[int]:
    return placement_tasks


@pytest.fixture
def setup(owner):
    org = owner.organization
    return {
        "script": ScriptFactory(organization=org),
        "voice": VoiceFactory(organization=org),
        "caller": CallerIdFactory(organization=org, phone_number="+14155550100"),
        "second_caller": CallerIdFactory(organization=org, phone_number="+14155550101"),
    }


def body(setup, **changes):
    data = {
        "to": "+12025550111",
        "script": setup["script"].pk,
        "voice": setup["voice"].pk,
        "variables": {"first_name": "Jordan"},
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_it_places_a_test_call_after_commit(
    owner, setup, placed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = owner.client.post(TEST_CALLS, body(setup), format="json")

    assert response.status_code == 201, response.json()
    session = CallSession.objects.get()
    assert placed == [session.pk]
    assert len(callbacks) == 1
    assert session.kind == SessionKind.TEST
    assert session.status == CallStatus.QUEUED
    assert session.to_number == "+12025550111"
    # The first registered caller ID is the default.
    assert session.from_number == "+14155550100"
    assert session.script_version.script == setup["script"]
    assert session.script_version.number == setup["script"].version
    assert session.voice == setup["voice"]
    assert session.variables == {"first_name": "Jordan"}
    data = response.json()["data"]
    assert data["id"] == session.pk
    assert data["kind"] == "test"
    assert data["status"] == "queued"
    assert data["script"] == {"id": setup["script"].pk, "version": 1}
    assert data["voice"] == setup["voice"].pk
    assert data["transcript"] == []
    assert data["events"]["byKind"] == {"test_call.requested": 1}
    assert list(CallEvent.objects.values_list("kind", flat=True)) == ["test_call.requested"]


@pytest.mark.parametrize("caller", ["second", "+14155550101", "+1 415-555-0101"])
def test_it_calls_from_a_chosen_caller_id(owner, setup, placed, caller):
    value = str(setup["second_caller"].pk) if caller == "second" else caller

    response = owner.client.post(TEST_CALLS, {**body(setup), "from": value}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["data"]["fromNumber"] == "+14155550101"


@pytest.mark.parametrize(
    ("changes", "details"),
    [
        (
            {"to": "12025550111"},
            {"to": ["Enter a valid phone number in E.164 form (+14155550100)."]},
        ),
        ({"to": "+1202555"}, {"to": ["Enter a valid phone number in E.164 form (+14155550100)."]}),
        ({"to": "call me"}, {"to": ["Enter a valid phone number in E.164 form (+14155550100)."]}),
        ({"to": None}, {"to": ["This field is required."]}),
        (
            {"to": "+10000000000"},
            {"to": ["Enter a valid phone number in E.164 form (+14155550100)."]},
        ),
        ({"from": "0" * 30}, {"from": ["This caller ID is not registered to your organization."]}),
        ({"script": "abc"}, {"script": ["A valid integer is required."]}),
        ({"script": 999999}, {"script": ["No such script in your organization."]}),
        ({"voice": 999999}, {"voice": ["No such voice in your organization."]}),
        (
            {"from": "+19998887777"},
            {"from": ["This caller ID is not registered to your organization."]},
        ),
        (
            {"variables": ["x"]},
            {"variables": ['Expected a dictionary of items but got type "list".']},
        ),
        ({"campaign": 1}, {"campaign": ["Unknown field."]}),
    ],
)
def test_it_refuses_bad_test_calls_and_places_nothing(owner, setup, placed, changes, details):
    response = owner.client.post(TEST_CALLS, body(setup, **changes), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == details
    assert not CallSession.objects.exists()
    assert placed == []


def test_it_refuses_a_voice_that_is_not_ready(owner, setup, placed):
    setup["voice"].status = VoiceStatus.PROCESSING
    setup["voice"].save()

    response = owner.client.post(TEST_CALLS, body(setup), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "voice": ["This voice is not ready (status: processing)."]
    }


def test_it_refuses_without_a_registered_caller_id(owner, setup, placed):
    setup["caller"].delete()
    setup["second_caller"].delete()

    response = owner.client.post(TEST_CALLS, body(setup), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "from": ["The organization has no registered caller ID."]
    }


def test_it_refuses_a_number_on_the_do_not_call_list(owner, outsider, setup, placed):
    DoNotCallEntryFactory(organization=owner.organization, phone_number="+12025550111")
    # Another organization's list does not apply.
    DoNotCallEntryFactory(organization=outsider.organization, phone_number="+12025550122")

    refused = owner.client.post(TEST_CALLS, body(setup), format="json")
    allowed = owner.client.post(TEST_CALLS, body(setup, to="+12025550122"), format="json")

    assert refused.status_code == 409
    assert refused.json() == {
        "success": False,
        "error": {
            "code": "CONFLICT",
            "message": "This number is on your organization's do-not-call list.",
            "details": {"to": ["This number is on the do-not-call list."]},
        },
    }
    assert allowed.status_code == 201
    assert list(CallSession.objects.values_list("to_number", flat=True)) == ["+12025550122"]


def test_it_refuses_another_organizations_script_voice_and_caller_id(
    owner, outsider, setup, placed
):
    theirs = outsider.organization
    script = ScriptFactory(organization=theirs)
    voice = VoiceFactory(organization=theirs)
    caller = CallerIdFactory(organization=theirs, phone_number="+14155550177")

    responses = [
        owner.client.post(TEST_CALLS, body(setup, script=script.pk), format="json"),
        owner.client.post(TEST_CALLS, body(setup, voice=voice.pk), format="json"),
        owner.client.post(TEST_CALLS, {**body(setup), "from": str(caller.pk)}, format="json"),
        owner.client.post(TEST_CALLS, {**body(setup), "from": "+14155550177"}, format="json"),
    ]

    assert [r.status_code for r in responses] == [400, 400, 400, 400]
    assert [list(r.json()["error"]["details"]) for r in responses] == [
        ["script"],
        ["voice"],
        ["from"],
        ["from"],
    ]
    assert not CallSession.objects.exists()


def test_it_lets_only_writers_place_test_calls(viewer, setup, placed):
    response = viewer.client.post(TEST_CALLS, body(setup), format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert not CallSession.objects.exists()


def test_it_limits_test_calls_to_ten_an_hour_per_organization(
    owner, member, outsider, setup, placed
):
    statuses = [
        (owner if n % 2 else member).client.post(TEST_CALLS, body(setup), format="json").status_code
        for n in range(10)
    ]
    limited = owner.client.post(TEST_CALLS, body(setup), format="json")
    other_org = outsider.client.post(
        TEST_CALLS,
        {
            "to": "+12025550111",
            "script": ScriptFactory(organization=outsider.organization).pk,
            "voice": VoiceFactory(organization=outsider.organization).pk,
            "from": CallerIdFactory(organization=outsider.organization).phone_number,
        },
        format="json",
    )

    assert statuses == [201] * 10
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert other_org.status_code == 201
    assert CallSession.objects.filter(organization=owner.organization).count() == 10


# --- recording (issue 17: test calls are recorded like campaign calls unless asked not to) ---
def test_a_test_call_is_recorded_by_default_like_a_campaign_call(owner, setup, placed):
    from sessions.carrier.calls import RecordingMode, recording_plan

    response = owner.client.post(TEST_CALLS, body(setup), format="json")

    assert response.status_code == 201, response.json()
    session = CallSession.objects.get()
    assert session.test_call_recorded is True
    assert recording_plan(session).mode is RecordingMode.FROM_ANSWER
    assert CallEvent.objects.get(kind="test_call.requested").data["record"] is True


def test_a_test_call_asked_not_to_record_is_placed_unrecorded(owner, setup, placed):
    from sessions.carrier.calls import RecordingMode, outbound_call, recording_plan

    response = owner.client.post(TEST_CALLS, body(setup, record=False), format="json")

    assert response.status_code == 201, response.json()
    session = CallSession.objects.get()
    assert session.test_call_recorded is False
    assert recording_plan(session).mode is RecordingMode.NONE
    assert outbound_call(session).record is False


def test_a_recorded_test_call_says_its_scripts_disclosure_first(owner, setup, placed):
    from scripts import services as script_services
    from sessions.carrier.calls import RecordingMode, outbound_call, recording_plan

    script = setup["script"]
    script_services.script_update(
        script=script,
        fields={
            "recording_disclosure_required": True,
            "recording_disclosure": "This call is recorded by {{business_name}}.",
        },
    )

    response = owner.client.post(TEST_CALLS, body(setup), format="json")

    assert response.status_code == 201, response.json()
    session = CallSession.objects.get()
    plan = recording_plan(session)
    assert plan.mode is RecordingMode.AFTER_DISCLOSURE
    assert plan.disclosure_text == f"This call is recorded by {owner.organization.name}."
    assert outbound_call(session).record is False  # recording starts after the disclosure
