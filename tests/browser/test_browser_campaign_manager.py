"""A campaign manager's day in the admin, in a real browser (Chromium through Playwright).

Log in, write a script with two objections, upload voice samples and play a preview, import a
CSV of simulator personas, start a campaign, watch the live monitor receive a transcript line
over its websocket, then read the finished session's transcript. Screenshots of the dashboard,
the campaign page and the session page are saved on every run (`browser_support.SCREENSHOTS`).

The browser talks to our ASGI app served by uvicorn in a thread; calls go through the real
Twilio SDK to the Twilio simulator, whose media streams reach the same server. The clock is
frozen (ticking) on a Tuesday morning in New York so the calling window is open whenever the
test runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from browser_support import (
    BrowserServer,
    screenshot,
    speech_wav,
)
from django.contrib.auth.models import Permission
from playwright.sync_api import FilePayload, Locator, Page, expect

from campaigns.dialling.dispatch import dispatch_due
from campaigns.factories import CallerIdFactory
from campaigns.models import Campaign, CampaignStatus
from scripts.models import Script
from sessions.models import TERMINAL_CALL_STATUSES, CallSession
from tests.anvil_voice.telephony.test_carrier_harness import (
    CALLER,
    SimulatorThread,
    point_settings_at,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from voices.models import Voice

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
INTERESTED = "+12125550104"  # the simulator's "interested" persona (PERSONAS.md)
OPENING = "Hi {{first_name|there}}, this is Alex, an AI assistant calling from Acme."
SAMPLE_OPENING = "Hi Jordan, this is Alex, an AI assistant calling from Acme."  # the preview
HEARD_OPENING = "Hi Ivy, this is Alex, an AI assistant calling from Acme."
SPEECH = (
    "Hello, this is a short recording of my voice. I am reading a few sentences so that the "
    "clone can learn how I sound."
)
CALL_WAIT = 60.0  # seconds for the call to be heard on the monitor and then to end


@pytest.fixture(scope="module")
def simulator(server: BrowserServer) -> Iterator[SimulatorThread]:
    # Personas speak with the local Piper voice: the agent must hear "sign me up" to close.
    with SimulatorThread(url_rewrites=[server.stream_rewrite], speak=None) as running:
        yield running


@pytest.fixture
def manager(member: Any) -> Any:
    """`member` (Acme's campaign manager) as staff, with a password and the admin permissions."""
    user = member.membership.user
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["scripts", "voices", "campaigns", "call_sessions"]
        )
    )
    return user


# --- steps ------------------------------------------------------------------------------------


def field(page: Page, label: str) -> Locator:
    """The form field a label names exactly ("Voice" is not "Voicemail behaviour"). The theme's
    labels end in "*" on required fields; our own pages' in ":" (Django's label_tag)."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*:?\s*\*?\s*$"))


def run_action(page: Page, changelist: str, pk: int, action: str) -> None:
    """Tick one row of a changelist, pick the action by its label and run it."""
    page.goto(changelist)
    page.locator(f'input[name="_selected_action"][value="{pk}"]').check()
    page.locator('select[name="action"]').select_option(label=action)
    page.locator('.actions button[name="index"]').click()


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    field(page, "Username").fill(username)
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#anvil-dashboard")).to_be_visible()


def create_script(page: Page, base: str) -> Script:
    page.goto(f"{base}/admin/scripts/script/add/")
    field(page, "Organization").select_option(label="Acme")
    field(page, "Name").fill("Solar renewals")
    field(page, "Opening line").fill(OPENING)
    field(page, "Closing line").fill("Great, I'll send the details by email. Goodbye!")
    page.locator('[name="objections-0-trigger"]').fill("too expensive")
    page.locator('[name="objections-0-response"]').fill("It pays for itself within a year.")
    # The second row comes from the admin's inline JavaScript, as a person adds it.
    page.get_by_text(re.compile("add another objection", re.IGNORECASE)).click()
    page.locator('[name="objections-1-position"]').fill("1")
    page.locator('[name="objections-1-trigger"]').fill("already have a provider")
    page.locator('[name="objections-1-response"]').fill("Many of our customers switched.")
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    expect(
        page.get_by_text("Hi Jordan, this is Alex, an AI assistant calling from Acme.")
    ).to_be_visible()
    script = Script.objects.get(name="Solar renewals")
    assert list(script.objections.values_list("trigger", flat=True)) == [
        "too expensive",
        "already have a provider",
    ]
    return script


def upload_voice_and_play_a_preview(page: Page, base: str) -> Voice:
    page.goto(f"{base}/admin/voices/voice/add/")
    field(page, "Name").fill("Anna")
    samples: list[FilePayload] = [
        {"name": "take-1.wav", "mimeType": "audio/wav", "buffer": speech_wav(SPEECH)},
        {"name": "take-2.wav", "mimeType": "audio/wav", "buffer": speech_wav(SPEECH, level=0.95)},
    ]
    field(page, "Samples").set_input_files(samples)
    page.get_by_role("button", name="Upload and clone").click()
    expect(page.locator(".messagelist")).to_contain_text("Voice 'Anna' is ready")
    voice = Voice.objects.get(name="Anna")
    assert voice.samples.count() == 2

    run_action(page, f"{base}/admin/voices/voice/", voice.pk, "Generate preview (sample sentence)")
    expect(page.locator(".messagelist")).to_contain_text("Anna: preview generated.")

    page.goto(f"{base}/admin/voices/voice/{voice.pk}/change/")
    player = page.locator("audio[src*='/previews/']")
    expect(player).to_have_count(1)
    source = player.get_attribute("src")
    assert source is not None
    answer = page.request.get(f"{base}{source}")
    assert (answer.status, answer.headers["content-type"]) == (200, "audio/mpeg")
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
            return {readyState: audio.readyState, duration: audio.duration,
                    currentTime: audio.currentTime, paused: audio.paused};
        }"""
    )
    assert played["readyState"] >= 2  # HAVE_CURRENT_DATA: the browser decoded the MP3
    assert played["duration"] > 0.5
    assert played["currentTime"] > 0
    assert not played["paused"]
    return voice


def import_contacts(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/campaigns/contactlist/add/")
    field(page, "Organization").select_option(label="Acme")
    field(page, "Name").fill("Personas")
    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_role("link", name="Import contacts from CSV...").click()

    csv = f"phone,first name,time zone,state,plan\n{INTERESTED},Ivy,America/New_York,NY,gold\n"
    field(page, "File").set_input_files(
        {"name": "personas.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#import-summary")).to_contain_text("Would import: 1")
    page.get_by_role("button", name="Import 1 contact").click()
    expect(page.locator(".messagelist")).to_contain_text("Imported 1 contact(s); rejected 0.")


def create_and_start_campaign(page: Page, base: str) -> Campaign:
    page.goto(f"{base}/admin/campaigns/campaign/add/")
    field(page, "Organization").select_option(label="Acme")
    field(page, "Name").fill("Spring solar")
    field(page, "Script").select_option(label="Solar renewals")
    field(page, "Voice").select_option(label="Anna")
    field(page, "Contact list").select_option(label="Personas")
    field(page, "Caller id").select_option(index=1)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    campaign = Campaign.objects.get(name="Spring solar")

    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Spring solar: start done.")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    return campaign


def watch_the_call_live(page: Page, base: str) -> CallSession:
    page.goto(f"{base}/admin/live/")
    expect(page.locator("#monitor-state")).to_have_attribute("data-state", "live")
    expect(page.locator("#no-live-calls")).to_be_visible()

    # The dispatcher tick Celery beat runs every few seconds in production; here, once by hand.
    assert dispatch_due() == 1
    session = CallSession.objects.get(to_number=INTERESTED)

    # The page was loaded before the call existed: these lines can only come over the websocket.
    card = page.locator(f"#live-call-{session.pk}")
    expect(card.locator(".turn.contact").first).to_contain_text("Hello", timeout=CALL_WAIT * 1000)
    expect(card.locator(".turn.agent").first).to_have_text(
        f"Agent: {HEARD_OPENING}", timeout=CALL_WAIT * 1000
    )
    return session


def read_the_finished_session(page: Page, base: str, session: CallSession) -> None:
    wait_for(
        lambda: CallSession.objects.filter(
            pk=session.pk, status__in=TERMINAL_CALL_STATUSES
        ).exists(),
        CALL_WAIT,
        "the call to end",
    )
    page.goto(f"{base}/admin/call_sessions/callsession/{session.pk}/change/")
    agent = page.locator(".session-turn--agent .session-turn__text")
    contact = page.locator(".session-turn--contact .session-turn__text")
    expect(agent.first).to_have_text(HEARD_OPENING)
    expect(contact.last).to_have_text(re.compile("sign me up", re.IGNORECASE))
    expect(page.locator(".session-turn__time").first).to_have_text(re.compile(r"\d\d:\d\d"))
    expect(page.locator(".field-outcome")).to_contain_text("Interested")
    screenshot(page, "session")


# --- the story --------------------------------------------------------------------------------


def test_a_campaign_manager_runs_a_campaign_from_the_admin(
    page: Page,
    server: BrowserServer,
    simulator: SimulatorThread,
    settings: Any,
    acme: Any,
    manager: Any,
) -> None:
    point_settings_at(settings, simulator, server.url)
    settings.CALL_PIPELINE = True
    # Scaled by the simulator to 30 s: only a safety stop, the agent ends the call itself.
    settings.TWILIO_TIME_LIMIT_SECONDS = 3000
    # Piper and Whisper share two cores with the browser and the server: wait for them.
    settings.CALL_TTS_TIMEOUT_SECONDS = 20
    settings.CALL_STT_TIMEOUT_SECONDS = 30
    CallerIdFactory(organization=acme, phone_number=CALLER)
    base = server.url

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        log_in(page, base, manager.username)
        create_script(page, base)
        upload_voice_and_play_a_preview(page, base)
        import_contacts(page, base)
        campaign = create_and_start_campaign(page, base)
        page.goto(f"{base}/admin/")
        expect(page.locator("#active-campaigns")).to_contain_text("Spring solar")
        screenshot(page, "dashboard-running")
        session = watch_the_call_live(page, base)
        read_the_finished_session(page, base, session)

        # Its only contact is done: the outcome handler completes the campaign.
        wait_for(
            lambda: Campaign.objects.filter(
                pk=campaign.pk, status=CampaignStatus.COMPLETED
            ).exists(),
            CALL_WAIT,
            "the campaign to complete",
        )
        page.goto(f"{base}/admin/campaigns/campaign/{campaign.pk}/change/")
        expect(page.locator(".field-status")).to_contain_text("Completed")
        screenshot(page, "campaign")
        page.goto(f"{base}/admin/")
        expect(page.locator("#calls-today")).to_have_text("1")
        screenshot(page, "dashboard")
