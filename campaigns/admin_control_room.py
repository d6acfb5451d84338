"""A campaign's control room in the admin (issue 17): `<id>/control-room/` and its JSON.

Both are the campaign admin's own views, so they read the campaign through its scoped
queryset (another organization's campaign is a 404, as on the change page) and ask the same
object permissions: viewing needs the view permission in the campaign's organization, the
pause/resume/stop buttons POST to the change page's lifecycle view, which asks for the change
permission there (a viewer sees them disabled and a forged POST is refused).

The page's script (`static/anvil/control_room.js`) refreshes from `state/` when the live
monitor's websocket reports a call event of the organization, and every few seconds anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from anvil_voice.charts import Chart
from campaigns.admin_panel import campaign_page_object
from campaigns.control_room import control_room_snapshot
from campaigns.models import Campaign, CampaignStatus

if TYPE_CHECKING:
    from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin

    ModelAdminBase = OrganizationScopedAdmin
else:
    ModelAdminBase = object

# Where a lifecycle button of the control room sends the user back to (`return_to`).
RETURN_TO_CONTROL_ROOM = "control_room"
# The page refreshes at least this often, websocket or not.
POLL_SECONDS = 3


class ControlRoomAdminMixin(ModelAdminBase):
    """Adds the control room to `CampaignAdmin` (which provides the charts and buttons)."""

    def control_room_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/control-room/",
                self.admin_site.admin_view(self.control_room_view),
                name="campaigns_campaign_control_room",
            ),
            path(
                "<path:object_id>/control-room/state/",
                self.admin_site.admin_view(self.control_room_state_view),
                name="campaigns_campaign_control_room_state",
            ),
        ]

    def _room_payload(self, request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
        snapshot = control_room_snapshot(campaign=campaign)
        charts = self.control_room_charts(campaign)
        snapshot["charts"] = {
            key: render_to_string("admin/includes/bar_chart.svg.html", {"chart": chart})
            for key, chart in charts.items()
        }
        snapshot["buttons"] = self.control_room_buttons(request, campaign)
        return snapshot

    if TYPE_CHECKING:  # provided by CampaignAdmin, shared with the change page's panel

        def control_room_charts(self, campaign: Campaign) -> dict[str, Chart]: ...

        def lifecycle_buttons(
            self, request: HttpRequest, campaign: Campaign
        ) -> list[dict[str, Any]]: ...

    def control_room_buttons(
        self, request: HttpRequest, campaign: Campaign
    ) -> list[dict[str, Any]]:
        buttons = self.lifecycle_buttons(request, campaign)
        for button in buttons:
            if button["verb"] == "start":
                # From the control room, starting a paused campaign is resuming it.
                button["label"] = "Resume" if campaign.status == CampaignStatus.PAUSED else "Start"
        return buttons

    def control_room_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = campaign_page_object(self, request, object_id)
        payload = self._room_payload(request, campaign)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Control room: {campaign.name}",
            "opts": self.opts,
            "campaign": campaign,
            "room": payload,
            "state_url": reverse("admin:campaigns_campaign_control_room_state", args=[campaign.pk]),
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
            "sessions_url": reverse("admin:call_sessions_callsession_changelist")
            + f"?campaign__id__exact={campaign.pk}",
            "return_to": RETURN_TO_CONTROL_ROOM,
            "poll_seconds": POLL_SECONDS,
        }
        return TemplateResponse(request, "campaigns/admin/control_room.html", context)

    def control_room_state_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        campaign = campaign_page_object(self, request, object_id)
        # Not cached by the browser: `admin_view` wraps it in never_cache.
        return JsonResponse(self._room_payload(request, campaign))
