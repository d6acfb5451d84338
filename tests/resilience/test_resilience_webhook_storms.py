"""Webhook storms: hundreds of calls, their Twilio callbacks duplicated and shuffled.

A real campaign is started and dispatched (the dialler claims every contact and the placement
task binds a call id through a carrier that answers at once). Then every call's status
callbacks (initiated, ringing, in-progress and an ending, with Twilio's `SequenceNumber`), its
AMD verdict and its recording callbacks are posted with valid `X-Twilio-Signature`s, each
repeated up to three times, all calls mixed in one seeded shuffle, with forged copies and
callbacks about unknown calls sprinkled in. Serially (SQLite and PostgreSQL) and from several
threads at once (PostgreSQL: real row locks and real concurrent commits).

Afterwards: no 500 (every answer is the one Twilio should get), every session in the terminal
state its story ends in, exactly one `finished` event and one row per distinct callback, each
recording fetched and stored once, the campaign completed, and its live counters equal to
`campaign_stats_rebuild` recomputed from the rows.

Volume: RESILIENCE_STORM_CALLS calls (default 150), RESILIENCE_STORM_THREADS threads (8).
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from twilio.request_validator import RequestValidator

from anvil_voice.accounts.models import Organization
from anvil_voice.telephony.carrier import OutboundCall
from anvil_voice.telephony.twilio import TwilioCarrier
from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.factories import CampaignFactory, ContactListFactory
from campaigns.models import (
    Campaign,
    CampaignContact,
    CampaignStats,
    CampaignStatus,
    Contact,
    ContactList,
    TimeZoneSource,
)
from campaigns.services.stats import campaign_stats_rebuild
from sessions.models import CallEvent, CallSession
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW

CALLS = int(os.environ.get("RESILIENCE_STORM_CALLS", "150"))
THREADS = int(os.environ.get("RESILIENCE_STORM_THREADS", "8"))
SEED = int(os.environ.get("RESILIENCE_STORM_SEED", "20261125"))

PUBLIC = "https://voice.example.com"
ACCOUNT_SID = "AC" + "5" * 32
TOKEN = "storm-test-token"
STATUS = "/telephony/twilio/status/"
AMD = "/telephony/twilio/amd/"
RECORDING = "/telephony/twilio/recording/"
RECORDING_AUDIO = b"RIFF" + b"\0" * 40

pytestmark = pytest.mark.django_db(transaction=True)


def call_sid(session_id: int) -> str:
    return f"CA{session_id:032x}"


class StormCarrier(TwilioCarrier):
    """The real Twilio carrier's signature checks; calls, hang-ups and downloads stay local."""

    lock: ClassVar[threading.Lock] = threading.Lock()
    hung_up: ClassVar[list[int]] = []
    downloads: ClassVar[list[str]] = []

    def place_call(self, call: OutboundCall) -> str:
        return call_sid(call.reference)

    def hang_up(self, call: OutboundCall) -> None:
        with self.lock:
            self.hung_up.append(call.reference)

    def download_recording(self, url: str) -> bytes:
        with self.lock:
            self.downloads.append(url)
        return RECORDING_AUDIO


@pytest.fixture(autouse=True)
def _twilio(settings) -> None:
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.TWILIO_API_BASE_URL = ""
    settings.CARRIER_BACKEND = f"{__name__}.StormCarrier"
    settings.CAMPAIGNS_CALLER_ID_CHECK = "simulator"
    settings.CAMPAIGNS_DEFAULT_REGION = "US"
    settings.CAMPAIGNS_DEFAULT_TIME_ZONE = "America/New_York"
    # The storm is about callbacks: the dialler may claim every contact in one tick.
    settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 100_000
    settings.CAMPAIGNS_MAX_CONCURRENT_CALLS = 100_000
    StormCarrier.hung_up = []
    StormCarrier.downloads = []


# --- the calls' stories -----------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    """How one call goes, as Twilio would report it, and where the session must end."""

    name: str
    statuses: tuple[str, ...]  # after "initiated" (sequence 0)
    answered_by: str = ""  # Twilio's AnsweredBy on the final callback and the AMD verdict
    expected: tuple[str, str, str] = ("", "", "")  # status, answered_by, outcome
    recorded: bool = False
    # The final callback carries no AnsweredBy; only the AMD callback has the verdict.
    verdict_only_by_amd: bool = False
    # Another acceptable ending, where the order of arrival decides (AMD before or after the end).
    or_else: tuple[str, str, str] | None = None

    def accepts(self, ending: tuple[str, str, str]) -> bool:
        return ending in (self.expected, self.or_else)


STORIES = [
    Story(
        "human",
        ("ringing", "in-progress", "completed"),
        "human",
        ("completed", "human", "completed"),
        recorded=True,
    ),
    Story(
        "machine",
        ("ringing", "in-progress", "completed"),
        "machine_end_beep",
        ("completed", "machine", "voicemail"),
        recorded=True,
    ),
    # AMD decided as the call ended: a verdict before the end makes it a voicemail; one after
    # the end is recorded as an event and changes nothing (the campaign has counted the call).
    Story(
        "late-verdict",
        ("ringing", "in-progress", "completed"),
        "machine_start",
        ("completed", "", "completed"),
        verdict_only_by_amd=True,
        or_else=("completed", "machine", "voicemail"),
    ),
    Story("busy", ("ringing", "busy"), "", ("busy", "", "busy")),
    Story("no-answer", ("ringing", "no-answer"), "", ("no_answer", "", "no_answer")),
    Story("failed", ("failed",), "", ("failed", "", "failed")),
    Story("canceled", ("ringing", "canceled"), "", ("canceled", "", "no_conversation")),
]


@dataclass
class Delivery:
    path: str
    params: dict[str, str]
    expect: int = 200
    forged: bool = False
    key: tuple[Any, ...] = ()  # what makes two deliveries the same callback


@dataclass
class Storm:
    campaign: Campaign
    stories: dict[int, Story]  # session id -> story
    deliveries: list[Delivery] = field(default_factory=list)


def status_params(sid: str, status: str, sequence: int, story: Story) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "Timestamp": f"Tue, 03 Mar 2026 15:00:{10 + sequence:02d} +0000",
        "Direction": "outbound-api",
        "CallbackSource": "call-progress-events",
    }
    if status == "completed":
        params["CallDuration"] = "42"
        if story.answered_by and not story.verdict_only_by_amd:
            params["AnsweredBy"] = story.answered_by
    return params


def deliveries_for(session_id: int, story: Story) -> list[Delivery]:
    sid = call_sid(session_id)
    result = [
        Delivery(STATUS, status_params(sid, status, sequence, story), key=(sid, "status", sequence))
        for sequence, status in enumerate(("initiated", *story.statuses))
    ]
    if story.answered_by:
        amd = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": sid,
            "AnsweredBy": story.answered_by,
            "MachineDetectionDuration": "1800",
        }
        result.append(Delivery(AMD, amd, key=(sid, "amd")))
    if story.recorded:
        recording_sid = f"RE{session_id:032x}"
        for state in ("in-progress", "completed"):
            params = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": sid,
                "RecordingSid": recording_sid,
                "RecordingStatus": state,
                "RecordingDuration": "40" if state == "completed" else "",
                "RecordingUrl": (
                    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
                    f"{recording_sid}"
                ),
            }
            result.append(Delivery(RECORDING, params, key=(sid, "recording", state)))
    return result


def campaign_with_contacts(organization: Organization, contacts: int) -> Campaign:
    contact_list: ContactList = ContactListFactory(organization=organization)  # type: ignore[assignment]
    Contact.objects.bulk_create(
        Contact(
            organization=organization,
            contact_list=contact_list,
            phone_number=f"+1212555{n:04d}",
            time_zone="America/New_York",
            time_zone_source=TimeZoneSource.EXPLICIT,
            region="NY",
        )
        for n in range(contacts)
    )
    campaign: Campaign = CampaignFactory(  # type: ignore[assignment]
        organization=organization,
        contact_list=contact_list,
        max_concurrent_calls=contacts,
        calls_per_second=min(contacts, 9999),
        max_attempts=1,
        voicemail_behaviour="hang_up",
        record_calls=True,
    )
    services.campaign_start(campaign=campaign, actor=services.Actor.named("storm"), now=NOW)
    return campaign


@pytest.fixture
def storm(acme: Organization) -> Iterator[Storm]:
    rng = random.Random(SEED)
    with time_machine.travel(NOW, tick=True):
        campaign = campaign_with_contacts(acme, CALLS)
        placed = dispatch_due(now=NOW)
        assert placed == CALLS
        sessions = list(CallSession.objects.filter(campaign=campaign).order_by("pk"))
        assert [s.carrier_call_sid for s in sessions] == [call_sid(s.pk) for s in sessions]
        stories = {session.pk: rng.choice(STORIES) for session in sessions}
        # Units of delivery: one callback, or a burst of its copies back to back (which the
        # threaded storm hands to different threads at the same moment).
        units: list[list[Delivery]] = []
        for session_id, story in stories.items():
            for delivery in deliveries_for(session_id, story):
                copies = [delivery] * rng.choice((1, 1, 2, 3))
                if len(copies) > 1 and rng.random() < 0.5:
                    units.append(copies)
                else:
                    units += [[copy] for copy in copies]
        # Forged copies (403, nothing written) and calls nobody placed (200, nothing written).
        for (delivery,) in rng.sample([unit for unit in units if len(unit) == 1], k=CALLS // 4):
            units.append([Delivery(delivery.path, delivery.params, 403, forged=True)])
        for n in range(max(1, CALLS // 10)):
            unknown = status_params(f"CA{'f' * 28}{n:04d}", "completed", 3, STORIES[0])
            units.append([Delivery(STATUS, unknown)])
        rng.shuffle(units)
        deliveries = [delivery for unit in units for delivery in unit]
        yield Storm(campaign=campaign, stories=stories, deliveries=deliveries)


def post(client: Client, delivery: Delivery) -> int:
    token = "not-" + TOKEN if delivery.forged else TOKEN
    signature = RequestValidator(token).compute_signature(PUBLIC + delivery.path, delivery.params)
    response = client.post(delivery.path, delivery.params, HTTP_X_TWILIO_SIGNATURE=signature)
    return int(response.status_code)


# --- what must hold afterwards ------------------------------------------------------------------


def assert_settled(storm: Storm) -> None:
    sessions = {s.pk: s for s in CallSession.objects.filter(campaign=storm.campaign)}
    wrong = {
        pk: (story.name, (s.status, s.answered_by, s.outcome))
        for pk, story in storm.stories.items()
        if (s := sessions[pk]) and not story.accepts((s.status, s.answered_by, s.outcome))
    }
    assert not wrong, f"{len(wrong)} sessions ended wrong: {dict(list(wrong.items())[:10])}"

    finished = Counter(
        CallEvent.objects.filter(session__campaign=storm.campaign, kind="finished").values_list(
            "session_id", flat=True
        )
    )
    assert finished == Counter(dict.fromkeys(storm.stories, 1))

    distinct = {d.key for d in storm.deliveries if d.key and not d.forged}
    recorded = Counter(
        CallEvent.objects.filter(
            session__campaign=storm.campaign,
            kind__in=("carrier_status", "carrier_amd", "carrier_recording"),
        ).values_list("kind", flat=True)
    )
    assert sum(recorded.values()) == len(distinct), recorded

    recorded_stories = [pk for pk, story in storm.stories.items() if story.recorded]
    assert sorted(StormCarrier.downloads) == sorted(
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{pk:032x}"
        for pk in recorded_stories
    )
    for pk in recorded_stories:
        assert str(sessions[pk].recording.name).endswith(f"{pk}-RE{pk:032x}.wav")

    assert set(CampaignContact.objects.filter(campaign=storm.campaign).values_list("state")) <= {
        ("completed",),
        ("exhausted",),
    }
    storm.campaign.refresh_from_db()
    assert storm.campaign.status == CampaignStatus.COMPLETED

    live = CampaignStats.objects.get(campaign=storm.campaign)
    rebuilt = campaign_stats_rebuild(campaign=storm.campaign, save=False)
    counters = [f.name for f in CampaignStats._meta.fields if f.name not in ("id", "campaign")]
    mismatched = {
        name: (getattr(live, name), getattr(rebuilt, name))
        for name in counters
        if getattr(live, name) != getattr(rebuilt, name)
    }
    assert not mismatched, f"live vs rebuilt counters: {mismatched}"
    assert live.calls_finished == CALLS
    assert live.in_progress == 0


# --- the storms ---------------------------------------------------------------------------------


def test_a_shuffled_storm_of_duplicated_callbacks_settles_every_session(storm):
    client = Client()

    with time_machine.travel(NOW, tick=True):
        answers = [(post(client, delivery), delivery.expect) for delivery in storm.deliveries]

    assert Counter(answers) == Counter((expect, expect) for _, expect in answers)
    assert_settled(storm)


def test_a_concurrent_storm_from_many_threads_settles_every_session(storm):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks and concurrent commits: DATABASE_URL=postgres://")
    answers: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)
    shares = [storm.deliveries[index::THREADS] for index in range(THREADS)]

    def worker(share: list[Delivery]) -> None:
        client = Client()
        try:
            barrier.wait()
            for delivery in share:
                answer = (post(client, delivery), delivery.expect)
                with lock:
                    answers.append(answer)
        except BaseException as error:  # surfaced below, on the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    with time_machine.travel(NOW, tick=True):
        threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)

    assert not errors, errors
    assert len(answers) == len(storm.deliveries)
    assert Counter(answers) == Counter((expect, expect) for _, expect in answers)
    assert_settled(storm)
