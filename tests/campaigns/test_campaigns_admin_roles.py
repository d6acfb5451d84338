"""Issue 15 item 1: the admin applies the API's role rules per organization.

Vera is a viewer in Acme and the owner of Globex. Before the fix, being allowed to write
*somewhere* let her write *everywhere* she could see: list actions on Acme's rows, and add forms
offering Acme. Each test drives `/admin/` as she would and checks that no row changed.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from anvil_voice.accounts.factories import MembershipFactory
from anvil_voice.accounts.models import Role
from anvil_voice.webhooks.models import WebhookEndpoint
from campaigns.factories import CallerIdFactory, CampaignFactory, ContactListFactory
from campaigns.models import CallerId, Campaign, CampaignStatus, ContactList, DoNotCallEntry
from scripts.models import Script

ADMIN_APPS = ["accounts", "campaigns", "scripts", "webhooks", "voices"]


@pytest.fixture
def vera(client, viewer, globex):
    """Viewer in Acme, owner of Globex, staff with every model permission of the product."""
    user = viewer.membership.user
    MembershipFactory(organization=globex, user=user, role=Role.OWNER)
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
    client.force_login(user)
    return user


def options(content: bytes, field: str) -> set[str]:
    """The non-empty choices of one <select> on an admin page."""
    select = re.search(rf'<select name="{field}".*?</select>', content.decode(), re.S)
    assert select is not None, f"no {field} select"
    return set(re.findall(r'<option value="([^"]+)"', select.group(0)))


def management_forms(content: bytes) -> dict[str, str]:
    """The inline formsets' hidden counters, so a POST is a complete, valid admin form."""
    pattern = r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"[^>]*value="(\d*)"'
    found = re.findall(pattern, content.decode())
    return {name: ("0" if name.endswith("TOTAL_FORMS") else value) for name, value in found}


def run_action(client, model: str, action: str, *objects) -> object:
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )


def test_it_refuses_to_start_a_campaign_where_the_user_only_views(
    client, vera, acme, make_campaign
):
    campaign = make_campaign(acme)

    response = run_action(client, "campaigns_campaign", "start_campaigns", campaign)

    campaign.refresh_from_db()
    assert response.status_code == 200
    assert campaign.status == CampaignStatus.DRAFT
    assert "Acme" in response.content.decode()
    assert "Nothing was done" in response.content.decode()


def test_an_action_spanning_organizations_is_refused_as_a_whole(
    client, vera, acme, globex, make_campaign
):
    theirs, hers = make_campaign(acme), make_campaign(globex)

    response = run_action(client, "campaigns_campaign", "start_campaigns", theirs, hers)

    statuses = set(Campaign.objects.values_list("status", flat=True))
    assert response.status_code == 200
    assert statuses == {CampaignStatus.DRAFT}
    assert "Nothing was done" in response.content.decode()


def test_an_action_within_the_users_own_organization_still_runs(
    client, vera, globex, make_campaign
):
    hers = make_campaign(globex)

    run_action(client, "campaigns_campaign", "start_campaigns", hers)

    hers.refresh_from_db()
    assert hers.status == CampaignStatus.RUNNING


def test_it_refuses_to_delete_rows_of_a_viewed_organization_in_bulk(client, vera, acme):
    # Held before the fix too (Django's delete_selected asks has_delete_permission per row);
    # kept so the rule stays true.
    contact_list = ContactListFactory(organization=acme)

    for post in ({}, {"post": "yes"}):
        client.post(
            reverse("admin:campaigns_contactlist_changelist"),
            {"action": "delete_selected", "_selected_action": [contact_list.pk], **post},
        )

    assert ContactList.objects.filter(pk=contact_list.pk).exists()


ADD_FORMS = [
    (
        "scripts_script",
        {"name": "Hijack", "language": "en", "opening_line": "Hi.", "closing_line": "Bye."},
    ),
    ("campaigns_donotcallentry", {"phone_number": "+12125550199", "reason": "x"}),
    ("campaigns_callerid", {"phone_number": "+15555550142", "label": "x"}),
    ("campaigns_contactlist", {"name": "Hijack"}),
    (
        "webhooks_webhookendpoint",
        {"url": "https://example.com/hook", "events": '["call.completed"]'},
    ),
]


@pytest.mark.parametrize(("model", "fields"), ADD_FORMS, ids=[m for m, _ in ADD_FORMS])
def test_add_forms_refuse_an_organization_where_the_user_only_views(
    client, vera, acme, globex, model, fields
):
    url = reverse(f"admin:{model}_add")

    page = client.get(url)
    response = client.post(
        url, {"organization": acme.pk, **fields, **management_forms(page.content)}
    )

    models = [Script, DoNotCallEntry, CallerId, ContactList, WebhookEndpoint]
    assert not any(m.objects.filter(organization=acme).exists() for m in models)
    assert response.status_code == 200  # the form again, with an error
    assert "Select a valid choice" in response.content.decode()
    assert options(page.content, "organization") == {str(globex.pk)}


def test_a_change_form_cannot_move_a_row_into_a_viewed_organization(client, vera, acme, globex):
    contact_list = ContactListFactory(organization=globex, name="Mine")
    url = reverse("admin:campaigns_contactlist_change", args=[contact_list.pk])
    page = client.get(url)

    response = client.post(
        url, {"organization": acme.pk, "name": "Moved", **management_forms(page.content)}
    )

    contact_list.refresh_from_db()
    assert response.status_code == 200
    assert (contact_list.organization_id, contact_list.name) == (globex.pk, "Mine")


def test_it_refuses_the_change_form_of_a_viewed_organizations_row(client, vera, acme):
    caller_id = CallerIdFactory(organization=acme, phone_number="+15555550150", label="theirs")

    response = client.post(
        reverse("admin:campaigns_callerid_change", args=[caller_id.pk]), {"label": "mine"}
    )

    caller_id.refresh_from_db()
    assert response.status_code == 403
    assert caller_id.label == "theirs"


def test_a_campaign_in_the_users_organization_cannot_use_a_viewed_organizations_script(
    client, vera, acme, globex
):
    hers = CampaignFactory(organization=globex)
    foreign = CampaignFactory(organization=acme).script

    page = client.get(reverse("admin:campaigns_campaign_change", args=[hers.pk]))

    assert foreign.organization_id == acme.pk
    assert options(page.content, "script") == {str(hers.script_id)}
