"""The admin site: the Unfold theme, navigation in the order a campaign manager works.

`AnvilAdminSite` is `admin.site` (through `admin_apps.AnvilAdminConfig`). The admin's index and
the sidebar list pages in workflow order: build (voices, scripts, contact lists), run
(campaigns, sessions and what follows a call), then settings, with Django's "Authentication and
Authorization" last. Both come from `get_app_list`, which lists only the models the user may
see, so the navigation never shows a page the user's permissions would refuse.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse
from unfold.sites import UnfoldAdminSite

from anvil_voice.accounts.admin_login import ThrottledAdminAuthenticationForm
from anvil_voice.accounts.admin_scoping import writable_organization_ids

# "app_label.model_name" in workflow order. A model missing here comes after these, in its
# app's alphabetical place, so a new model is listed (in Settings) without a change here.
WORKFLOW_ORDER = [
    "voices.voice",
    "scripts.script",
    "campaigns.contactlist",
    "campaigns.contact",
    "campaigns.campaign",
    "call_sessions.callsession",
    "call_sessions.scheduledcallback",
    "campaigns.callerid",
    "campaigns.donotcallentry",
    "campaigns.donotcallremoval",
    "accounts.organization",
    "accounts.membership",
    "accounts.apikey",
    "webhooks.webhookendpoint",
    "webhooks.webhookdelivery",
    "auth.user",
    "auth.group",
]
APP_ORDER = ["voices", "scripts", "campaigns", "call_sessions", "accounts", "webhooks", "auth"]

# The sidebar's groups: (title, models by "app_label.model_name", icon per model).
SIDEBAR_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Build",
        [
            ("voices.voice", "record_voice_over"),
            ("scripts.script", "description"),
            ("campaigns.contactlist", "contacts"),
        ],
    ),
    (
        "Run",
        [
            ("campaigns.campaign", "campaign"),
            ("call_sessions.callsession", "call"),
            ("call_sessions.scheduledcallback", "event_repeat"),
            ("campaigns.rehearsal", "theater_comedy"),
        ],
    ),
    (
        "Settings",
        [
            ("campaigns.callerid", "dialpad"),
            ("campaigns.donotcallentry", "phone_disabled"),
            ("campaigns.donotcallremoval", "history"),
            ("campaigns.contact", "person"),
            ("accounts.organization", "domain"),
            ("accounts.membership", "group"),
            ("accounts.apikey", "key"),
            ("webhooks.webhookendpoint", "webhook"),
            ("webhooks.webhookdelivery", "outbox"),
        ],
    ),
    ("Authentication and Authorization", [("auth.user", "person"), ("auth.group", "groups")]),
]


# Pages that are not a model's list, shown in the "Run" group after the sessions (any staff
# member sees them; each page scopes what it shows to the user's organizations).
def _reads_sessions(request: HttpRequest) -> bool:
    return request.user.has_perm("call_sessions.view_callsession")


def _places_calls(request: HttpRequest) -> bool:
    return bool(request.user.is_superuser or writable_organization_ids(request))


def _anyone(request: HttpRequest) -> bool:
    return True


# The pages of the "Run" group that are not a model's list, and who sees each link (a role
# never sees a link it cannot open).
RUN_PAGES = [
    ("Live monitor", "live-monitor", "monitor_heart", _anyone),
    ("Test call", "admin-test-call", "call", _places_calls),
    ("Analytics", "analytics", "insights", _reads_sessions),
    ("Dashboard", "admin:index", "dashboard", _anyone),
]


def _rank(order: list[str], key: str) -> tuple[int, str]:
    return (order.index(key), "") if key in order else (len(order), key)


class AnvilAdminSite(UnfoldAdminSite):
    site_header = "Anvil Voice"
    site_title = "Anvil Voice"
    index_title = "Dashboard"
    # "View site" leads to the dashboard (the admin's index): the project has no other site.
    site_url = "/admin/"
    # Wrong passwords are counted per account and per address (issue 15, item 10).
    login_form = ThrottledAdminAuthenticationForm

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        for app in apps:
            app["models"].sort(
                key=lambda model: _rank(
                    WORKFLOW_ORDER, f"{app['app_label']}.{model['object_name'].lower()}"
                )
            )
        apps.sort(key=lambda app: _rank(APP_ORDER, app["app_label"]))
        return apps


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """Unfold's SIDEBAR["navigation"]: the groups above, each with the models this user may see."""
    visible = {
        f"{app['app_label']}.{model['object_name'].lower()}": model
        for app in admin.site.get_app_list(request)
        for model in app["models"]
        if model.get("admin_url")
    }
    placed = {key for _, models in SIDEBAR_GROUPS for key, _ in models}
    groups: list[dict[str, Any]] = []
    for title, models in SIDEBAR_GROUPS:
        items = [
            {"title": visible[key]["name"], "link": visible[key]["admin_url"], "icon": icon}
            for key, icon in models
            if key in visible
        ]
        if title == "Run":
            items += [
                {"title": label, "link": reverse(name), "icon": icon}
                for label, name, icon, shown in RUN_PAGES
                if shown(request)
            ]
        if title == "Settings":
            items += [
                {"title": model["name"], "link": model["admin_url"], "icon": "table_rows"}
                for key, model in visible.items()
                if key not in placed
            ]
        groups.append({"title": title, "separator": bool(groups), "items": items})
    return groups


def stylesheets(request: HttpRequest) -> str:
    """Unfold's STYLES entry: our admin components in the theme's colours."""
    return static("anvil/admin.css")


def favicon(request: HttpRequest) -> str:
    """Unfold's SITE_FAVICONS entry (every admin page, the sign-in page too)."""
    return static("anvil/favicon.svg")
