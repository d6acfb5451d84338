"""A campaign manager tries a script on the phone from the admin and follows the call live
(issue 17), in a real browser (Chromium through Playwright).

Fill the test-call form (script, voice, number, "record" ticked), place the call, land on the
live monitor following it: its card shows the contact's name, the masked number, "Test call"
and a link to the session; "Listen in" receives the call's audio both ways over its websocket
(the page counts binary frames per direction on the card's data attributes); "Hang up" ends
the call through the carrier and the card leaves the page.

The web request only queues the placement (`placement_tasks`); the test places it as a worker
would, after the listener attached (so the call's probe finds it). Reuses the campaign-manager
test's browser, server and simulator fixtures; the callee is the
simulator's silent persona (it answers and never speaks), so the call lasts until the agent
gives up on the silence or we hang up. Screenshots: `test-call.png` (the filled form) and
`live-monitor.png` (the card while listening).
"""

from __future__ import annotations

from typing import Any

import pytest
import test_browser_campaign_manager as manager_day
import time_machine
from browser_support import BrowserServer, screenshot
from playwright.sync_api import Page, expect

from campaigns.factories import CallerIdFactory
from scripts.factories import ScriptFactory
from sessions.live.controls import STAFF_HANG_UP
from sessions.models import TERMINAL_CALL_STATUSES, CallEvent, CallSession
from sessions.tasks import session_place_call_task
from tests.anvil_voice.telephony.test_carrier_harness import (
    CALLER,
    SimulatorThread,
    point_settings_at,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from voices.factories import VoiceFactory

# Run once (not repeated on the PostgreSQL + Redis pass, for CI's 20 minutes): the listen socket
# over Redis, the controls and the test-call page on PostgreSQL are repeated there by
# tests/sessions/test_sessions_listen.py and test_sessions_live_monitor_admin.py.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.audio_behaviour]

# The campaign manager's day's fixtures, shared rather than copied (a module's fixtures are
# found by their names in the test's module).
simulator = manager_day.simulator
manager = manager_day.manager
CALL_WAIT = manager_day.CALL_WAIT
field, log_in = manager_day.field, manager_day.log_in

SILENT = "+12125550110"  # the simulator's "silent" persona (PERSONAS.md)
# Long enough that the agent is still talking when the listener attaches.
OPENING = (
    "Hi {{first_name}}, this is Alex from Acme Solar. I am calling about the spring offer on "
    "panels for your home. It takes two minutes, and there is nothing to sign today."
)


def test_a_manager_places_a_test_call_listens_in_and_hangs_up(
    page: Page,
    server: BrowserServer,
    simulator: SimulatorThread,
    settings: Any,
    acme: Any,
    manager: Any,
    placement_tasks: list[int],
) -> None:
    point_settings_at(settings, simulator, server.url)
    settings.CALL_PIPELINE = True
    settings.TWILIO_TIME_LIMIT_SECONDS = 6000  # scaled to 60 s: a safety stop only
    settings.CALL_TTS_TIMEOUT_SECONDS = 20
    settings.CALL_STT_TIMEOUT_SECONDS = 30
    CallerIdFactory(organization=acme, phone_number=CALLER)
    ScriptFactory(organization=acme, name="Spring offer", opening_line=OPENING)
    VoiceFactory(organization=acme, name="Anna")
    base = server.url

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        log_in(page, base, manager.username)
        page.goto(f"{base}/admin/live/")
        page.get_by_test_id("monitor-test-call-link").click()

        form = page.get_by_test_id("test-call-form")
        field(page, "Script").select_option(label="Spring offer")
        field(page, "Voice").select_option(label="Anna")
        field(page, "Number to call").fill(SILENT)
        field(page, "Contact's first name").fill("Dana")
        expect(form.get_by_label("Record the call")).to_be_checked()
        screenshot(page, "test-call")
        page.get_by_test_id("test-call-submit").click()

        expect(page).to_have_url(f"{base}/admin/live/?session={CallSession.objects.get().pk}")
        session = CallSession.objects.get()
        assert session.test_call_recorded
        card = page.locator(f'[data-testid="live-call-card"][data-session-id="{session.pk}"]')
        expect(card).to_be_visible()
        expect(card.get_by_test_id("live-call-session-link")).to_have_text("Dana")
        expect(card.get_by_test_id("live-call-session-link")).to_have_attribute(
            "href", f"/admin/call_sessions/callsession/{session.pk}/change/"
        )
        expect(card.get_by_test_id("live-call-number")).to_have_text("+1 ••• ••• 0110")
        expect(card.get_by_test_id("live-call-campaign")).to_have_text("Test call")
        expect(card.locator(".status")).to_have_text("Queued")

        # Listen from the start: the listener attaches before the stream and is found by the
        # call's probe, so it hears the agent's opening and the caller's line.
        card.get_by_test_id("live-call-listen").click()
        expect(card).to_have_attribute("data-listening", "true", timeout=CALL_WAIT * 1000)
        # A worker places the call (here this thread, as Celery would: not the web request).
        assert placement_tasks == [session.pk]
        assert session_place_call_task.apply(args=(session.pk,)).get() == "placed"
        page.wait_for_function(
            """(id) => {
                const card = document.querySelector(
                    '[data-testid="live-call-card"][data-session-id="' + id + '"]');
                return card && Number(card.dataset.listenCaller || 0) >= 5
                    && Number(card.dataset.listenAgent || 0) >= 5;
            }""",
            arg=str(session.pk),
            timeout=CALL_WAIT * 1000,
        )
        frames = int(card.get_attribute("data-listen-frames") or 0)
        assert frames >= 10
        expect(card.locator(".status")).to_have_text("In progress")
        expect(card.get_by_test_id("live-call-elapsed")).not_to_have_text("0:00")
        # The opening, stored once said, reaches the card over the monitor's socket.
        expect(card.locator(".turn.agent").first).to_contain_text(
            "Hi Dana, this is Alex from Acme Solar.", timeout=CALL_WAIT * 1000
        )
        screenshot(page, "live-monitor")

        card.get_by_test_id("live-call-hang-up").click()
        expect(card.get_by_test_id("live-call-message")).to_contain_text("Hanging up")
        # The carrier ends the call; its status reaches the page, which drops the card.
        expect(card).to_have_count(0, timeout=CALL_WAIT * 1000)
        wait_for(
            lambda: CallSession.objects.filter(
                pk=session.pk, status__in=TERMINAL_CALL_STATUSES
            ).exists(),
            CALL_WAIT,
            "the call to end",
        )
        event = CallEvent.objects.get(session=session, kind=STAFF_HANG_UP)
        assert event.data["user"] == manager.pk
        expect(page.get_by_test_id("no-live-calls")).to_be_visible()
