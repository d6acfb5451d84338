"""The admin's look in a real browser (Chromium through Playwright): the theme's navigation in
workflow order, the session page's recording player (it has a size and plays), the campaign
page (short, its numbers shown once) and the days-of-week checkboxes. Screenshots of the admin
home, a campaign, a session and a script page are saved on every run (`var/screenshots/`).

Rows are made with the factories (no call is placed): what is tested is how pages look and
behave, the calls themselves are the campaign manager test's.
"""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np
import pytest
from browser_support import BrowserServer, screenshot
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.test import Client
from playwright.sync_api import Page, expect

from campaigns.factories import CampaignFactory, ContactFactory
from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.models import Outcome, Speaker

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOW = ["Voices", "Scripts", "Contact lists", "Campaigns", "Call sessions"]
# The campaign page was ~3 500 px tall with its numbers twice (issue 17); the viewport is 900.
CAMPAIGN_PAGE_MAX_HEIGHT = 2_200


def tone_wav(seconds: float = 1.5, rate: int = 8_000) -> bytes:
    """A quiet 440 Hz tone as 16-bit mono WAV: a recording the browser can decode."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


@pytest.fixture
def signed_in(page: Page, server: BrowserServer, member: Any) -> Page:
    """`member` (Acme's campaign manager) as staff with the product's admin permissions,
    signed in by cookie (the sign-in form is the campaign manager test's)."""
    user = member.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["scripts", "voices", "campaigns", "call_sessions"]
        )
    )
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": server.url,
            }
        ]
    )
    return page


def test_the_admin_looks_like_a_product(signed_in: Page, server: BrowserServer, acme) -> None:
    page, base = signed_in, server.url
    campaign = CampaignFactory(organization=acme, name="Dental recall")
    ContactFactory(contact_list=campaign.contact_list, first_name="Ivy", last_name="Stone")
    contact = campaign.contact_list.contacts.get()
    session = CallSessionFactory(
        organization=acme,
        campaign=campaign,
        contact=contact,
        outcome=Outcome.INTERESTED,
        summary="Wants the gold plan.",
        duration_seconds=42,
    )
    session.recording.save("call.wav", ContentFile(tone_wav()), save=True)
    TranscriptTurnFactory(session=session, index=0, speaker=Speaker.AGENT, text="Hi Ivy")
    TranscriptTurnFactory(session=session, index=1, speaker=Speaker.CONTACT, text="Sign me up")
    script = campaign.script

    # Home: the sidebar in workflow order, then what follows a call, settings last.
    page.goto(f"{base}/admin/")
    expect(page.locator("#anvil-dashboard")).to_be_visible()
    # Each link is an icon (a ligature word) then the title, on its own line.
    links = [
        text.strip().splitlines()[-1]
        for text in page.locator("#nav-sidebar-apps li a").all_inner_texts()
    ]
    order = [links.index(name) for name in [*WORKFLOW, "Live monitor", "Dashboard"]]
    assert order == sorted(order), links
    assert "Users" not in links  # a campaign manager has no user pages to see
    screenshot(page, "admin-home-workflow-sidebar")

    # Sessions list: the contact's name, no column clipped off the page.
    page.goto(f"{base}/admin/call_sessions/callsession/")
    expect(page.locator("#result_list")).to_contain_text("Ivy Stone")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    # Session page: the recording player has a size and plays.
    page.goto(f"{base}/admin/call_sessions/callsession/{session.pk}/change/")
    player = page.locator("audio.session-recording")
    box = player.bounding_box()
    assert box is not None
    assert box["width"] >= 200, box  # it was 0 px wide in the theme's flex row
    assert box["height"] > 0, box
    played = player.evaluate(
        """async (audio) => {
            audio.preload = "auto";
            audio.load();
            await new Promise((loaded, failed) => {
                audio.addEventListener("canplay", loaded, {once: true});
                audio.addEventListener("error", () => failed(new Error("media error " +
                    (audio.error && audio.error.code))), {once: true});
            });
            await audio.play();
            await new Promise((tick) => audio.addEventListener("timeupdate", tick, {once: true}));
            return {readyState: audio.readyState, duration: audio.duration, paused: audio.paused};
        }"""
    )
    assert played["readyState"] >= 2
    assert 1.0 < played["duration"] < 2.0
    assert not played["paused"]
    player.evaluate("(audio) => { audio.pause(); audio.currentTime = 0; }")
    expect(page.locator(".session-turn--contact .session-turn__text")).to_have_text("Sign me up")
    screenshot(page, "session-page-recording-player")

    # Campaign page: short, the numbers once (tiles), days of the week as checkboxes.
    url = f"{base}/admin/campaigns/campaign/{campaign.pk}/change/"
    page.goto(url)
    expect(page.locator("#campaign-numbers")).to_have_count(1)
    expect(page.get_by_text("contacts · total")).to_have_count(0)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < CAMPAIGN_PAGE_MAX_HEIGHT, height
    screenshot(page, "campaign-page-stats-once")

    page.get_by_text("Schedule", exact=True).click()
    days = page.locator('input[name="days_of_week"]')
    expect(days).to_have_count(7)
    page.get_by_label("Saturday").uncheck()
    page.get_by_label("Sunday").uncheck()
    expect(page.locator('input[name="window_start"]')).to_have_attribute("type", "time")
    page.locator('input[name="window_start"]').fill("09:30")
    page.locator('button[name="_continue"]').click()
    expect(page.locator(".messagelist .success")).to_contain_text("changed successfully")
    campaign.refresh_from_db()
    assert campaign.days_of_week == [0, 1, 2, 3, 4]
    assert campaign.window_start.isoformat() == "09:30:00"
    expect(page.get_by_label("Saturday")).not_to_be_checked()
    expect(page.get_by_label("Friday")).to_be_checked()

    # Script page.
    page.goto(f"{base}/admin/scripts/script/{script.pk}/change/")
    expect(page.locator("#script_form")).to_be_visible()
    screenshot(page, "script-page")
