"""The admin: branded, and scoped to the signed-in member's organization."""

from __future__ import annotations

import re


def make_staff(persona):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts"))
    return user


def test_it_brands_the_admin_and_shows_the_dashboard(client, owner):
    client.force_login(make_staff(owner))

    response = client.get("/admin/")

    content = response.content.decode()
    assert response.status_code == 200
    assert re.search(r"<title>\s*Dashboard \| Anvil Voice</title>", content)
    assert 'id="anvil-dashboard"' in content


def test_it_lists_only_the_members_organization_keys(client, owner, outsider):
    client.force_login(make_staff(owner))

    response = client.get("/admin/accounts/apikey/")

    content = response.content.decode()
    assert owner.api_key.prefix in content
    assert outsider.api_key.prefix not in content


def test_it_answers_404_for_another_organizations_key_page(client, owner, outsider):
    client.force_login(make_staff(owner))

    response = client.get(f"/admin/accounts/apikey/{outsider.api_key.pk}/change/")

    # Django's admin redirects to the index with a "does not exist" message for hidden rows.
    assert response.status_code == 302
    assert response.url == "/admin/"


def test_it_forbids_a_viewer_from_revoking_keys(client, viewer, owner):
    client.force_login(make_staff(viewer))

    response = client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [owner.api_key.pk]},
    )

    owner.api_key.refresh_from_db()
    assert owner.api_key.revoked_at is None
    # The action is not offered to a viewer, so the changelist just shows again.
    assert response.status_code == 200
    assert b'value="revoke"' not in response.content
