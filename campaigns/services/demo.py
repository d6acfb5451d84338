"""Demo data for `seed_demo`: a caller ID in the simulator's range and a persona list."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from anvil_voice.accounts.models import Organization
from campaigns import phones
from campaigns.models import CallerId, Contact, ContactList, TimeZoneSource

DEMO_CALLER_ID = "+15555550100"
DEMO_LIST_NAME = "Demo personas"
# The Twilio simulator picks a callee persona from the last two digits of a 555-01xx number
# (see anvil_voice/telephony/simulator/PERSONAS.md). The 212 area code makes them valid E.164
# numbers in New York (America/New_York, state NY) that reach the same personas as +1555 01xx.
DEMO_PERSONAS = [
    ("+12125550100", "Nora", "No-Answer"),
    ("+12125550101", "Bianca", "Busy"),
    ("+12125550102", "Fred", "Failed"),
    ("+12125550103", "Val", "Voicemail"),
    ("+12125550104", "Ivy", "Interested"),
    ("+12125550105", "Otto", "Objection"),
    ("+12125550106", "Nick", "Not-Interested"),
    ("+12125550107", "Cal", "Callback"),
    ("+12125550108", "Remy", "Remove-Me"),
    ("+12125550109", "Hank", "Hangs-Up"),
]


@transaction.atomic
def campaign_seed_demo(organization: Organization) -> ContactList:
    """Idempotent: the demo caller ID and the persona contact list (created or completed)."""
    CallerId.objects.get_or_create(
        organization=organization,
        phone_number=DEMO_CALLER_ID,
        defaults={"label": "Demo caller ID (Twilio simulator)"},
    )
    contact_list, _ = ContactList.objects.get_or_create(
        organization=organization, name=DEMO_LIST_NAME
    )
    existing = set(
        Contact.objects.filter(contact_list=contact_list).values_list("phone_number", flat=True)
    )
    new = [
        Contact(
            organization=organization,
            contact_list=contact_list,
            phone_number=number,
            first_name=first_name,
            last_name=last_name,
            company="Demo Co",
            time_zone="America/New_York",
            time_zone_source=TimeZoneSource.NUMBER,
            region=phones.infer_region(number),
            variables={"persona": last_name.lower()},
            consent_source="demo seed",
        )
        for number, first_name, last_name in DEMO_PERSONAS
        if number not in existing
    ]
    Contact.objects.bulk_create(new)
    if new:
        ContactList.objects.filter(pk=contact_list.pk).update(
            contact_count=F("contact_count") + len(new), variable_names=["persona"]
        )
    return contact_list
