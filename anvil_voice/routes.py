"""The resource routes. Paths follow the customer's spec exactly (a trailing slash is optional)."""

from typing import Any

from rest_framework.routers import SimpleRouter

from anvil_voice.accounts.api import ApiKeyViewSet
from anvil_voice.webhooks.api.views import WebhookEndpointViewSet
from campaigns.api.calls import CallsViewSet, SessionCallbackViewSet
from campaigns.api.costs import CampaignCostViewSet
from campaigns.api.experiments import CampaignExperimentViewSet
from campaigns.api.views import (
    CampaignViewSet,
    ContactListViewSet,
    DoNotCallViewSet,
    PhoneNumberViewSet,
)
from campaigns.rehearsal.api import CampaignRehearsalViewSet, RehearsalViewSet
from scripts.api.views import ScriptViewSet
from sessions.api.views import SessionViewSet
from voices.api.views import VoiceViewSet


class ApiRouter(SimpleRouter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The spec writes paths without a trailing slash; browsers and some clients add one.
        self.trailing_slash = "/?"


router = ApiRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("voices", VoiceViewSet, basename="voice")
router.register("scripts", ScriptViewSet, basename="script")
router.register("sessions", SessionViewSet, basename="session")
# `/sessions/:id/callback` needs campaigns' rules (calling window, do-not-call list).
router.register("sessions", SessionCallbackViewSet, basename="session-callback")
router.register("calls", CallsViewSet, basename="call")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("campaigns", CampaignViewSet, basename="campaign")
# `/campaigns/:id/experiment[/results|/promote]`: the campaign's script experiment.
router.register("campaigns", CampaignExperimentViewSet, basename="campaign-experiment")
# `/campaigns/:id/costs` and `/campaigns/:id/budget` (issue 19 part 3).
router.register("campaigns", CampaignCostViewSet, basename="campaign-cost")
# `/campaigns/:id/rehearsals` and `/rehearsals/:id` (issue 19): simulated, never dialled.
router.register("campaigns", CampaignRehearsalViewSet, basename="campaign-rehearsal")
router.register("rehearsals", RehearsalViewSet, basename="rehearsal")
router.register("contact-lists", ContactListViewSet, basename="contact-list")
router.register("do-not-call", DoNotCallViewSet, basename="do-not-call")
router.register("phone-numbers", PhoneNumberViewSet, basename="phone-number")

urlpatterns = router.urls
