"""Tenant isolation: another organization's objects are 404, lists show only your own."""

from __future__ import annotations

KEYS = "/api/v1/voice/api-keys"


def test_it_lists_only_the_callers_organization(owner, member, outsider):
    body = owner.client.get(KEYS).json()

    assert sorted(row["id"] for row in body["data"]) == sorted(
        [owner.api_key.pk, member.api_key.pk]
    )


def test_it_answers_404_for_another_organizations_object(owner, outsider):
    response = outsider.client.delete(f"{KEYS}/{owner.api_key.pk}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    owner.api_key.refresh_from_db()
    assert owner.api_key.revoked_at is None


def test_it_lets_a_member_act_on_their_own_organization(owner, member):
    response = member.client.delete(f"{KEYS}/{owner.api_key.pk}")

    assert response.status_code == 204
    owner.api_key.refresh_from_db()
    assert owner.api_key.revoked_at is not None


def test_it_forbids_a_manager_from_issuing_an_owner_key(member):
    response = member.client.post(KEYS, {"name": "root", "role": "owner"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_it_scopes_session_users_to_their_membership(client, owner, outsider):
    client.force_login(outsider.membership.user)

    body = client.get(KEYS).json()

    assert [row["id"] for row in body["data"]] == [outsider.api_key.pk]


def test_it_refuses_a_signed_in_user_without_an_organization(client, django_user_model):
    user = django_user_model.objects.create_user("drifter", password="x" * 12)
    client.force_login(user)

    response = client.get(KEYS)

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "PERMISSION_DENIED",
        "message": "You are not a member of any organization.",
    }


def test_it_refuses_subclasses_that_override_get_queryset():
    import pytest

    from anvil_voice.api.views import OrganizationScopedViewSet

    with pytest.raises(TypeError, match="get_base_queryset"):

        class Leaky(OrganizationScopedViewSet):
            def get_queryset(self):  # pragma: no cover - never called
                return None
