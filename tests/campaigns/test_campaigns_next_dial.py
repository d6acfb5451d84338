"""Issue 17: why a running campaign is not dialling, and when it next dials, in the contacts'
local time (the campaign page, the campaign list, `GET /campaigns/:id`). Clock frozen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.html import escape

from campaigns import selectors, services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.factories import CampaignFactory, ContactFactory, ContactListFactory
from campaigns.models import Campaign, CampaignContact, CampaignContactState, CampaignStatus
from campaigns.next_dial import (
    NextDial,
    campaign_dialling_line,
    duration_in_words,
    local_moment_text,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

SYSTEM = services.Actor.named("test")
CAMPAIGNS = "/api/v1/voice/campaigns"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def two_coasts(organization, **fields) -> Campaign:
    """A running campaign calling one New York and one Los Angeles contact, from 11:00 local."""
    contact_list = ContactListFactory(organization=organization)
    ContactFactory(contact_list=contact_list, first_name="Nora", phone_number="+12125550150")
    ContactFactory(
        contact_list=contact_list,
        first_name="Lou",
        phone_number="+13105550150",
        time_zone="America/Los_Angeles",
        region="CA",
    )
    fields.setdefault("window_start", time(11, 0))
    campaign = CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        max_concurrent_calls=10,
        calls_per_second=10,
        **fields,
    )
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)
    return campaign


def message(persona, campaign) -> tuple[str, dict | None]:
    dialling = persona.client.get(f"{CAMPAIGNS}/{campaign.pk}").json()["data"]["dialling"]
    return dialling["message"], dialling["nextDialLocal"]


# --- the words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=20), "1 min"),
        (timedelta(seconds=0), "less than a minute"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=3, minutes=20), "3 h 20 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(days=1, hours=2, minutes=5), "1 day 2 h"),
        (timedelta(days=3), "3 days"),
    ],
)
def test_it_says_a_wait_as_a_person_would(delta, words):
    assert duration_in_words(delta) == words


def test_it_names_the_local_day_when_it_is_not_today():
    # 15:00 UTC is 10:00 in New York; 14:00 UTC is already the next day in Tokyo.
    today = NextDial(at=NOW + timedelta(hours=3, minutes=20), time_zone="America/New_York")
    tomorrow = NextDial(at=NOW + timedelta(hours=23), time_zone="America/New_York")
    later = NextDial(at=NOW + timedelta(days=2), time_zone="America/New_York")
    late = NextDial(at=NOW - timedelta(seconds=5), time_zone="America/New_York")

    assert local_moment_text(today, now=NOW) == "13:20 America/New_York (in 3 h 20 min)"
    assert local_moment_text(tomorrow, now=NOW) == "tomorrow 09:00 America/New_York (in 23 h)"
    assert local_moment_text(later, now=NOW) == "Thu 5 Mar 10:00 America/New_York (in 2 days)"
    assert local_moment_text(late, now=NOW) == "09:59 America/New_York (due now)"


# --- the campaign's line --------------------------------------------------------------------


def test_it_names_the_zone_of_the_contact_due_next(owner, frozen):
    campaign = two_coasts(owner.organization)

    dispatch_due(now=NOW)  # both rescheduled to their own 11:00: New York's comes first

    assert message(owner, campaign) == (
        "Waiting: outside the contacts' calling window. Next dial 11:00 America/New_York (in 1 h).",
        {"time": "2026-03-03T11:00:00-05:00", "timeZone": "America/New_York"},
    )

    # New York's contact is done: the next dial is Los Angeles's 11:00, three hours later.
    CampaignContact.objects.filter(contact__first_name="Nora").update(
        state=CampaignContactState.COMPLETED
    )
    dispatch_due(now=NOW + timedelta(seconds=1))

    assert message(owner, campaign) == (
        "Waiting: outside the contacts' calling window. "
        "Next dial 11:00 America/Los_Angeles (in 4 h).",
        {"time": "2026-03-03T11:00:00-08:00", "timeZone": "America/Los_Angeles"},
    )


def test_the_wait_shrinks_as_the_clock_moves(owner, frozen):
    campaign = two_coasts(owner.organization)
    dispatch_due(now=NOW)

    frozen.move_to(NOW + timedelta(minutes=41, seconds=30))
    line = campaign_dialling_line(Campaign.objects.get(pk=campaign.pk))

    assert line is not None
    assert line.text.endswith("Next dial 11:00 America/New_York (in 19 min).")


def test_a_scheduled_campaign_says_when_it_starts_in_its_contacts_zone(owner, frozen):
    contact_list = ContactListFactory(organization=owner.organization)
    ContactFactory(contact_list=contact_list, time_zone="America/Chicago", region="IL")
    campaign = CampaignFactory(
        organization=owner.organization,
        contact_list=contact_list,
        status=CampaignStatus.SCHEDULED,
        start_at=datetime(2026, 3, 4, 15, 0, tzinfo=UTC),
    )

    assert message(owner, campaign) == (
        "Scheduled to start. Starts tomorrow 09:00 America/Chicago (in 1 day).",
        {"time": "2026-03-04T09:00:00-06:00", "timeZone": "America/Chicago"},
    )


def test_a_paused_campaign_says_it_waits_for_a_resume(owner, frozen):
    campaign = two_coasts(owner.organization, window_start=time(8, 0))
    services.campaign_pause(campaign=campaign, actor=SYSTEM)

    assert message(owner, campaign) == ("Paused. It dials again when resumed.", None)


def test_the_zone_is_read_with_the_campaigns_not_one_query_a_row(owner, frozen):
    first = two_coasts(owner.organization)
    dispatch_due(now=NOW)
    read = list(selectors.campaign_list().filter(pk=first.pk))

    with_one = _queries(lambda: [campaign_dialling_line(c) for c in read])
    assert with_one == 0
    assert campaign_dialling_line(read[0]).next_dial.time_zone == "America/New_York"  # type: ignore[union-attr]


def _queries(function) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def staff_owner(client, owner):
    user = owner.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    client.force_login(user)
    return client


def test_the_campaign_page_and_list_say_when_it_next_dials(staff_owner, owner, frozen):
    campaign = two_coasts(owner.organization)
    dispatch_due(now=NOW)
    expected = escape(
        "Waiting: outside the contacts' calling window. Next dial 11:00 America/New_York (in 1 h)."
    )

    page = staff_owner.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    changelist = staff_owner.get(reverse("admin:campaigns_campaign_changelist"))

    assert f'data-next-dial-zone="America/New_York">\n    {expected}\n' in page.content.decode()
    # The theme adds its own classes after the column's.
    assert re.search(
        rf'<td class="field-dialling[^"]*">{re.escape(expected)}</td>', changelist.content.decode()
    )


def test_the_campaign_list_costs_no_query_a_row_for_the_line(staff_owner, owner, frozen):
    two_coasts(owner.organization)
    dispatch_due(now=NOW)
    url = reverse("admin:campaigns_campaign_changelist")
    one = _queries(lambda: staff_owner.get(url))
    two_coasts(owner.organization)
    two_coasts(owner.organization)
    dispatch_due(now=NOW + timedelta(seconds=1))

    assert _queries(lambda: staff_owner.get(url)) == one
