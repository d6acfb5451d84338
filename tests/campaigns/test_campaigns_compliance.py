"""The calling window in the callee's local time, with a frozen clock, across zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns import services
from campaigns.compliance import GateReason, Schedule, evaluate
from campaigns.dialling.dispatch import dispatch_due
from campaigns.dialling.gate import check_before_dial
from campaigns.factories import ContactFactory, DoNotCallEntryFactory
from campaigns.models import CampaignContact, CampaignContactState, Contact, TimeZoneSource
from campaigns.phones import infer_time_zone
from sessions.carrier.dial_gate import DialDecision
from sessions.models import CallSession

ALWAYS = Schedule(
    days_of_week=frozenset(range(7)), window_start=time(8), window_end=time(21), end_at=None
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def contact(zone: str = "America/New_York", region: str = "NY", **fields: object) -> Contact:
    return Contact(
        phone_number=str(fields.pop("phone_number", "+12125550104")),
        time_zone=zone,
        time_zone_source=str(fields.pop("time_zone_source", TimeZoneSource.EXPLICIT)),
        region=region,
    )


def gate(person: Contact, now: datetime, schedule: Schedule = ALWAYS, **kwargs: object):
    return evaluate(
        contact=person,
        schedule=schedule,
        now=now,
        on_do_not_call_list=bool(kwargs.get("listed", False)),
        counted_attempts=int(kwargs.get("attempts", 0)),  # type: ignore[call-overload]
        max_attempts=3,
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday 7 March 2026, still EST (UTC-5): 07:59 local → 08:00 local = 13:00 UTC.
        (utc(2026, 3, 7, 12, 59), utc(2026, 3, 7, 13, 0)),
        # Sunday 8 March 2026, clocks went forward at 02:00: now EDT (UTC-4), so 08:00 local
        # is 12:00 UTC — an hour earlier in UTC than the day before.
        (utc(2026, 3, 8, 11, 59), utc(2026, 3, 8, 12, 0)),
        # Saturday 31 October 2026 21:00 EDT → Sunday 1 November 08:00, now EST (UTC-5).
        (utc(2026, 11, 1, 1, 0), utc(2026, 11, 1, 13, 0)),
        # Sunday 1 November 2026 07:59 EST (the day clocks went back) → 08:00 EST.
        (utc(2026, 11, 1, 12, 59), utc(2026, 11, 1, 13, 0)),
        # 20:59 EST is still allowed.
        (utc(2026, 11, 2, 1, 59), None),
    ],
)
def test_it_reschedules_new_york_across_daylight_saving_changes(now, expected):
    decision = gate(contact(), now)

    if expected is None:
        assert decision.allowed
    else:
        assert decision.reason == GateReason.OUTSIDE_CALLING_WINDOW
        assert decision.next_allowed_at == expected


def test_it_uses_each_contacts_own_zone():
    now = utc(2026, 3, 3, 14, 30)  # 09:30 New York, 06:30 Los Angeles, 04:30 Honolulu

    new_york = gate(contact("America/New_York", "NY"), now)
    los_angeles = gate(contact("America/Los_Angeles", "CA"), now)
    honolulu = gate(contact("Pacific/Honolulu", "HI"), now)

    assert new_york.allowed
    assert los_angeles.next_allowed_at == utc(2026, 3, 3, 16, 0)
    assert honolulu.next_allowed_at == utc(2026, 3, 3, 18, 0)


@pytest.mark.parametrize(
    ("zone", "region", "now", "expected"),
    [
        # Florida ends at 20:00: 20:30 EST → next day 08:00.
        ("America/New_York", "FL", utc(2026, 3, 4, 1, 30), utc(2026, 3, 4, 13, 0)),
        # Connecticut starts at 09:00.
        ("America/New_York", "CT", utc(2026, 3, 3, 13, 30), utc(2026, 3, 3, 14, 0)),
        # Louisiana: no Sunday calls. Sunday 8 March 10:00 CDT → Monday 08:00 CDT.
        ("America/Chicago", "LA", utc(2026, 3, 8, 15, 0), utc(2026, 3, 9, 13, 0)),
        # Texas: Sunday calls from noon. Sunday 10:00 CDT → 12:00 CDT.
        ("America/Chicago", "TX", utc(2026, 3, 8, 15, 0), utc(2026, 3, 8, 17, 0)),
        # Texas on a weekday starts at 09:00.
        ("America/Chicago", "TX", utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 14, 0)),
    ],
)
def test_it_applies_stricter_state_rules_as_data(zone, region, now, expected):
    decision = gate(contact(zone, region), now)

    assert decision.reason == GateReason.OUTSIDE_CALLING_WINDOW
    assert decision.next_allowed_at == expected


def test_it_lets_a_campaign_narrow_the_window_but_never_widen_it():
    weekdays_ten_to_four = Schedule(
        days_of_week=frozenset({0, 1, 2, 3, 4}),
        window_start=time(10),
        window_end=time(16),
        end_at=None,
    )
    wider = Schedule(
        days_of_week=frozenset(range(7)), window_start=time(6), window_end=time(23), end_at=None
    )
    saturday_noon = utc(2026, 3, 7, 17, 0)

    narrowed = gate(contact(), saturday_noon, weekdays_ten_to_four)
    early = gate(contact(), utc(2026, 3, 3, 11, 30), wider)  # 06:30 New York

    assert narrowed.next_allowed_at == utc(2026, 3, 9, 14, 0)  # Monday 10:00 EDT
    assert early.next_allowed_at == utc(2026, 3, 3, 13, 0)  # 08:00 EST, not 06:00


def test_it_checks_every_zone_of_a_number_that_spans_several():
    # 907 (Alaska) covers America/Adak and America/Anchorage; Adak is an hour behind.
    inferred = infer_time_zone("+19075550100", at=utc(2026, 3, 3))
    person = contact(
        inferred.time_zone,
        "AK",
        phone_number="+19075550100",
        time_zone_source=inferred.source,
    )
    # 20:30 in Adak is 21:30 in Anchorage: outside in one zone, so outside.
    late = gate(person, utc(2026, 3, 4, 6, 30))
    # 08:30 in Anchorage is 07:30 in Adak: too early there.
    early = gate(person, utc(2026, 3, 3, 17, 30))

    assert (inferred.time_zone, inferred.source) == ("America/Adak", "number")
    assert late.next_allowed_at == utc(2026, 3, 4, 18, 0)  # 08:00 Adak next day
    assert early.next_allowed_at == utc(2026, 3, 3, 18, 0)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"listed": True}, GateReason.DO_NOT_CALL),
        ({"attempts": 3}, GateReason.ATTEMPTS_EXHAUSTED),
    ],
)
def test_it_refuses_listed_numbers_and_used_up_attempts(kwargs, reason):
    decision = gate(contact(), utc(2026, 3, 3, 15, 0), **kwargs)

    assert (decision.allowed, decision.reason) == (False, reason)


def test_it_refuses_after_the_campaign_ends_and_fails_contacts_with_no_window_at_all():
    ended = Schedule(
        days_of_week=frozenset(range(7)),
        window_start=time(8),
        window_end=time(21),
        end_at=utc(2026, 3, 3, 14, 0),
    )
    sundays_only = Schedule(
        days_of_week=frozenset({6}), window_start=time(8), window_end=time(21), end_at=None
    )

    assert gate(contact(), utc(2026, 3, 3, 15, 0), ended).reason == GateReason.CAMPAIGN_ENDED
    assert (
        gate(contact("America/Chicago", "LA"), utc(2026, 3, 3, 15, 0), sundays_only).reason
        == GateReason.NO_CALLING_WINDOW
    )


def test_it_records_why_a_call_was_allowed():
    decision = gate(contact("America/New_York", "FL"), utc(2026, 3, 3, 15, 0))

    assert decision.evidence["rules"][:2] == [
        {
            "rule": "US",
            "summary": "08:00-21:00 in the callee's local time",
            "source": "TCPA, 47 CFR § 64.1200(c)(1)",
        },
        {
            "rule": "US-FL",
            "summary": "08:00-20:00",
            "source": "Florida Telephone Solicitation Act, Fla. Stat. § 501.059(8)(a) (2021)",
        },
    ]
    assert decision.evidence["local_times"] == {
        "America/New_York": "2026-03-03 10:00 EST (Tuesday)"
    }


def test_the_dispatcher_reschedules_out_of_window_contacts_instead_of_dropping_them(
    owner, make_campaign
):
    campaign = make_campaign(owner.organization, contacts=0)
    early = ContactFactory(contact_list=campaign.contact_list, time_zone="America/Los_Angeles")
    ready = ContactFactory(contact_list=campaign.contact_list, time_zone="America/New_York")
    now = utc(2026, 3, 3, 14, 30)  # 09:30 New York, 06:30 Los Angeles

    with time_machine.travel(now, tick=False):
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        claimed = dispatch_due()

    targets = {target.contact_id: target for target in CampaignContact.objects.all()}
    assert claimed == 1
    assert targets[ready.pk].state == CampaignContactState.IN_PROGRESS
    assert targets[early.pk].state == CampaignContactState.PENDING
    assert targets[early.pk].next_attempt_at == utc(2026, 3, 3, 16, 0)  # 08:00 in LA
    assert targets[early.pk].attempts == 0

    with time_machine.travel(utc(2026, 3, 3, 16, 0), tick=False):
        assert dispatch_due() == 1
    assert CallSession.objects.count() == 2


def test_check_before_dial_refuses_what_changed_since_the_claim(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=1)
    now = utc(2026, 3, 3, 15, 0)
    with time_machine.travel(now, tick=False):
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        dispatch_due()
    session = CallSession.objects.get()

    allowed = check_before_dial(session, now=now)
    too_late = check_before_dial(session, now=utc(2026, 3, 4, 2, 30))  # 21:30 New York
    services.campaign_pause(campaign=campaign, actor=services.Actor.named("test"))
    paused = check_before_dial(session, now=now)
    DoNotCallEntryFactory(organization=owner.organization, phone_number=session.to_number)
    listed = check_before_dial(session, now=now)

    assert allowed == DialDecision(True, "allowed")
    assert too_late == DialDecision(False, "outside_calling_window")
    assert paused == DialDecision(False, "campaign_not_running")
    assert listed == DialDecision(False, "do_not_call")


# --- Issue 15 item 11: a given zone adds to the number's zones, never replaces them ----------


def test_an_explicit_zone_that_disagrees_with_the_number_needs_the_window_in_both():
    # 09:16 in London, 04:16 in New York: a New York number given London's zone by an import.
    now = utc(2026, 3, 3, 9, 16)

    refused = gate(contact("Europe/London", ""), now)
    allowed = gate(contact("Europe/London", ""), utc(2026, 3, 3, 13, 0))

    assert refused.reason == GateReason.OUTSIDE_CALLING_WINDOW
    assert refused.next_allowed_at == utc(2026, 3, 3, 13, 0)  # 08:00 New York, 13:00 London
    assert allowed.allowed
    assert allowed.evidence["time_zones"] == ["Europe/London", "America/New_York"]


def test_an_imported_time_zone_column_cannot_make_the_dialler_call_new_york_at_0416(
    owner, make_campaign
):
    campaign = make_campaign(owner.organization, contacts=0)
    imported = owner.client.post(
        f"/api/v1/voice/contact-lists/{campaign.contact_list_id}/import",
        {
            "file": SimpleUploadedFile(
                "contacts.csv", b"phone,time_zone\n+12125550104,Europe/London\n", "text/csv"
            )
        },
        format="multipart",
    )
    assert imported.json()["data"]["imported"] == 1, imported.json()
    person = Contact.objects.get()
    assert (person.time_zone, person.time_zone_source) == ("Europe/London", "explicit")

    with time_machine.travel(utc(2026, 3, 3, 9, 16), tick=False):  # 04:16 in New York
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))
        claimed = dispatch_due()

    target = CampaignContact.objects.get()
    assert claimed == 0
    assert not CallSession.objects.exists()
    assert target.state == CampaignContactState.PENDING
    assert target.next_attempt_at == utc(2026, 3, 3, 13, 0)  # 08:00 in New York
    with time_machine.travel(utc(2026, 3, 3, 13, 0), tick=False):
        assert dispatch_due() == 1


def test_an_import_refuses_premium_rate_and_other_non_geographic_numbers(owner, make_campaign):
    campaign = make_campaign(owner.organization, contacts=0)
    text = "phone\n+12125550104\n+449098790000\n+19005550100\n+447012345678\n"

    response = owner.client.post(
        f"/api/v1/voice/contact-lists/{campaign.contact_list_id}/import",
        {"file": SimpleUploadedFile("contacts.csv", text.encode(), "text/csv")},
        format="multipart",
    )

    report = response.json()["data"]
    assert (report["imported"], report["rejectedByReason"]) == (1, {"non_geographic_number": 3})
    assert [item["message"] for item in report["rejections"]] == [
        "'+449098790000' is a premium-rate number; campaigns do not call those.",
        "'+19005550100' is a premium-rate number; campaigns do not call those.",
        "'+447012345678' is a personal (follow-me) number; campaigns do not call those.",
    ]
    assert list(Contact.objects.values_list("phone_number", flat=True)) == ["+12125550104"]
