"""Issue 15 items 6 and 11: a caller ID belongs to one organization; calling hours hold.

The attacks the security probe ran, replayed through the API: organization B registers A's
number and calls from it; a test call to New York at 03:59 local time; a test call to a UK
premium-rate number. Runs on SQLite and on PostgreSQL (`DATABASE_URL`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import IntegrityError, transaction

from campaigns.factories import CallerIdFactory
from campaigns.models import CallerId
from scripts.factories import ScriptFactory
from sessions.models import CallEvent, CallSession
from voices.factories import VoiceFactory

PREFIX = "/api/v1/voice"
NUMBERS = f"{PREFIX}/phone-numbers"
TEST_CALLS = f"{PREFIX}/calls/test"
NEW_YORK = "+12125550166"
# Tuesday 3 March 2026, EST (UTC-5).
AT_0359_NEW_YORK = datetime(2026, 3, 3, 8, 59, tzinfo=UTC)
AT_1000_NEW_YORK = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
ALREADY_REGISTERED = {
    "success": False,
    "error": {
        "code": "CONFLICT",
        "message": "This number is already registered.",
        "details": {"phoneNumber": ["This number is already registered."]},
    },
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CAMPAIGNS_CALLER_ID_CHECK = "simulator"


@pytest.fixture
def caller(owner):
    organization = owner.organization
    return {
        "script": ScriptFactory(organization=organization).pk,
        "voice": VoiceFactory(organization=organization).pk,
        "from": CallerIdFactory(organization=organization, phone_number="+14155550100").pk,
    }


def request_test_call(owner, caller, **fields):
    body = {"to": NEW_YORK, "script": caller["script"], "voice": caller["voice"], **fields}
    return owner.client.post(TEST_CALLS, body, format="json")


# --- Item 6: a number belongs to one organization ---------------------------------------------


def test_it_refuses_a_number_another_organization_registered_without_saying_whose(
    owner, outsider, placement_tasks
):
    mine = owner.client.post(NUMBERS, {"phoneNumber": "+15555550150"}, format="json")

    theirs = outsider.client.post(NUMBERS, {"phoneNumber": "+1 555 555 0150"}, format="json")
    again = owner.client.post(NUMBERS, {"phoneNumber": "+15555550150"}, format="json")
    call_from_it = outsider.client.post(
        TEST_CALLS,
        {
            "to": NEW_YORK,
            "script": ScriptFactory(organization=outsider.organization).pk,
            "voice": VoiceFactory(organization=outsider.organization).pk,
            "from": "+15555550150",
        },
        format="json",
    )

    assert mine.status_code == 201
    # The owner's own duplicate and another organization's answer alike: nothing says whose.
    assert (theirs.status_code, theirs.json()) == (409, ALREADY_REGISTERED)
    assert (again.status_code, again.json()) == (409, ALREADY_REGISTERED)
    assert call_from_it.status_code == 400
    assert call_from_it.json()["error"]["details"] == {
        "from": ["This caller ID is not registered to your organization."]
    }
    assert list(CallerId.objects.values_list("organization", "phone_number")) == [
        (owner.organization.pk, "+15555550150")
    ]
    assert placement_tasks == []


def test_the_database_holds_one_organization_per_number(owner, outsider):
    CallerIdFactory(organization=owner.organization, phone_number="+15555550150")

    with pytest.raises(IntegrityError), transaction.atomic():
        CallerId.objects.create(organization=outsider.organization, phone_number="+15555550150")

    assert CallerId.objects.count() == 1


# --- Item 11: test calls obey the calling window ----------------------------------------------


def test_a_test_call_at_0359_in_new_york_is_refused(owner, caller, placement_tasks):
    with time_machine.travel(AT_0359_NEW_YORK, tick=False):
        response = request_test_call(owner, caller)

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": {
                "to": [
                    "Outside the calling window at the number's local time "
                    "(2026-03-03 03:59 EST (Tuesday)); the next allowed time is "
                    "2026-03-03T13:00:00+00:00. Send overrideCallingWindow: true with an "
                    "overrideReason to call anyway."
                ]
            },
        },
    }
    assert not CallSession.objects.exists()
    assert placement_tasks == []


def test_an_explicit_override_calls_and_is_recorded_in_the_evidence(
    owner, caller, placement_tasks, django_capture_on_commit_callbacks
):
    with time_machine.travel(AT_0359_NEW_YORK, tick=False):
        without_reason = request_test_call(owner, caller, overrideCallingWindow=True)
        with django_capture_on_commit_callbacks(execute=True):
            response = request_test_call(
                owner,
                caller,
                overrideCallingWindow=True,
                overrideReason="  Calling my own phone to hear the script  ",
            )

    assert without_reason.status_code == 400
    assert without_reason.json()["error"]["details"] == {
        "overrideReason": ["Say why the calling window is overridden."]
    }
    assert response.status_code == 201, response.json()
    session = CallSession.objects.get()
    assert placement_tasks == [session.pk]
    evidence = session.compliance
    assert evidence["calling_window"] == {
        "inside": False,
        "next_allowed_at": "2026-03-03T13:00:00+00:00",
        "overridden": True,
        "override_reason": "Calling my own phone to hear the script",
        "overridden_by": {"user": None, "api_key": owner.api_key.pk},
    }
    assert evidence["time_zones"] == ["America/New_York"]
    assert evidence["local_times"] == {"America/New_York": "2026-03-03 03:59 EST (Tuesday)"}
    assert [rule["rule"] for rule in evidence["rules"]] == [
        "US",
        "number-type",
        "do-not-call",
    ]
    assert evidence["why"].startswith(
        "Local time 2026-03-03 03:59 EST (Tuesday) is outside the calling window; overridden: "
        "Calling my own phone to hear the script"
    )
    override = CallEvent.objects.get(kind="test_call.calling_window_overridden")
    assert override.data == {
        "reason": "Calling my own phone to hear the script",
        "localTimes": {"America/New_York": "2026-03-03 03:59 EST (Tuesday)"},
    }


def test_a_test_call_inside_the_window_records_what_was_checked(owner, caller, placement_tasks):
    with time_machine.travel(AT_1000_NEW_YORK, tick=False):
        response = request_test_call(owner, caller)

    assert response.status_code == 201, response.json()
    evidence = CallSession.objects.get().compliance
    assert evidence["allowed"] is True
    assert evidence["calling_window"] == {
        "inside": True,
        "next_allowed_at": None,
        "overridden": False,
    }
    assert evidence["region"] == "NY"
    assert not CallEvent.objects.filter(kind="test_call.calling_window_overridden").exists()


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("+449098790000", "a premium-rate number"),  # UK 09x
        ("+19005550100", "a premium-rate number"),  # US 900
        ("+448712345678", "a premium-rate number"),  # UK 087x (service charge)
        ("+447012345678", "a personal (follow-me) number"),  # UK 070
        ("+445512345678", "a universal access number"),  # UK 055
    ],
)
def test_premium_rate_and_non_geographic_numbers_are_refused_even_with_the_override(
    owner, caller, placement_tasks, number, kind
):
    with time_machine.travel(AT_1000_NEW_YORK, tick=False):
        response = request_test_call(
            owner, caller, to=number, overrideCallingWindow=True, overrideReason="probe"
        )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "to": [f"This is {kind}; test calls do not call those."]
    }
    assert not CallSession.objects.exists()
