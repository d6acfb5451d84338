"""The admin's theme: navigation in workflow order, built from what the user may see."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission
from django.test import Client

from campaigns.factories import ContactFactory
from sessions.factories import CallSessionFactory

WORKFLOW = ["Voices", "Scripts", "Contact lists", "Campaigns", "Call sessions"]
PRODUCT_APPS = ["voices", "scripts", "campaigns", "call_sessions", "accounts"]


def staff(client: Client, persona, app_labels=PRODUCT_APPS):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=app_labels))
    client.force_login(user)
    return user


def sidebar(html: str) -> tuple[list[str], list[str]]:
    """The sidebar's group titles and link texts, in page order."""
    nav = html[html.index('id="nav-sidebar-apps"') :]
    nav = nav[: nav.index("</nav>")] if "</nav>" in nav else nav
    titles = [t.strip().split("\n")[0].strip() for t in re.findall(r"<h2[^>]*>(.*?)<", nav, re.S)]
    links = [text.strip() for text in re.findall(r"<span>([^<]+)</span>", nav)]
    return titles, links


def positions(items: list[str], wanted: list[str]) -> list[int]:
    return [items.index(name) for name in wanted]


def test_the_sidebar_and_the_index_follow_the_workflow(admin_client: Client) -> None:
    html = admin_client.get("/admin/").content.decode()

    titles, links = sidebar(html)
    assert titles == ["Build", "Run", "Settings", "Authentication and Authorization"]
    run = ["Scheduled callbacks", "Live monitor", "Test call", "Analytics", "Dashboard"]
    order = positions(links, [*WORKFLOW, *run])
    assert order == sorted(order)
    assert positions(links, ["Dashboard", "Organizations", "Users"]) == sorted(
        positions(links, ["Dashboard", "Organizations", "Users"])
    )
    assert links[-2:] == ["Users", "Groups"]

    # The index lists the apps in the same order, Django's own last.
    apps = re.findall(r'<div class="app-(\w+) module', html)
    assert apps[:4] == ["voices", "scripts", "campaigns", "call_sessions"]
    assert apps[-1] == "auth"


def test_the_sidebar_shows_only_what_the_role_allows(client: Client, viewer) -> None:
    staff(client, viewer, app_labels=["voices"])

    titles, links = sidebar(client.get("/admin/").content.decode())

    assert "Voices" in links
    assert not {"Scripts", "Campaigns", "Call sessions", "Users", "Organizations"} & set(links)
    assert "Authentication and Authorization" not in titles
    # A viewer places no calls and, without the sessions' view permission, reads no analytics.
    assert not {"Test call", "Analytics"} & set(links)


def test_a_manager_sees_the_test_call_and_analytics_pages(client: Client, member) -> None:
    staff(client, member)

    _, links = sidebar(client.get("/admin/").content.decode())

    assert {"Live monitor", "Test call", "Analytics", "Dashboard"} <= set(links)


def test_the_sessions_list_names_the_contact(client: Client, owner) -> None:
    staff(client, owner)
    contact = ContactFactory(
        contact_list__organization=owner.organization, first_name="Ivy", last_name="Stone"
    )
    CallSessionFactory(organization=owner.organization, contact=contact)

    html = client.get("/admin/call_sessions/callsession/").content.decode()

    assert "Ivy Stone" in html
