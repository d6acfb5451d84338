"""The admin's sign-in page, throttled (anvil_voice.accounts.login_throttle).

The form refuses a locked account or address before checking the password, with a message on
the page (200, the usual login page), and counts wrong passwords. The view sets the cookie
that marks a browser as having signed in to the account, which lets it past the account's
lock later.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from unfold.forms import AuthenticationForm

from anvil_voice.accounts import login_throttle
from anvil_voice.api.client_address import client_ip

TRUSTED_BROWSER_COOKIE = "anvil_signed_in_as"
TRUSTED_BROWSER_SALT = "anvil_voice.accounts.admin_login.trusted_browser"


def _folded(username: str) -> str:
    return username.strip().casefold()


def browser_signed_in_as(request: HttpRequest, username: str) -> bool:
    signed = request.get_signed_cookie(
        TRUSTED_BROWSER_COOKIE,
        default="",
        salt=TRUSTED_BROWSER_SALT,
        max_age=settings.ADMIN_LOGIN_TRUSTED_BROWSER_DAYS * 86400,
    )
    return bool(username) and signed == _folded(username)


class ThrottledAdminAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        if not (username and self.cleaned_data.get("password")):
            return super().clean()  # the required-field errors; no password was checked
        request = self.request
        assert request is not None  # the admin's LoginView always passes it
        ip = client_ip(request)
        lockout = login_throttle.login_lockout(
            username=username,
            ip=ip,
            trusted_browser=browser_signed_in_as(request, username),
        )
        if lockout is not None:
            raise ValidationError(lockout.message, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                login_throttle.login_failure_record(username=username, ip=ip)
            raise
        login_throttle.login_success_record(username=username)
        return cleaned


def admin_login(request: HttpRequest) -> HttpResponse:
    """`/admin/login/`: the admin's own view, plus the trusted-browser cookie on success."""
    response = admin.site.login(request)
    user = request.user
    if request.method == "POST" and user.is_authenticated and response.status_code == 302:
        response.set_signed_cookie(
            TRUSTED_BROWSER_COOKIE,
            _folded(user.get_username()),
            salt=TRUSTED_BROWSER_SALT,
            max_age=settings.ADMIN_LOGIN_TRUSTED_BROWSER_DAYS * 86400,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response
