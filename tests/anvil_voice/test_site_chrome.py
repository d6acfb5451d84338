"""The site's chrome: a favicon everywhere, and the admin's "View site" leads somewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, override_settings


def served(path: str) -> tuple[int, bytes]:
    # Static files come from the finders, as under `make run` (WhiteNoise with DEBUG).
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        response = Client().get(path)
        return response.status_code, b"".join(getattr(response, "streaming_content", [])) or (
            response.content
        )


def staff_client(client: Client, persona: Any) -> Client:
    user = persona.membership.user
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_favicon_ico_leads_to_a_served_icon(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code in {301, 302}
    status, body = served(response["Location"])
    assert status == 200
    assert b"<svg" in body


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/"])
def test_admin_pages_link_the_icon(client, owner, path):
    if path == "/admin/":
        staff_client(client, owner)

    html = client.get(path).content.decode()

    icon = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert icon is not None
    assert served(icon.group(1))[0] == 200


def test_view_site_leads_to_a_page_that_exists(client, owner):
    staff_client(client, owner)
    html = client.get("/admin/").content.decode()
    # The theme's account menu: `<a href="…" class="…">View site</a>`.
    assert re.search(rf'href="{admin.site.site_url}"[^>]*>\s*View site\s*</a>', html)

    response = client.get(admin.site.site_url, follow=True)

    assert response.status_code == 200
    assert 'id="anvil-dashboard"' in response.content.decode()


def test_the_root_url_leads_to_the_admin(client, db):
    response = client.get("/")

    assert response.status_code in {301, 302}
    assert response["Location"] == "/admin/"
