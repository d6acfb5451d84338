"""The deployment's live-call capacity: the dialler never exceeds it, across campaigns and
organizations; contacts wait queued (no attempt used) and the campaign says why."""

from __future__ import annotations

import re
import threading
from datetime import time, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connections
from django.urls import reverse

from anvil_voice.accounts.factories import OrganizationFactory
from anvil_voice.capacity import (
    CLOUD_SPEECH_CALLS_PER_PROCESS,
    default_live_calls_per_process,
    live_call_capacity,
)
from anvil_voice.env import Env, EnvError
from anvil_voice.errors import ServiceUnavailable
from campaigns import services
from campaigns.dialling.capacity import deployment_capacity
from campaigns.dialling.dispatch import claim_due_contacts, dispatch_due
from campaigns.factories import CallerIdFactory, CampaignFactory, ContactFactory, ContactListFactory
from campaigns.models import CampaignContact, CampaignContactState
from campaigns.services.test_calls import session_test_call_create
from scripts.factories import ScriptFactory
from sessions.models import LIVE_CALL_STATUSES, CallSession, CallStatus, ConversationState
from sessions.selectors import live_call_count
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW
from voices.factories import VoiceFactory

SYSTEM = services.Actor.named("test")
CAMPAIGNS = "/api/v1/voice/campaigns"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def capacity_of_two(settings) -> None:
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 2
    settings.LIVE_CALL_PROCESSES = 1


def started(make_campaign, organization, **fields):
    campaign = make_campaign(organization, **fields)
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    return campaign


def dialling(persona, campaign) -> tuple[dict, dict]:
    response = persona.client.get(f"{CAMPAIGNS}/{campaign.pk}")
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    return data["dialling"], data["stats"]["contacts"]


def waiting_on_capacity(waiting: int) -> dict:
    return {
        "state": "waiting",
        "reason": "capacity",
        "nextDialAt": None,
        "waitingForCapacity": waiting,
        "nextDialLocal": None,
        "message": "Waiting for a free line: every live call this deployment can hold is in use. "
        f"{waiting} due contact{'s' if waiting != 1 else ''} waiting. "
        "Next dial as soon as a line is free.",
    }


DIALLING = {
    "state": "dialling",
    "reason": None,
    "nextDialAt": None,
    "waitingForCapacity": 0,
    "nextDialLocal": None,
    "message": "Dialling.",
}


# --- the settings --------------------------------------------------------------------------


def test_it_derives_the_local_default_from_the_usable_cores():
    assert default_live_calls_per_process(speech_provider="local", usable_cores=2) == 4
    assert default_live_calls_per_process(speech_provider="local", usable_cores=8) == 16
    assert (
        default_live_calls_per_process(
            speech_provider="local", usable_cores=2, local_calls_per_core=3
        )
        == 6
    )


def test_it_uses_a_fixed_default_with_cloud_speech_whatever_the_cores():
    for cores in (1, 2, 64):
        assert (
            default_live_calls_per_process(speech_provider="cloud", usable_cores=cores)
            == CLOUD_SPEECH_CALLS_PER_PROCESS
            == 50
        )


def test_it_reads_the_capacity_from_the_environment():
    defaults = live_call_capacity(Env({}), speech_provider="local", usable_cores=2)
    per_core = live_call_capacity(
        Env({"LOCAL_SPEECH_CALLS_PER_CORE": "3"}), speech_provider="local", usable_cores=4
    )
    overridden = live_call_capacity(
        Env({"LIVE_CALL_CAPACITY_PER_PROCESS": "7", "LIVE_CALL_PROCESSES": "3"}),
        speech_provider="local",
        usable_cores=2,
    )
    cloud = live_call_capacity(Env({}), speech_provider="cloud", usable_cores=2)

    assert defaults == (2, 4, 1)
    assert per_core == (3, 12, 1)
    assert overridden == (2, 7, 3)
    assert cloud == (2, 50, 1)
    with pytest.raises(EnvError):
        live_call_capacity(
            Env({"LIVE_CALL_CAPACITY_PER_PROCESS": "0"}), speech_provider="local", usable_cores=2
        )


def test_the_deployment_capacity_is_per_process_times_processes(settings):
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 7
    settings.LIVE_CALL_PROCESSES = 3

    assert deployment_capacity() == 21


# --- what counts as live -------------------------------------------------------------------


def test_live_calls_are_live_statuses_and_conversations_still_closing(db):
    organization = OrganizationFactory()
    version = ScriptFactory(organization=organization).versions.get()
    voice = VoiceFactory(organization=organization)

    def session(status, conversation=ConversationState.NONE):
        return CallSession.objects.create(
            organization=organization,
            script_version=version,
            voice=voice,
            to_number="+12125550100",
            from_number="+14155550100",
            status=status,
            conversation_state=conversation,
        )

    for status in CallStatus:
        session(status)
    session(CallStatus.COMPLETED, ConversationState.OPEN)  # the pipeline is still finishing
    session(CallStatus.IN_PROGRESS, ConversationState.OPEN)  # counted once

    assert live_call_count() == len(LIVE_CALL_STATUSES) + 2


# --- the dialler ---------------------------------------------------------------------------


def test_it_dials_no_more_than_the_capacity_across_organizations(
    owner, outsider, make_campaign, frozen, capacity_of_two, placement_tasks
):
    acme = started(make_campaign, owner.organization, contacts=3)
    globex = started(make_campaign, outsider.organization, contacts=2)

    placed = dispatch_due(now=NOW)
    again = dispatch_due(now=NOW + timedelta(seconds=1))

    # The two slots are shared between the tenants (issue 15, item 3), one each.
    assert (placed, again) == (2, 0)
    assert CallSession.objects.count() == 2
    assert CallSession.objects.filter(campaign=acme).count() == 1
    assert CallSession.objects.filter(campaign=globex).count() == 1
    # The rest wait queued, untouched: still pending, due, no attempt used.
    waiting = CampaignContact.objects.filter(state=CampaignContactState.PENDING)
    assert waiting.count() == 3
    assert set(waiting.values_list("attempts", "skipped_attempts", "last_outcome")) == {(0, 0, "")}
    assert all(target.next_attempt_at <= NOW for target in waiting)
    assert dialling(owner, acme) == (
        waiting_on_capacity(2),
        {
            "total": 3,
            "pending": 2,
            "inProgress": 1,
            "completed": 0,
            "failed": 0,
            "doNotCall": 0,
            "exhausted": 0,
            "waitingForCapacity": 2,
        },
    )
    assert dialling(outsider, globex)[0] == waiting_on_capacity(1)


def test_freed_slots_go_round_the_organizations(
    owner, outsider, make_campaign, frozen, capacity_of_two, placement_tasks
):
    acme = started(make_campaign, owner.organization, contacts=3)
    globex = started(make_campaign, outsider.organization, contacts=3)
    first = dispatch_due(now=NOW)

    def free_one_slot_and_tick(second: int) -> int:
        """End the oldest live call, tick; which campaign got the freed slot."""
        CallSession.objects.filter(
            pk=CallSession.objects.filter(status=CallStatus.QUEUED).order_by("id").first().pk
        ).update(status=CallStatus.COMPLETED)
        before = set(CallSession.objects.values_list("pk", flat=True))
        assert dispatch_due(now=NOW + timedelta(seconds=second)) == 1
        return CallSession.objects.exclude(pk__in=before).get().campaign_id

    winners = [free_one_slot_and_tick(second) for second in (1, 2, 3)]

    # One each at first; then each freed slot goes to the tenant that waited longer.
    assert first == 2
    assert winners[1] != winners[0]
    assert winners[2] == winners[0]
    assert {winners[0], winners[1]} == {acme.pk, globex.pk}
    assert live_call_count() == 2


def test_test_calls_take_a_slot_and_are_refused_at_capacity(
    owner, make_campaign, frozen, capacity_of_two, placement_tasks
):
    organization = owner.organization
    CallerIdFactory(organization=organization, phone_number="+14155550100")
    request = {
        "to": "+12025550111",
        "script": ScriptFactory(organization=organization).pk,
        "voice": VoiceFactory(organization=organization).pk,
    }
    campaign = started(make_campaign, organization, contacts=3)

    first = owner.client.post("/api/v1/voice/calls/test", request, format="json")
    placed = dispatch_due(now=NOW)
    refused = owner.client.post("/api/v1/voice/calls/test", request, format="json")

    assert first.status_code == 201, first.json()
    assert placed == 1
    assert refused.status_code == 503
    assert refused.json() == {
        "success": False,
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "Every live-call slot of this deployment is in use (2 calls); try again "
            "when a call ends.",
            "details": {"to": ["No live-call capacity is free right now."]},
        },
    }
    assert CallSession.objects.count() == 2
    assert dialling(owner, campaign)[0] == DIALLING
    dispatch_due(now=NOW + timedelta(seconds=1))
    assert dialling(owner, campaign)[0] == waiting_on_capacity(2)


# --- why a campaign is not dialling --------------------------------------------------------


def test_it_says_when_the_calling_window_is_closed_and_when_it_opens(owner, make_campaign, frozen):
    # 10:00 in New York; the campaign calls from 14:00 (19:00 UTC).
    campaign = started(make_campaign, owner.organization, contacts=2, window_start=time(14, 0))

    dispatch_due(now=NOW)
    first = dialling(owner, campaign)[0]
    dispatch_due(now=NOW + timedelta(seconds=1))  # nothing due now: still the window

    assert first == dialling(owner, campaign)[0]
    assert first == {
        "state": "waiting",
        "reason": "window",
        "nextDialAt": "2026-03-03T19:00:00Z",
        "waitingForCapacity": 0,
        "nextDialLocal": {"time": "2026-03-03T14:00:00-05:00", "timeZone": "America/New_York"},
        "message": "Waiting: outside the contacts' calling window. "
        "Next dial 14:00 America/New_York (in 4 h).",
    }


def test_it_says_when_nothing_is_due_and_when_the_next_contact_is(owner, make_campaign, frozen):
    campaign = started(make_campaign, owner.organization, contacts=2)
    CampaignContact.objects.update(next_attempt_at=NOW + timedelta(minutes=60))
    CampaignContact.objects.filter(pk=CampaignContact.objects.first().pk).update(
        next_attempt_at=NOW + timedelta(minutes=15)
    )

    placed = dispatch_due(now=NOW)

    assert placed == 0
    assert dialling(owner, campaign)[0] == {
        "state": "waiting",
        "reason": "nothing_due",
        "nextDialAt": "2026-03-03T15:15:00Z",
        "waitingForCapacity": 0,
        "nextDialLocal": {"time": "2026-03-03T10:15:00-05:00", "timeZone": "America/New_York"},
        "message": "Waiting: no contact is due now. Next dial 10:15 America/New_York (in 15 min).",
    }


def test_it_says_paused_and_pacing(owner, make_campaign, frozen, placement_tasks):
    campaign = started(make_campaign, owner.organization, contacts=3, max_concurrent_calls=1)

    dispatch_due(now=NOW)
    dispatch_due(now=NOW + timedelta(seconds=1))
    pacing = dialling(owner, campaign)[0]
    services.campaign_pause(campaign=campaign, actor=SYSTEM)

    assert pacing == {
        "state": "waiting",
        "reason": "pacing",
        "nextDialAt": None,
        "waitingForCapacity": 0,
        "nextDialLocal": None,
        "message": "Waiting: the campaign's own concurrent-call or calls-per-second limit is "
        "reached. Next dial as soon as one of its calls ends or its calls-per-second allow.",
    }
    assert dialling(owner, campaign)[0] == {
        "state": "waiting",
        "reason": "paused",
        "nextDialAt": None,
        "waitingForCapacity": 0,
        "nextDialLocal": None,
        "message": "Paused. It dials again when resumed.",
    }


def test_the_admin_campaign_page_says_it_waits_for_capacity(
    client, owner, make_campaign, frozen, capacity_of_two, placement_tasks
):
    user = owner.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    client.force_login(user)
    campaign = started(make_campaign, owner.organization, contacts=5)
    dispatch_due(now=NOW)
    dispatch_due(now=NOW + timedelta(seconds=1))

    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content
    changelist = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()

    assert (
        '<div id="campaign-dialling" data-testid="campaign-next-dial" data-state="waiting" '
        'data-reason="capacity">\n'
        "    Waiting for a free line: every live call this deployment can hold is in use. "
        "3 due contacts waiting. Next dial as soon as a line is free."
    ) in page.decode()
    # The theme adds its own classes after the column's.
    assert re.search(
        r'<td class="field-dialling[^"]*">'
        + re.escape(
            "Waiting for a free line: every live call this deployment can hold is in use. "
            "3 due contacts waiting. Next dial as soon as a line is free."
        )
        + "</td>",
        changelist,
    )


def test_a_draft_campaign_is_idle(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=1)

    assert dialling(owner, campaign)[0] == {
        "state": "idle",
        "reason": None,
        "nextDialAt": None,
        "waitingForCapacity": 0,
        "nextDialLocal": None,
        "message": None,
    }


# --- several dispatchers at once -----------------------------------------------------------

DISPATCHERS = 2
TICKS = 4
CAPACITY = 3


def campaign_with_contacts(contacts: int):
    organization = OrganizationFactory()
    contact_list = ContactListFactory(organization=organization)
    for _ in range(contacts):
        ContactFactory(contact_list=contact_list)
    campaign = CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        max_concurrent_calls=10,
        calls_per_second=10,
    )
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    return campaign


@pytest.mark.django_db(transaction=True)
def test_racing_dispatchers_never_exceed_the_capacity(settings, placement_tasks):
    """Two Celery workers ticking at once (threads, real commits): on PostgreSQL the capacity
    row's lock orders them, on SQLite the IMMEDIATE transactions do."""
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = CAPACITY
    campaigns = [campaign_with_contacts(4) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(DISPATCHERS)
    observed: list[int] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            for tick in range(TICKS):
                dispatch_due(now=NOW + timedelta(seconds=tick))
                observed.append(live_call_count())
        except BaseException as exc:  # surfaced below, on the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert max(observed) == CAPACITY
    assert CallSession.objects.count() == len(placement_tasks) == CAPACITY
    assert sum(CampaignContact.objects.values_list("attempts", flat=True)) == CAPACITY
    assert CampaignContact.objects.filter(state=CampaignContactState.PENDING).count() == 12 - 3
    assert {campaign.pk for campaign in campaigns} >= set(
        CallSession.objects.values_list("campaign_id", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_racing_dispatchers_fill_each_freed_slot_once(settings, placement_tasks):
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = CAPACITY
    campaign_with_contacts(5)
    campaign_with_contacts(5)
    dispatch_due(now=NOW)
    errors: list[BaseException] = []
    barrier = threading.Barrier(DISPATCHERS)

    def dispatcher() -> None:
        try:
            barrier.wait()
            dispatch_due(now=NOW + timedelta(seconds=1))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    CallSession.objects.filter(pk=CallSession.objects.order_by("id").first().pk).update(
        status=CallStatus.COMPLETED
    )
    threads = [threading.Thread(target=dispatcher) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert live_call_count() == CAPACITY
    assert CallSession.objects.count() == CAPACITY + 1


@pytest.mark.django_db(transaction=True)
def test_claims_of_different_campaigns_at_once_share_the_capacity(settings, placement_tasks):
    """The sharpest race: each dispatcher in a different campaign (no campaign lock shared),
    all counting the deployment's live calls at the same moment."""
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = CAPACITY
    campaigns = [campaign_with_contacts(CAPACITY) for _ in range(4)]
    dispatch_due(now=NOW - timedelta(seconds=5))  # materialised; none due yet
    assert CallSession.objects.count() == 0
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(campaigns))

    def claim(campaign_id: int) -> None:
        try:
            barrier.wait()
            claim_due_contacts(campaign_id=campaign_id, now=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(campaign.pk,)) for campaign in campaigns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert live_call_count() == CallSession.objects.count() == CAPACITY


@pytest.mark.django_db(transaction=True)
def test_a_test_call_and_a_dispatcher_racing_for_the_last_line_get_one_call(
    settings, placement_tasks, frozen
):
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 1
    campaign = campaign_with_contacts(2)
    organization = campaign.organization
    CallerIdFactory(organization=organization, phone_number="+14155550100")
    script = ScriptFactory(organization=organization)
    voice = VoiceFactory(organization=organization)
    dispatch_due(now=NOW - timedelta(seconds=5))  # materialised; none due yet
    errors: list[BaseException] = []
    refused: list[ServiceUnavailable] = []
    barrier = threading.Barrier(2)

    def test_call() -> None:
        try:
            barrier.wait()
            session_test_call_create(
                organization=organization,
                to="+12025550111",
                script_id=script.pk,
                voice_id=voice.pk,
                variables={},
            )
        except ServiceUnavailable as exc:
            refused.append(exc)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def dispatcher() -> None:
        try:
            barrier.wait()
            dispatch_due(now=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=test_call), threading.Thread(target=dispatcher)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert live_call_count() == CallSession.objects.count() == 1
    # Whoever came second got nothing: the test call was refused, or the dispatcher placed none.
    assert len(refused) == CallSession.objects.filter(kind="campaign").count()
