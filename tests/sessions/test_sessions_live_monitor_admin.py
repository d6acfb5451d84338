"""The live monitor's cards, its hang-up / transfer-to-me controls, the member's phone number
and the admin's test-call page: roles and organization scoping (issue 17)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import time_machine
from django.test import Client

from anvil_voice.telephony.carrier import ColdTransfer, OutboundCall
from campaigns.factories import CallerIdFactory, CampaignFactory
from scripts.factories import ScriptFactory
from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.live.cards import mask_number, monitor_card
from sessions.live.controls import STAFF_HANG_UP, STAFF_TRANSFER
from sessions.models import (
    CallEvent,
    CallSession,
    CallStatus,
    Outcome,
    SessionKind,
    Speaker,
    Transfer,
)
from voices.factories import VoiceFactory

pytestmark = pytest.mark.django_db
MY_PHONE = "+14155550123"


class ControlCarrier:
    """Writes down what the controls asked of the carrier."""

    name = "control"
    hung_up: ClassVar[list[int]] = []
    transfers: ClassVar[list[tuple[int, str]]] = []

    def hang_up(self, call: OutboundCall) -> None:
        self.hung_up.append(call.reference)

    def transfer_cold(self, call: OutboundCall, transfer: ColdTransfer) -> None:
        self.transfers.append((call.reference, transfer.target))

    def end_with_message(self, call: OutboundCall, text: str) -> None:
        raise AssertionError("a valid transfer must not end the call")


@pytest.fixture(autouse=True)
def _carrier(settings: Any) -> None:
    settings.CARRIER_BACKEND = f"{__name__}.ControlCarrier"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ControlCarrier.hung_up.clear()
    ControlCarrier.transfers.clear()


def staff_client(persona: Any, *, csrf: bool = False) -> Client:
    user = persona.membership.user
    user.is_staff = True
    user.save()
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def live_call(organization: Any, **fields: Any) -> CallSession:
    fields.setdefault("status", CallStatus.IN_PROGRESS)
    fields.setdefault("carrier_call_sid", f"CA{CallSession.objects.count() + 1:032d}")
    return CallSessionFactory(organization=organization, **fields)


# --- cards -------------------------------------------------------------------------------------
def test_a_number_is_masked_to_its_country_and_last_four_digits():
    assert mask_number("+12125554567") == "+1 ••• ••• 4567"
    assert mask_number("+447700900123") == "+44 ••• ••• 0123"
    assert mask_number("123") == "•••"


def test_a_card_names_the_contact_the_campaign_the_last_turns_and_the_reply_latency(acme):
    campaign = CampaignFactory(organization=acme, name="Dental recall")
    session = live_call(
        acme,
        campaign=campaign,
        to_number="+12125554567",
        variables={"first_name": "Dana", "last_name": "Reyes"},
        answered_at=datetime(2026, 3, 3, 15, 0, tzinfo=UTC),
    )
    TranscriptTurnFactory(session=session, index=0, speaker=Speaker.CONTACT, text="Hello?")
    TranscriptTurnFactory(
        session=session,
        index=1,
        speaker=Speaker.AGENT,
        text="Hi Dana!",
        start_ms=1500,
        latency={"since": "speech_end", "first_frame_ms": 612.4},
    )

    card = monitor_card(session)

    assert card["contactName"] == "Dana Reyes"
    assert card["maskedNumber"] == "+1 ••• ••• 4567"
    assert card["campaign"] == "Dental recall"
    assert card["statusLabel"] == "In progress"
    assert card["url"] == f"/admin/call_sessions/callsession/{session.pk}/change/"
    assert card["startedAt"] == "2026-03-03T15:00:00+00:00"
    assert [turn["text"] for turn in card["turns"]] == ["Hello?", "Hi Dana!"]
    assert card["replyLatencyMs"] == 612


def test_a_test_calls_card_says_test_call(acme):
    session = live_call(acme, kind=SessionKind.TEST)

    card = monitor_card(session)

    assert card["campaign"] == "Test call"
    assert card["contactName"] == "Unknown contact"
    assert card["replyLatencyMs"] is None


# --- the page and its card endpoint ----------------------------------------------------------
def _page_cards(response: Any) -> list[dict[str, Any]]:
    found = re.search(
        r'<script id="monitor-cards" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found is not None
    return list(json.loads(found.group(1)))


def test_the_page_shows_only_the_organizations_live_calls_with_their_cards(
    owner, outsider, acme, globex
):
    mine = live_call(acme, variables={"first_name": "Dana"})
    live_call(globex, variables={"first_name": "Theirs"})
    live_call(acme, status=CallStatus.COMPLETED)

    cards = _page_cards(staff_client(owner).get("/admin/live/"))

    assert [card["sessionId"] for card in cards] == [mine.pk]
    assert cards[0]["contactName"] == "Dana"
    assert cards[0]["canControl"] is True


def test_the_page_can_follow_one_call(owner, acme):
    first = live_call(acme)
    live_call(acme)

    cards = _page_cards(staff_client(owner).get(f"/admin/live/?session={first.pk}"))

    assert [card["sessionId"] for card in cards] == [first.pk]


def test_a_viewer_sees_cards_without_controls(viewer, acme):
    live_call(acme)

    cards = _page_cards(staff_client(viewer).get("/admin/live/"))

    assert cards[0]["canControl"] is False


def test_the_card_endpoint_is_scoped_to_the_organization(owner, acme, globex):
    mine, theirs = live_call(acme), live_call(globex)
    client = staff_client(owner)

    assert client.get(f"/admin/live/{mine.pk}/card/").json()["sessionId"] == mine.pk
    assert client.get(f"/admin/live/{theirs.pk}/card/").status_code == 404


def test_the_monitor_refuses_people_who_are_not_staff(owner, acme):
    client = Client()
    client.force_login(owner.membership.user)

    assert client.get("/admin/live/").status_code == 302  # to the admin's login


# --- hang up -----------------------------------------------------------------------------------
def test_a_manager_hangs_up_through_the_carrier_and_it_is_audited(member, acme):
    session = live_call(acme)

    response = staff_client(member).post(f"/admin/live/{session.pk}/hang-up/")

    assert response.status_code == 200, response.content
    assert response.json()["done"] is True
    assert ControlCarrier.hung_up == [session.pk]
    event = CallEvent.objects.get(session=session, kind=STAFF_HANG_UP)
    assert event.data == {"user": member.membership.user.pk, "username": "mario"}


def test_a_viewer_cannot_hang_up(viewer, acme):
    session = live_call(acme)

    response = staff_client(viewer).post(f"/admin/live/{session.pk}/hang-up/")

    assert response.status_code == 403
    assert ControlCarrier.hung_up == []
    assert not CallEvent.objects.filter(kind=STAFF_HANG_UP).exists()


def test_another_organizations_call_is_not_found(outsider, acme):
    session = live_call(acme)
    client = staff_client(outsider)

    assert client.post(f"/admin/live/{session.pk}/hang-up/").status_code == 404
    assert client.post(f"/admin/live/{session.pk}/transfer-to-me/").status_code == 404
    assert ControlCarrier.hung_up == []
    assert ControlCarrier.transfers == []


def test_the_controls_need_a_post_with_the_csrf_token(owner, acme):
    session = live_call(acme)
    client = staff_client(owner, csrf=True)

    assert client.get(f"/admin/live/{session.pk}/hang-up/").status_code == 405
    assert client.post(f"/admin/live/{session.pk}/hang-up/").status_code == 403
    assert ControlCarrier.hung_up == []


def test_a_finished_call_is_not_hung_up_again(owner, acme):
    session = live_call(acme, status=CallStatus.COMPLETED)

    response = staff_client(owner).post(f"/admin/live/{session.pk}/hang-up/")

    assert response.status_code == 409
    assert response.json()["message"] == "This call has already ended."
    assert ControlCarrier.hung_up == []


# --- transfer to me ----------------------------------------------------------------------------
def test_transfer_to_me_needs_the_members_phone_number(owner, acme):
    session = live_call(acme)

    response = staff_client(owner).post(f"/admin/live/{session.pk}/transfer-to-me/")

    assert response.status_code == 409
    assert "phone number" in response.json()["message"]
    assert ControlCarrier.transfers == []


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 3, 3, 15, 0, tzinfo=UTC),  # 10:00 in New York
        datetime(2026, 3, 4, 4, 0, tzinfo=UTC),  # 23:00: outside a callee's calling window
    ],
)
def test_transfer_to_me_moves_the_call_to_the_members_phone_and_is_audited(owner, acme, now):
    session = live_call(acme)
    client = staff_client(owner)
    client.post("/admin/live/phone/", {"phone_number": MY_PHONE})

    # The member asked for the call: their own phone is not held to a callee's hours.
    with time_machine.travel(now, tick=False):
        response = client.post(f"/admin/live/{session.pk}/transfer-to-me/")

    assert response.status_code == 200, response.content
    assert ControlCarrier.transfers == [(session.pk, MY_PHONE)]
    transfer = Transfer.objects.get(session=session)
    assert (transfer.target_number, transfer.mode, transfer.reason) == (MY_PHONE, "cold", "staff")
    event = CallEvent.objects.get(session=session, kind=STAFF_TRANSFER)
    assert event.data["number"] == MY_PHONE
    assert event.data["user"] == owner.membership.user.pk
    session.refresh_from_db()
    assert (session.outcome, session.end_reason) == (Outcome.TRANSFERRED, "staff_transfer")


def test_a_viewer_cannot_take_a_call(viewer, acme):
    viewer.membership.phone_number = MY_PHONE
    viewer.membership.save()
    session = live_call(acme)

    response = staff_client(viewer).post(f"/admin/live/{session.pk}/transfer-to-me/")

    assert response.status_code == 403
    assert ControlCarrier.transfers == []


@pytest.mark.parametrize("number", ["4155550123", "+1415555", "+1 415 555 0123", "call me"])
def test_the_phone_number_must_be_e164(owner, number):
    client = staff_client(owner)

    response = client.post("/admin/live/phone/", {"phone_number": number}, follow=True)

    owner.membership.refresh_from_db()
    assert owner.membership.phone_number == ""
    assert "E.164" in response.content.decode()


# --- the test-call page ------------------------------------------------------------------------
@pytest.fixture
def test_call_setup(acme: Any) -> dict[str, Any]:
    CallerIdFactory(organization=acme, phone_number="+14155550100")
    return {
        "script": ScriptFactory(organization=acme, name="Spring offer"),
        "voice": VoiceFactory(organization=acme, name="Anna"),
    }


def _form(setup: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = {
        "script": setup["script"].pk,
        "voice": setup["voice"].pk,
        "to": "+12025550111",
        "first_name": "Dana",
        "record": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def _weekday_morning():
    # The calling window at the number (Washington DC): a Tuesday 10:00 EST.
    with time_machine.travel(datetime(2026, 3, 3, 15, 0, tzinfo=UTC), tick=True):
        yield


def test_the_test_call_form_records_by_default(owner, test_call_setup):
    response = staff_client(owner).get("/admin/live/test-call/")

    assert response.status_code == 200
    assert re.search(r'<input[^>]*name="record"[^>]*checked', response.content.decode())


@pytest.mark.usefixtures("_weekday_morning")
def test_a_test_call_from_the_admin_is_placed_recorded_and_followed_live(
    owner, test_call_setup, placement_tasks
):
    response = staff_client(owner).post("/admin/live/test-call/", _form(test_call_setup))

    session = CallSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/live/?session={session.pk}"
    assert session.kind == SessionKind.TEST
    assert session.test_call_recorded is True
    assert session.variables == {"first_name": "Dana"}
    assert CallEvent.objects.get(kind="test_call.requested").data["user"] == (
        owner.membership.user.pk
    )


@pytest.mark.usefixtures("_weekday_morning")
def test_an_unticked_record_box_places_the_call_unrecorded(owner, test_call_setup, placement_tasks):
    staff_client(owner).post("/admin/live/test-call/", _form(test_call_setup, record=None))

    assert CallSession.objects.get().test_call_recorded is False


@pytest.mark.usefixtures("_weekday_morning")
def test_the_services_refusals_show_on_the_form(owner, test_call_setup, placement_tasks):
    response = staff_client(owner).post(
        "/admin/live/test-call/", _form(test_call_setup, to="+1900555012")
    )

    assert response.status_code == 200
    assert "E.164" in response.content.decode()
    assert not CallSession.objects.exists()


def test_a_viewer_cannot_place_test_calls(viewer, test_call_setup):
    client = staff_client(viewer)

    assert client.get("/admin/live/test-call/").status_code == 403
    assert client.post("/admin/live/test-call/", _form(test_call_setup)).status_code == 403
    assert not CallSession.objects.exists()


@pytest.mark.usefixtures("_weekday_morning")
def test_another_organizations_script_is_not_a_choice(outsider, test_call_setup, globex):
    VoiceFactory(organization=globex)

    response = staff_client(outsider).post("/admin/live/test-call/", _form(test_call_setup))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not CallSession.objects.exists()


# --- finished calls leave the monitor ----------------------------------------------------------
def test_a_finished_call_is_announced_to_its_organizations_monitor(
    acme, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from sessions.carrier.status import session_finish
    from sessions.live.groups import organization_group

    session = live_call(acme)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(organization_group(acme.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        assert session_finish(session_id=session.pk, status=CallStatus.NO_ANSWER)

    async def receive() -> dict[str, Any]:
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    message = async_to_sync(receive)()
    assert message["event"] == {"type": "status", "status": "no_answer", "sessionId": session.pk}


def test_a_viewer_is_not_offered_the_test_call_page(viewer, owner):
    assert "monitor-test-call-link" not in staff_client(viewer).get("/admin/live/").content.decode()
    assert "monitor-test-call-link" in staff_client(owner).get("/admin/live/").content.decode()
