"""Issue 15 items 1 and 2: roles in the admin, per organization, as strict as the API.

Personas from tests/conftest.py: Olivia owns Acme, Mario manages Acme, Vera views Acme, Oscar
owns Globex. Here Mario is also a viewer in Globex and Vera also owns Globex, so each has two
organizations with different roles: the situation the probe exploited.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from anvil_voice.accounts.factories import MembershipFactory, OrganizationFactory
from anvil_voice.accounts.models import Membership, Role


def sign_in(client, user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts"))
    client.force_login(user)
    return user


@pytest.fixture
def mario(client, member, globex):
    """Manager in Acme, viewer in Globex."""
    MembershipFactory(organization=globex, user=member.membership.user, role=Role.VIEWER)
    return sign_in(client, member.membership.user)


def options(content: bytes, field: str) -> set[str]:
    select = re.search(rf'<select name="{field}".*?</select>', content.decode(), re.S)
    assert select is not None, f"no {field} select"
    return set(re.findall(r'<option value="([^"]+)"', select.group(0)))


def change_membership(client, membership: Membership, role: str):
    return client.post(
        reverse("admin:accounts_membership_change", args=[membership.pk]),
        {
            "organization": membership.organization_id,
            "user": membership.user_id,
            "role": role,
        },
    )


# --- Item 1: list actions follow the role in each row's organization --------------------------


def test_a_viewer_in_one_organization_cannot_revoke_its_keys_by_owning_another(
    client, viewer, owner, globex
):
    MembershipFactory(organization=globex, user=viewer.membership.user, role=Role.OWNER)
    sign_in(client, viewer.membership.user)

    response = client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [owner.api_key.pk]},
        follow=True,
    )

    owner.api_key.refresh_from_db()
    assert owner.api_key.revoked_at is None
    assert "Nothing was done" in response.content.decode()


def test_a_manager_still_revokes_keys_of_her_organization(client, mario, owner):
    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [owner.api_key.pk]},
    )

    owner.api_key.refresh_from_db()
    assert owner.api_key.revoked_at is not None  # as DELETE /api-keys/:id allows a manager


# --- Item 2: nobody climbs to owner -----------------------------------------------------------


def test_a_manager_cannot_make_herself_owner(client, mario, member):
    response = change_membership(client, member.membership, Role.OWNER)

    member.membership.refresh_from_db()
    assert member.membership.role == Role.MANAGER
    assert response.status_code in (200, 403)
    assert Membership.objects.filter(role=Role.OWNER, user=member.membership.user).count() == 0


def test_a_manager_cannot_make_another_member_owner(client, mario, viewer):
    response = change_membership(client, viewer.membership, Role.OWNER)

    viewer.membership.refresh_from_db()
    assert viewer.membership.role == Role.VIEWER
    assert "above your own" in response.content.decode()


def test_a_manager_can_still_promote_a_viewer_to_manager(client, mario, viewer):
    response = change_membership(client, viewer.membership, Role.MANAGER)

    viewer.membership.refresh_from_db()
    assert response.status_code == 302
    assert viewer.membership.role == Role.MANAGER


def test_a_manager_cannot_raise_an_api_key_to_owner(client, mario, member):
    response = client.post(
        reverse("admin:accounts_apikey_change", args=[member.api_key.pk]),
        {"organization": member.organization.pk, "name": "mine", "role": Role.OWNER},
    )

    member.api_key.refresh_from_db()
    assert member.api_key.role == Role.MANAGER
    assert response.status_code == 200
    assert "above your own" in response.content.decode()


def test_a_manager_cannot_change_an_owner_key(client, mario, owner):
    response = client.post(
        reverse("admin:accounts_apikey_change", args=[owner.api_key.pk]),
        {"organization": owner.organization.pk, "name": "demoted", "role": Role.VIEWER},
    )

    owner.api_key.refresh_from_db()
    assert response.status_code == 403
    assert (owner.api_key.name, owner.api_key.role) == ("olivia", Role.OWNER)


def test_a_manager_cannot_delete_an_owners_membership(client, mario, owner):
    page = client.post(
        reverse("admin:accounts_membership_delete", args=[owner.membership.pk]), {"post": "yes"}
    )
    for post in ({}, {"post": "yes"}):
        client.post(
            reverse("admin:accounts_membership_changelist"),
            {"action": "delete_selected", "_selected_action": [owner.membership.pk], **post},
        )

    assert page.status_code == 403
    assert Membership.objects.filter(pk=owner.membership.pk, role=Role.OWNER).exists()


def test_the_last_owner_can_neither_leave_nor_step_down(client, owner):
    sign_in(client, owner.membership.user)

    step_down = change_membership(client, owner.membership, Role.MANAGER)
    leave = client.post(
        reverse("admin:accounts_membership_delete", args=[owner.membership.pk]), {"post": "yes"}
    )

    owner.membership.refresh_from_db()
    assert owner.membership.role == Role.OWNER
    assert "at least one owner" in step_down.content.decode()
    assert leave.status_code == 403


def test_two_owners_cannot_both_be_removed_in_one_action(client, owner, acme):
    second = MembershipFactory(organization=acme, role=Role.OWNER)
    sign_in(client, owner.membership.user)

    response = client.post(
        reverse("admin:accounts_membership_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [owner.membership.pk, second.pk],
            "post": "yes",
        },
        follow=True,
    )

    assert Membership.objects.filter(organization=acme, role=Role.OWNER).count() == 2
    assert "at least one owner" in response.content.decode()


def test_an_owner_can_grant_owner(client, owner, member):
    sign_in(client, owner.membership.user)

    response = change_membership(client, member.membership, Role.OWNER)

    member.membership.refresh_from_db()
    assert response.status_code == 302
    assert member.membership.role == Role.OWNER


def test_the_membership_form_lists_only_people_of_organizations_the_editor_manages(
    client, mario, owner, viewer, outsider, acme
):
    url = reverse("admin:accounts_membership_add")
    stranger = outsider.membership.user

    page = client.get(url)
    forged = client.post(url, {"organization": acme.pk, "user": stranger.pk, "role": "viewer"})

    assert options(page.content, "user") == {
        str(persona.membership.user_id) for persona in (owner, viewer)
    } | {str(mario.pk)}
    assert options(page.content, "organization") == {str(acme.pk)}
    assert "Select a valid choice" in forged.content.decode()
    assert not Membership.objects.filter(user=stranger, organization=acme).exists()


def test_a_manager_adds_people_she_manages_elsewhere_but_never_as_owner(client, mario, acme):
    initech = OrganizationFactory(name="Initech", slug="initech")
    MembershipFactory(organization=initech, user=mario, role=Role.MANAGER)
    ian = MembershipFactory(organization=initech, role=Role.VIEWER).user
    url = reverse("admin:accounts_membership_add")

    as_owner = client.post(url, {"organization": acme.pk, "user": ian.pk, "role": Role.OWNER})
    assert not Membership.objects.filter(organization=acme, user=ian).exists()
    as_viewer = client.post(url, {"organization": acme.pk, "user": ian.pk, "role": Role.VIEWER})

    assert "above your own" in as_owner.content.decode()
    assert as_viewer.status_code == 302
    assert Membership.objects.get(organization=acme, user=ian).role == Role.VIEWER


# --- Item 1: the organization's own settings --------------------------------------------------


def test_only_an_owner_changes_or_deletes_the_organization(client, mario, owner, acme):
    change = reverse("admin:accounts_organization_change", args=[acme.pk])
    disclosure_off = {"name": acme.name, "slug": acme.slug}  # the checkbox left unticked

    by_manager = client.post(change, disclosure_off)
    deleted_by_manager = client.post(
        reverse("admin:accounts_organization_delete", args=[acme.pk]), {"post": "yes"}
    )
    acme.refresh_from_db()
    assert (by_manager.status_code, deleted_by_manager.status_code) == (403, 403)
    assert acme.ai_disclosure_required is True

    sign_in(client, owner.membership.user)
    by_owner = client.post(change, disclosure_off)

    acme.refresh_from_db()
    assert by_owner.status_code == 302
    assert acme.ai_disclosure_required is False


def test_a_staff_member_cannot_create_organizations(client, mario):
    response = client.post(
        reverse("admin:accounts_organization_add"), {"name": "Shadow", "slug": "shadow"}
    )

    assert response.status_code == 403


# --- Item 3: the per-organization calls-per-second cap is an operator's to set --------------


def change_organization(client, organization, **fields):
    data = {
        "name": organization.name,
        "slug": organization.slug,
        "ai_disclosure_required": "on",
        "max_calls_per_second": "",
        **fields,
    }
    return client.post(reverse("admin:accounts_organization_change", args=[organization.pk]), data)


def test_an_owner_cannot_raise_her_organizations_calls_per_second_cap(client, owner):
    acme = owner.organization
    acme.max_calls_per_second = 2
    acme.save()
    sign_in(client, owner.membership.user)

    page = client.get(reverse("admin:accounts_organization_change", args=[acme.pk]))
    response = change_organization(client, acme, max_calls_per_second="50", name="Acme Two")

    acme.refresh_from_db()
    assert 'name="max_calls_per_second"' not in page.content.decode()  # shown read-only
    assert response.status_code == 302  # her other settings are still hers to change
    assert (acme.name, acme.max_calls_per_second) == ("Acme Two", 2)


def test_an_operator_sets_and_clears_an_organizations_cap(admin_client, acme):
    capped = change_organization(admin_client, acme, max_calls_per_second="3.5")
    acme.refresh_from_db()
    cap = acme.max_calls_per_second
    cleared = change_organization(admin_client, acme)
    acme.refresh_from_db()

    assert (capped.status_code, cap) == (302, 3.5)
    assert (cleared.status_code, acme.max_calls_per_second) == (302, None)


def test_an_operators_cap_must_be_positive(admin_client, acme):
    response = change_organization(admin_client, acme, max_calls_per_second="0")

    acme.refresh_from_db()
    assert response.status_code == 200
    assert acme.max_calls_per_second is None
