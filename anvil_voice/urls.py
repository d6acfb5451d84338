from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from anvil_voice.accounts.admin_login import admin_login
from campaigns.admin_analytics import analytics_view, sessions_csv_view
from campaigns.admin_test_call import test_call_page
from sessions.live.monitor_page import (
    live_monitor,
    live_monitor_card,
    live_monitor_hang_up,
    live_monitor_phone,
    live_monitor_transfer,
)


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on every page that names no icon (the API's, for one)."""
    return HttpResponsePermanentRedirect(static("anvil/favicon.svg"))


urlpatterns = [
    # Nothing is served at the root: people land on the admin's dashboard.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("favicon.ico", favicon),
    path("admin/live/", live_monitor, name="live-monitor"),
    path("admin/analytics/", admin.site.admin_view(analytics_view), name="analytics"),
    path(
        "admin/analytics/sessions.csv",
        admin.site.admin_view(sessions_csv_view),
        name="analytics-sessions-csv",
    ),
    path("admin/live/phone/", live_monitor_phone, name="live-monitor-phone"),
    path("admin/live/test-call/", test_call_page, name="admin-test-call"),
    path("admin/live/<int:session_id>/card/", live_monitor_card, name="live-monitor-card"),
    path("admin/live/<int:session_id>/hang-up/", live_monitor_hang_up, name="live-monitor-hang-up"),
    path(
        "admin/live/<int:session_id>/transfer-to-me/",
        live_monitor_transfer,
        name="live-monitor-transfer",
    ),
    # Before the admin's own login route: the throttled sign-in sets the trusted-browser cookie.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/v1/voice/", include(("anvil_voice.api.urls", "api"), namespace="api")),
    path("telephony/", include("sessions.carrier.urls")),
]
