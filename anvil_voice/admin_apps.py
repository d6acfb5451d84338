"""The admin app with our site as `admin.site` (Django's documented way to replace the default
site). Kept apart from `admin_site`: an app config is imported while the app registry is still
loading, before the models the site's login form needs."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class AnvilAdminConfig(AdminConfig):
    default_site = "anvil_voice.admin_site.AnvilAdminSite"
