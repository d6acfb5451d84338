"""Issue 17 in a real browser: the campaign control room follows a simulator call without a
reload, and the campaign page says when a campaign waiting for its window next dials.

The server, the simulator, Chromium and the signed-in manager are the fixtures of
`test_browser_campaign_manager` (imported, not copied). The campaigns are made with the
factories of the live-call tests (`tests.sessions.live_call_support`): the day in the admin
that builds them through the forms is that other test's subject. Every element is found by the
`data-testid` attributes of our own templates, so a theme can restyle the admin freely.
Screenshots: `campaign-next-dial.png` (the campaign page's next-dial line) and
`control-room.png` (the room during the call), `control-room-finished.png` (after it).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import pytest
import time_machine
from browser_support import BrowserServer, screenshot
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, expect
from test_browser_campaign_manager import (  # the harness's fixtures, reused
    CALL_WAIT,
    manager,
    simulator,
)

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import Campaign, CampaignStatus
from sessions.models import TERMINAL_CALL_STATUSES, CallSession
from tests.anvil_voice.telephony.test_carrier_harness import SimulatorThread, number, wait_for
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import live_settings, persona_campaign

__all__ = ["manager", "simulator"]  # fixtures used by name (server, browser, page: conftest)

# Not repeated on the PostgreSQL pass (about a minute, most of it the call): what it stores and
# reads there is repeated by tests/campaigns/test_campaigns_control_room.py and _next_dial.py.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.audio_behaviour]

SYSTEM = services.Actor.named("browser test")
CALL_MS = CALL_WAIT * 1000


def sign_in(page: Page, base: str, user: Any) -> None:
    """The manager's admin session, given to the browser as its cookie (the login form is
    the other test's, and the theme's)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": base, "httpOnly": True}]
    )


def room(page: Page, testid: str) -> Any:
    return page.locator(f'[data-testid="{testid}"]')


def test_the_control_room_follows_a_call_and_the_campaign_says_when_it_next_dials(
    page: Page,
    server: BrowserServer,
    simulator: SimulatorThread,
    settings: Any,
    acme: Any,
    manager: Any,
) -> None:
    live_settings(settings, simulator, server)
    base = server.url
    sign_in(page, base, manager)

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):  # 10:00 in New York
        # A campaign calling only from 14:00: the dispatcher reschedules its contact and notes
        # the window's opening, which the campaign page tells in New York time.
        later = persona_campaign(acme, {"06": "Nick"}, name="Afternoon list")
        later.window_start = time(14, 0)
        later.save(update_fields=["window_start"])
        services.campaign_start(campaign=later, actor=SYSTEM)
        assert dispatch_due() == 0

        page.goto(f"{base}/admin/campaigns/campaign/{later.pk}/change/")
        line = room(page, "campaign-next-dial")
        expect(line).to_have_attribute("data-reason", "window")
        expect(line).to_contain_text(
            re.compile(r"Next dial 14:00 America/New_York \(in \d+ h( \d+ min)?\)")
        )
        screenshot(page, "campaign-next-dial")
        page.goto(f"{base}/admin/campaigns/campaign/")
        expect(page.get_by_text(re.compile(r"Next dial 14:00 America/New_York"))).to_be_visible()
        services.campaign_pause(campaign=later, actor=SYSTEM)  # out of the way of the next tick

        # The room of a running campaign, opened before its call exists.
        campaign = persona_campaign(acme, {"04": "Ivy"}, name="Spring solar")
        services.campaign_start(campaign=campaign, actor=SYSTEM)
        page.goto(f"{base}/admin/campaigns/campaign/{campaign.pk}/change/")
        room(page, "campaign-control-room-link").click()
        expect(room(page, "control-room")).to_be_visible()
        expect(room(page, "control-room-connection")).to_have_attribute("data-state", "live")
        expect(room(page, "control-room-no-calls")).to_be_visible()
        expect(room(page, "control-room-total")).to_have_text("1")
        # Cleared by any navigation: still set at the end means no reload happened.
        page.evaluate("window.__controlRoomLoaded = true")

        assert dispatch_due() == 1
        session = CallSession.objects.get(campaign=campaign)

        call = page.locator(f'[data-testid="control-room-call"][data-session-id="{session.pk}"]')
        expect(call).to_contain_text("Ivy", timeout=CALL_MS)
        expect(call).to_contain_text(number("04", "212")[:-4] + "····")
        expect(call).not_to_contain_text(number("04", "212"))
        expect(room(page, "control-room-in-flight")).to_have_text("1")
        # A turn of the conversation, heard while the call is still up.
        expect(call.locator('[data-testid="control-room-call-turn"]')).to_contain_text(
            re.compile(r"(Agent|Contact): \w"), timeout=CALL_MS
        )
        expect(call.locator('[data-testid="control-room-call-elapsed"]')).to_have_text(
            re.compile(r"^\d+:\d\d$")
        )
        screenshot(page, "control-room")

        wait_for(
            lambda: CallSession.objects.filter(
                pk=session.pk, status__in=TERMINAL_CALL_STATUSES
            ).exists(),
            CALL_WAIT,
            "the call to end",
        )
        # Its only contact is done: the outcome handler completes the campaign.
        wait_for(
            lambda: Campaign.objects.filter(
                pk=campaign.pk, status=CampaignStatus.COMPLETED
            ).exists(),
            CALL_WAIT,
            "the campaign to complete",
        )
        finished = page.locator(
            f'[data-testid="control-room-recent-call"][data-session-id="{session.pk}"]'
        )
        expect(finished).to_contain_text("Interested", timeout=CALL_MS)
        expect(room(page, "control-room-done")).to_have_text("1")
        expect(room(page, "control-room-no-calls")).to_be_visible()
        expect(room(page, "control-room-answer-rate")).to_have_text("100.0%")
        expect(room(page, "control-room-status")).to_have_attribute("data-status", "completed")
        expect(room(page, "control-room-outcomes")).to_contain_text("Interested: 1")
        expect(
            room(page, "control-room-outcome-chart").locator('rect[data-key="interested"]')
        ).to_have_attribute("data-value", "1")
        expect(room(page, "control-room-pause")).to_be_disabled()
        assert page.evaluate("window.__controlRoomLoaded") is True
        screenshot(page, "control-room-finished")
