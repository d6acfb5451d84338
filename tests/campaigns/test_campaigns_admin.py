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


def staged_files(settings) -> list[str]:
    root = settings.MEDIA_ROOT / "contact-imports"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.csv")) if root.exists() else []


def mapping_of(response) -> dict[str, str]:
    """The mapping form's selected column per field, as the page renders it."""
    form = response.context["mapping_form"]
    return {
        name: form[name].value() for name in form.fields if name != "token" if form[name].value()
    }


def test_it_imports_a_csv_with_one_upload_a_preview_and_a_confirm(client, owner, settings):
    staff(client, owner)
    contact_list = ContactListFactory(organization=owner.organization, name="Spring")
    url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])
    text = "phone;first name;plan\n+12125550104;Ivy;gold\nnope;Bad;x\n"

    page = client.get(url)
    preview = client.post(url, {"step": "upload", "file": csv_file(text)})
    token = preview.context["mapping_form"]["token"].value()

    assert page.status_code == 200
    assert "Import contacts into “Spring”" in page.content.decode()
    assert "Preview only" not in page.content.decode()
    content = preview.content.decode()
    assert "Preview (nothing written yet)" in content
    assert "+12125550104" in content
    assert "invalid_number" in content
    assert mapping_of(preview) == {"phoneNumber": "phone", "firstName": "first name"}
    assert not Contact.objects.exists()
    # Kept on the server under the organization's and the list's folder, not sent again.
    assert staged_files(settings) == [f"{owner.organization.pk}/{contact_list.pk}/{token}.csv"]

    imported = client.post(
        url, {"step": "confirm", "token": token, "phoneNumber": "phone", "firstName": "first name"}
    )

    assert imported.status_code == 302
    assert list(Contact.objects.values_list("phone_number", "first_name", "variables")) == [
        ("+12125550104", "Ivy", {"plan": "gold"})
    ]
    assert staged_files(settings) == []  # cleaned up


def test_the_mapping_is_editable_and_a_field_left_unused_stays_unused(client, owner, settings):
    staff(client, owner)
    contact_list = ContactListFactory(organization=owner.organization)
    url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])
    text = "Mobile,first name,Nick\n+12125550104,Ivy,Ives\n"

    first = client.post(url, {"step": "upload", "file": csv_file(text)})
    token = first.context["mapping_form"]["token"].value()
    # "Mobile" is recognised; the person takes the nickname as the first name instead.
    edited = {"token": token, "phoneNumber": "Mobile", "firstName": "Nick"}
    again = client.post(url, {"step": "preview", **edited})
    client.post(url, {"step": "confirm", **edited})

    assert mapping_of(first) == {"phoneNumber": "Mobile", "firstName": "first name"}
    assert mapping_of(again) == {"phoneNumber": "Mobile", "firstName": "Nick"}
    assert list(Contact.objects.values_list("first_name", "variables")) == [
        ("Ives", {"first_name": "Ivy"})
    ]


def test_a_file_without_a_phone_column_asks_for_one_in_plain_words(client, owner, settings):
    staff(client, owner)
    contact_list = ContactListFactory(organization=owner.organization)
    url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])

    response = client.post(
        url, {"step": "upload", "file": csv_file("name,cell no\nIvy,+12125550104\n")}
    )
    token = response.context["mapping_form"]["token"].value()
    chosen = client.post(url, {"step": "preview", "token": token, "phoneNumber": "cell no"})

    content = response.content.decode()
    assert response.status_code == 200
    assert "Pick the column that holds the phone number." in content
    assert "mapping" not in response.context["import_errors"][0]
    assert chosen.context["report"]["imported"] == 1
    assert not Contact.objects.exists()


def test_an_unreadable_file_is_refused_at_upload_and_not_kept(client, owner, settings):
    staff(client, owner)
    contact_list = ContactListFactory(organization=owner.organization)
    url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])

    response = client.post(url, {"step": "upload", "file": csv_file("")})
    latin = SimpleUploadedFile("c.csv", "phone,name\n+12125550104,Zoë\n".encode("latin-1"))
    not_utf8 = client.post(url, {"step": "upload", "file": latin})

    assert "The submitted file is empty." in response.content.decode()
    assert "The file is not UTF-8 text." in not_utf8.content.decode()
    assert staged_files(settings) == []


def test_a_token_cannot_reach_another_lists_file_and_cancel_removes_it(client, owner, settings):
    staff(client, owner)
    mine = ContactListFactory(organization=owner.organization)
    other = ContactListFactory(organization=owner.organization)
    first = client.post(
        reverse("admin:campaigns_contactlist_import", args=[mine.pk]),
        {"step": "upload", "file": csv_file("phone\n+12125550104\n")},
    )
    token = first.context["mapping_form"]["token"].value()

    elsewhere = client.post(
        reverse("admin:campaigns_contactlist_import", args=[other.pk]),
        {"step": "confirm", "token": token, "phoneNumber": "phone"},
    )
    escape = client.post(
        reverse("admin:campaigns_contactlist_import", args=[other.pk]),
        {"step": "confirm", "token": "../../x", "phoneNumber": "phone"},
    )
    cancelled = client.post(
        reverse("admin:campaigns_contactlist_import", args=[mine.pk]),
        {"step": "cancel", "token": token},
    )

    for response in (elsewhere, escape):
        assert "The uploaded file is gone; upload it again." in response.content.decode()
    assert cancelled.status_code == 302
    assert staged_files(settings) == []
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
