"""The analytics page, the callback form, the one-upload CSV import and the voice preview, in
a real browser (Chromium through Playwright), as a campaign manager uses them.

Reuses the campaign manager module's server, browser, page and persona fixtures and its log-in
step. The clock is frozen (ticking) on a Tuesday morning in New York. Screenshots:
analytics.png, callback-form.png, csv-import-preview.png, voice-preview.png
(`browser_support.SCREENSHOTS`).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from browser_support import BrowserServer, screenshot
from playwright.sync_api import Page, expect
from test_browser_campaign_manager import (  # noqa: F401 (fixtures)
    log_in,
    manager,
)

from campaigns.factories import CampaignFactory, ContactFactory, ContactListFactory
from campaigns.models import CampaignStatus, Contact
from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.models import CallbackStatus, CallStatus, Outcome, ScheduledCallback, Speaker
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from voices.factories import VoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def seed_calls(acme: Any) -> Any:
    """A few finished calls yesterday to New York and Tokyo contacts, with replies timed."""
    campaign = CampaignFactory(
        organization=acme, name="Spring solar", status=CampaignStatus.RUNNING
    )
    new_york = ContactFactory(
        contact_list=campaign.contact_list, first_name="Ivy", time_zone="America/New_York"
    )
    tokyo = ContactFactory(contact_list=campaign.contact_list, time_zone="Asia/Tokyo")
    version = campaign.script.versions.get(number=1)
    yesterday = TUESDAY_MORNING_NY - timedelta(days=1)
    for hours, contact, outcome in [
        (0, new_york, Outcome.INTERESTED),
        (1, new_york, Outcome.NOT_INTERESTED),
        (2, tokyo, Outcome.CALLBACK_REQUESTED),
        (3, tokyo, Outcome.NO_ANSWER),
    ]:
        at = yesterday + timedelta(hours=hours)
        answered = outcome != Outcome.NO_ANSWER
        session = CallSessionFactory(
            organization=acme,
            campaign=campaign,
            contact=contact,
            to_number=contact.phone_number,
            script_version=version,
            status=CallStatus.COMPLETED if answered else CallStatus.NO_ANSWER,
            outcome=outcome,
            queued_at=at,
            placed_at=at,
            answered_at=at if answered else None,
            duration_seconds=75 if answered else None,
        )
        if answered:
            TranscriptTurnFactory(
                session=session,
                speaker=Speaker.AGENT,
                latency={"since": "speech_end", "first_frame_ms": 500 + 300 * hours},
            )
    return campaign


def analytics_page_shows_charts(tab: Page, base: str) -> None:
    tab.goto(f"{base}/admin/")
    tab.get_by_test_id("dashboard-analytics-link").click()
    expect(tab.get_by_test_id("analytics-finished")).to_have_text("4")
    expect(tab.get_by_test_id("analytics-answer-rate")).to_have_text("75.0%")
    for chart in (
        "analytics-outcome-chart",
        "analytics-calls-by-hour",
        "analytics-answer-rate-by-hour",
        "analytics-calls-by-day",
        "analytics-latency-histogram",
    ):
        expect(tab.locator(f"#{chart} svg")).to_be_visible()
    # 24 hours of the callee's day; the New York calls at 10:00 and 11:00 local time.
    hours = tab.locator("#analytics-calls-by-hour rect.chart-bar")
    expect(hours).to_have_count(24)
    expect(tab.locator('#analytics-calls-by-hour rect[data-key="10"]')).to_have_attribute(
        "data-value", "1"
    )
    expect(tab.locator("#analytics-versions-interested .interval-row")).to_have_count(1)
    box = tab.locator("#analytics-calls-by-hour svg").bounding_box()
    assert box is not None
    assert box["width"] > 200
    assert box["height"] > 100
    screenshot(tab, "analytics")

    # The export link streams the same calls over the ASGI server (an async iterator there).
    link = tab.get_by_test_id("analytics-export").get_attribute("href")
    answer = tab.request.get(f"{base}{link}")
    assert (answer.status, answer.headers["content-type"]) == (200, "text/csv; charset=utf-8")
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert sorted(row["outcome"] for row in rows) == [
        "callback_requested", "interested", "no_answer", "not_interested",
    ]  # fmt: skip
    assert {row["campaign"] for row in rows} == {"Spring solar"}


def callback_scheduled_with_the_picker_then_cancelled(tab: Page, base: str, campaign: Any) -> None:
    contact = Contact.objects.get(first_name="Ivy")
    session = CallSessionFactory(
        organization=campaign.organization,
        campaign=campaign,
        contact=contact,
        to_number=contact.phone_number,
        status=CallStatus.COMPLETED,
        outcome=Outcome.NO_CONVERSATION,
    )
    tab.goto(f"{base}/admin/call_sessions/callsession/{session.pk}/change/")
    tab.get_by_role("link", name="Schedule callback").first.click()
    expect(tab.get_by_test_id("callback-zone")).to_have_text("America/New_York")

    # 22:30 in New York is after the window: the page offers the next morning in plain words.
    tab.get_by_test_id("callback-at").fill("2026-03-03T22:30")
    tab.get_by_test_id("callback-note").fill("Call after work")
    tab.get_by_test_id("callback-submit").click()
    expect(tab.get_by_test_id("callback-at-errors")).to_contain_text(
        "is outside the hours this contact may be called"
    )
    expect(tab.get_by_test_id("callback-suggestion")).to_contain_text(
        "Wednesday 4 March 2026, 08:00 (America/New_York, EST)"
    )
    screenshot(tab, "callback-form")
    tab.get_by_test_id("callback-use-suggested").click()

    expect(tab.locator(".messagelist")).to_contain_text(
        "Callback scheduled for Wednesday 4 March 2026, 08:00 (America/New_York, EST)."
    )
    expect(tab.get_by_test_id("callback-pending-at")).to_have_text(
        "Wednesday 4 March 2026, 08:00 (America/New_York, EST)"
    )
    callback = ScheduledCallback.objects.get(source_session=session)
    assert (callback.status, callback.note) == (CallbackStatus.PENDING, "Call after work")

    tab.get_by_test_id("callback-cancel").click()
    expect(tab.locator(".messagelist")).to_contain_text("was cancelled")
    expect(tab.get_by_test_id("callback-pending")).to_have_count(0)
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.CANCELLED


def csv_imported_with_one_upload(tab: Page, base: str, acme: Any) -> None:
    contact_list = ContactListFactory(organization=acme, name="Leads")
    tab.goto(f"{base}/admin/campaigns/contactlist/{contact_list.pk}/import/")
    csv = "Mobile,Given name,Nick,plan\n+12125550104,Ivy,Ives,gold\n+12125550105,Joe,Jo,silver\n"
    tab.get_by_test_id("import-file").set_input_files(
        {"name": "leads.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    )
    tab.get_by_test_id("import-upload").click()

    # The importer recognised the columns; the manager takes the nickname as the first name.
    expect(tab.get_by_test_id("import-mapping-phoneNumber")).to_have_value("Mobile")
    expect(tab.get_by_test_id("import-mapping-firstName")).to_have_value("Given name")
    tab.get_by_test_id("import-mapping-firstName").select_option("Nick")
    tab.get_by_test_id("import-refresh").click()
    expect(tab.get_by_test_id("import-would-import")).to_have_text("2")
    expect(tab.locator("table#import-preview")).to_contain_text("Ives")
    screenshot(tab, "csv-import-preview")
    assert not Contact.objects.filter(contact_list=contact_list).exists()

    tab.get_by_test_id("import-confirm").click()
    expect(tab.locator(".messagelist")).to_contain_text("Imported 2 contact(s); rejected 0.")
    assert sorted(
        Contact.objects.filter(contact_list=contact_list).values_list("first_name", flat=True)
    ) == ["Ives", "Jo"]


def voice_preview_with_custom_text_plays(tab: Page, base: str, acme: Any) -> None:
    voice = VoiceFactory(organization=acme, name="Anna")
    tab.goto(f"{base}/admin/voices/voice/{voice.pk}/change/")
    text = tab.get_by_test_id("voice-preview-text")
    expect(text).to_have_value(voice.sample_sentence)
    text.fill("Hi Ivy, is Thursday at ten still good for you?")
    tab.get_by_test_id("voice-preview-button").click()

    audio = tab.get_by_test_id("voice-preview-audio")
    expect(audio).to_have_attribute(
        "src", re.compile(rf"^/admin/voices/voice/{voice.pk}/previews/\d+/audio/$")
    )
    expect(tab.get_by_test_id("voice-preview-status")).to_contain_text(" s")
    played = audio.evaluate(
        """async (audio) => {
            if (audio.readyState < 1) {
                await new Promise((loaded, failed) => {
                    audio.addEventListener("loadedmetadata", loaded, {once: true});
                    audio.addEventListener("error", () => failed(new Error("media error")),
                        {once: true});
                });
            }
            audio.muted = true;
            await audio.play();
            return {duration: audio.duration, paused: audio.paused};
        }"""
    )
    assert played["duration"] > 0
    assert not played["paused"]
    screenshot(tab, "voice-preview")
    assert voice.previews.get().text == "Hi Ivy, is Thursday at ten still good for you?"


def test_a_campaign_manager_reads_analytics_schedules_a_callback_imports_and_previews(
    page: Page,
    server: BrowserServer,
    settings: Any,
    acme: Any,
    manager: Any,  # noqa: F811
) -> None:
    settings.CAMPAIGNS_DEFAULT_REGION = "US"
    base = server.url
    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        campaign = seed_calls(acme)
        log_in(page, base, manager.username)
        analytics_page_shows_charts(page, base)
        callback_scheduled_with_the_picker_then_cancelled(page, base, campaign)
        csv_imported_with_one_upload(page, base, acme)
        voice_preview_with_custom_text_plays(page, base, acme)
