"""The campaigns admin: CSV import page, start/pause/stop actions, DNC removal, caller IDs."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.factories import (
    CallerIdFactory,
    CampaignFactory,
    ContactListFactory,
    DoNotCallEntryFactory,
)
from campaigns.models import (
    CallerId,
    Campaign,
    CampaignStatus,
    Contact,
    DoNotCallEntry,
    DoNotCallRemoval,
)


def staff(client, persona):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    client.force_login(user)
    return user


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("contacts.csv", text.encode(), content_type="text/csv")


def test_it_previews_then_imports_a_csv_on_the_lists_import_page(client, owner):
    staff(client, owner)
    contact_list = ContactListFactory(organization=owner.organization, name="Spring")
    url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])
    text = "phone;first name;plan\n+12125550104;Ivy;gold\nnope;Bad;x\n"

    page = client.get(url)
    preview = client.post(url, {"file": csv_file(text), "dry_run": "on"})
    imported = client.post(url, {"file": csv_file(text)})

    assert page.status_code == 200
    assert "Import contacts into “Spring”" in page.content.decode()
    assert "Preview (nothing written)" in preview.content.decode()
    assert "+12125550104" in preview.content.decode()
    assert "invalid_number" in preview.content.decode()
    assert "Import report" in imported.content.decode()
    assert list(Contact.objects.values_list("phone_number", "first_name", "variables")) == [
        ("+12125550104", "Ivy", {"plan": "gold"})
    ]


def test_it_shows_a_file_error_on_the_import_page(client, owner):
    staff(client, owner)
    contact_list = ContactListFactory(organization=owner.organization)
    url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])

    response = client.post(url, {"file": csv_file("name\nIvy\n")})

    assert response.status_code == 200
    assert "No phone number column" in response.content.decode()
    assert not Contact.objects.exists()


def test_it_hides_another_organizations_import_page(client, owner, outsider):
    staff(client, owner)
    foreign = ContactListFactory(organization=outsider.organization)

    response = client.get(reverse("admin:campaigns_contactlist_import", args=[foreign.pk]))

    assert response.status_code == 404


def test_it_starts_pauses_and_stops_campaigns_from_the_changelist(client, owner, make_campaign):
    staff(client, owner)
    campaign = make_campaign(owner.organization)
    not_ready = CampaignFactory(organization=owner.organization, name="Empty")
    url = reverse("admin:campaigns_campaign_changelist")

    def act(action: str, *campaigns) -> None:
        client.post(
            url,
            {"action": action, "_selected_action": [c.pk for c in campaigns]},
            follow=True,
        )

    act("start_campaigns", campaign, not_ready)
    campaign.refresh_from_db()
    not_ready.refresh_from_db()
    assert (campaign.status, not_ready.status) == (CampaignStatus.RUNNING, CampaignStatus.DRAFT)
    act("pause_campaigns", campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    act("stop_campaigns", campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert campaign.transitions.last().actor_user_id == owner.membership.user_id

    change = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert 'id="campaign-numbers"' in change.content.decode()
    # Read-only once started: the days by name, not the stored JSON list.
    assert "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday" in (
        change.content.decode()
    )


def test_it_refuses_campaign_settings_past_the_legal_window_in_the_admin(client, owner):
    staff(client, owner)
    template = CampaignFactory(organization=owner.organization)

    response = client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "organization": owner.organization.pk,
            "name": "Late",
            "script": template.script_id,
            "voice": template.voice_id,
            "contact_list": template.contact_list_id,
            "caller_id": template.caller_id_id,
            "days_of_week": ["0", "1", "2"],
            "window_start": "08:00",
            "window_end": "22:00",
            "max_concurrent_calls": 5,
            "calls_per_second": "1",
            "max_attempts": 3,
            "retry_no_answer_minutes": 60,
            "retry_busy_minutes": 15,
            "retry_voicemail_minutes": 240,
            "voicemail_behaviour": "hang_up",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "Calls may not go past 21:00 local time." in response.content.decode()


def test_it_refuses_to_leave_a_voicemail_message_the_script_lacks_in_the_admin(client, owner):
    staff(client, owner)
    template = CampaignFactory(organization=owner.organization)
    template.script.voicemail_message = ""
    template.script.save()
    form = {
        "organization": owner.organization.pk,
        "name": "Voicemail",
        "script": template.script_id,
        "voice": template.voice_id,
        "contact_list": template.contact_list_id,
        "caller_id": template.caller_id_id,
        "days_of_week": ["0", "1", "2"],
        "window_start": "08:00",
        "window_end": "20:00",
        "max_concurrent_calls": 5,
        "calls_per_second": "1",
        "max_attempts": 3,
        "retry_no_answer_minutes": 60,
        "retry_busy_minutes": 15,
        "retry_voicemail_minutes": 240,
        "voicemail_behaviour": "leave_message",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
    }

    response = client.post(reverse("admin:campaigns_campaign_add"), form)

    assert response.status_code == 200
    assert "has no voicemail message" in response.content.decode()
    assert not Campaign.objects.exclude(pk=template.pk).exists()


def test_a_draft_campaign_shows_its_lists_contacts_in_the_admin(client, owner, make_campaign):
    staff(client, owner)
    campaign = make_campaign(owner.organization, contacts=8)

    changelist = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    change = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert "0.0% of 8" in changelist
    content = change.content.decode()
    assert "% of 8 contacts" in content
    assert re.search(r"<div>Pending</div><div class=\"value\">8</div>", content)
    # The numbers are shown once, in the panel's tiles (no second, raw table of them).
    assert "contacts · total" not in content


def test_only_owners_remove_do_not_call_entries_and_every_removal_is_audited(client, owner, member):
    entry = DoNotCallEntryFactory(organization=owner.organization, phone_number="+12125550108")
    url = reverse("admin:campaigns_donotcallentry_changelist")
    staff(client, member)

    client.post(url, {"action": "remove_entries", "_selected_action": [entry.pk]}, follow=True)
    assert DoNotCallEntry.objects.filter(pk=entry.pk).exists()

    staff(client, owner)
    confirm = client.post(url, {"action": "remove_entries", "_selected_action": [entry.pk]})
    without_reason = client.post(
        url, {"action": "remove_entries", "_selected_action": [entry.pk], "confirm": "1"}
    )
    client.post(
        url,
        {
            "action": "remove_entries",
            "_selected_action": [entry.pk],
            "confirm": "1",
            "reason": "Entered by mistake",
        },
    )

    assert "Remove numbers from the do-not-call list" in confirm.content.decode()
    assert "This field is required" in without_reason.content.decode()
    assert not DoNotCallEntry.objects.exists()
    removal = DoNotCallRemoval.objects.get()
    assert (removal.phone_number, removal.reason, removal.removed_by_id) == (
        "+12125550108",
        "Entered by mistake",
        owner.membership.user_id,
    )


def test_it_registers_caller_ids_in_the_admin_through_the_carrier_check(client, owner):
    staff(client, owner)
    url = reverse("admin:campaigns_callerid_add")

    refused = client.post(
        url, {"organization": owner.organization.pk, "phone_number": "+14155552671"}
    )
    accepted = client.post(
        url, {"organization": owner.organization.pk, "phone_number": "555-555-0123", "label": "x"}
    )

    assert "fictional range" in refused.content.decode()
    assert accepted.status_code == 302
    assert list(CallerId.objects.values_list("phone_number", flat=True)) == ["+15555550123"]


def test_the_admin_refuses_a_number_another_organization_registered(client, owner, outsider):
    CallerIdFactory(organization=outsider.organization, phone_number="+15555550123")
    staff(client, owner)

    refused = client.post(
        reverse("admin:campaigns_callerid_add"),
        {"organization": owner.organization.pk, "phone_number": "555-555-0123"},
    )

    assert refused.status_code == 200
    assert "This number is already registered." in refused.content.decode()
    assert outsider.organization.name not in refused.content.decode()
    assert list(CallerId.objects.values_list("organization", flat=True)) == [
        outsider.organization.pk
    ]


def test_an_organization_has_at_most_one_default_caller_id_in_the_admin(client, owner):
    staff(client, owner)
    url = reverse("admin:campaigns_callerid_add")
    organization = owner.organization.pk

    first = client.post(
        url, {"organization": organization, "phone_number": "+15555550101", "is_default": "on"}
    )
    second = client.post(
        url, {"organization": organization, "phone_number": "+15555550102", "is_default": "on"}
    )

    assert first.status_code == 302
    assert "already has a default caller ID" in second.content.decode()
    assert list(CallerId.objects.values_list("phone_number", "is_default")) == [
        ("+15555550101", True)
    ]


def test_it_keeps_caller_ids_in_use(client, owner):
    staff(client, owner)
    used = CampaignFactory(organization=owner.organization).caller_id
    spare = CallerIdFactory(organization=owner.organization, phone_number="+15555550177")

    client.post(reverse("admin:campaigns_callerid_delete", args=[spare.pk]), {"post": "yes"})

    assert list(CallerId.objects.values_list("pk", flat=True)) == [used.pk]


def test_the_campaign_form_ticks_days_and_uses_plain_time_inputs(client, owner):
    staff(client, owner)
    template = CampaignFactory(organization=owner.organization)
    add_url = reverse("admin:campaigns_campaign_add")

    page = client.get(add_url).content.decode()
    assert 'type="checkbox" name="days_of_week" value="6"' in page
    # A new campaign starts with every day ticked, as the model's default.
    assert len(re.findall(r'name="days_of_week" value="\d"[^>]*\schecked(?=[\s>/])', page)) == 7
    for name in ("window_start", "window_end"):
        tag = re.search(rf'<input type="time" name="{name}"[^>]*>', page)
        assert tag is not None
        # The admin's clock widget (and its "Now" shortcut) hooks on this class.
        assert "vTimeField" not in tag.group(0)

    response = client.post(
        add_url,
        {
            "organization": owner.organization.pk,
            "name": "Weekdays",
            "script": template.script_id,
            "voice": template.voice_id,
            "contact_list": template.contact_list_id,
            "caller_id": template.caller_id_id,
            "days_of_week": ["4", "0", "2"],
            "window_start": "09:30",
            "window_end": "17:00",
            "max_concurrent_calls": 5,
            "calls_per_second": "1",
            "max_attempts": 3,
            "retry_no_answer_minutes": 60,
            "retry_busy_minutes": 15,
            "retry_voicemail_minutes": 240,
            "voicemail_behaviour": "hang_up",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    saved = Campaign.objects.get(name="Weekdays")
    assert saved.days_of_week == [0, 2, 4]
    assert (saved.window_start.isoformat(), saved.window_end.isoformat()) == (
        "09:30:00",
        "17:00:00",
    )
    page = client.get(reverse("admin:campaigns_campaign_change", args=[saved.pk])).content.decode()
    # The `checked` attribute, not the theme's `checked:…` CSS classes.
    ticked = re.findall(r'name="days_of_week" value="(\d)"[^>]*\schecked(?=[\s>/])', page)
    assert ticked == ["0", "2", "4"]

    refused = client.post(reverse("admin:campaigns_campaign_change", args=[saved.pk]), {})
    assert "Tick at least one day." in refused.content.decode()
