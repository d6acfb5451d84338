"""Twilio's webhooks in-process: signatures, order, duplicates, bad input, AMD, recordings."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import httpx
import pytest
import respx
from test_carrier_harness import make_campaign
from twilio.request_validator import RequestValidator

from anvil_voice.telephony.carrier import OutboundCall
from anvil_voice.telephony.twilio import TwilioCarrier
from sessions.models import CallEvent, CallSession
from sessions.signals import session_finished

PUBLIC = "https://voice.example.com"
ACCOUNT_SID = "AC" + "8" * 32
TOKEN = "webhook-test-token"
SECONDARY = "webhook-test-token-next"
CALL_SID = "CA" + "a" * 32
STATUS = "/telephony/twilio/status/"
AMD = "/telephony/twilio/amd/"
RECORDING = "/telephony/twilio/recording/"
RECORDING_SID = "RE" + "b" * 32
RECORDING_URL = (
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}"
)

pytestmark = pytest.mark.django_db


class HangUpRecorder(TwilioCarrier):
    """The real carrier (signatures, downloads) except that hang-ups are only written down."""

    hung_up: ClassVar[list[int]] = []

    def hang_up(self, call: OutboundCall) -> None:
        self.hung_up.append(call.reference)


@pytest.fixture(autouse=True)
def _twilio(settings) -> None:
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.TWILIO_API_BASE_URL = ""
    settings.CARRIER_BACKEND = f"{__name__}.HangUpRecorder"
    HangUpRecorder.hung_up = []


@pytest.fixture
def finished() -> Any:
    sent: list[int] = []

    def receiver(sender: Any, session: CallSession, **kwargs: Any) -> None:
        sent.append(session.pk)

    session_finished.connect(receiver, dispatch_uid="test-webhooks-finished")
    yield sent
    session_finished.disconnect(dispatch_uid="test-webhooks-finished")


@pytest.fixture
def session(acme) -> CallSession:
    return CallSession.objects.create(
        organization=acme,
        to_number="+15550104",
        from_number="+15005550006",
        status="initiated",
        carrier_call_sid=CALL_SID,
    )


def post(client, path: str, params: dict[str, str], *, token: str = TOKEN, url: str = ""):
    signature = RequestValidator(token).compute_signature(url or PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status(call_status: str, sequence: int, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL_SID,
        "CallStatus": call_status,
        "SequenceNumber": str(sequence),
        "Timestamp": f"Wed, 25 Nov 2026 10:00:{10 + sequence:02d} +0000",
        "Direction": "outbound-api",
        "CallbackSource": "call-progress-events",
        **extra,
    }


HUMAN_CALL = [
    status("initiated", 0),
    status("ringing", 1),
    status("in-progress", 2),
    status("completed", 3, CallDuration="42", AnsweredBy="human"),
]


def statuses_seen(session: CallSession) -> list[tuple[str, bool]]:
    return [
        (event.data["status"], event.data["applied"])
        for event in session.events.filter(kind="carrier_status")
    ]


# --- signatures ---------------------------------------------------------------------------
def test_it_refuses_a_forged_callback_and_writes_nothing(client, session):
    response = post(client, STATUS, status("completed", 3), token="someone-elses-token")

    assert response.status_code == 403
    session.refresh_from_db()
    assert (session.status, session.last_sequence_number) == ("initiated", -1)
    assert not CallEvent.objects.exists()


def test_it_refuses_an_unsigned_callback(client, session):
    for path, params in ((STATUS, status("completed", 3)), (AMD, {"CallSid": CALL_SID})):
        response = client.post(path, params)
        assert response.status_code == 403
    assert not CallEvent.objects.exists()


def test_it_checks_the_public_url_not_the_host_header(client, session):
    # Signed over the URL the test client uses (http://testserver/...): not what Twilio sees.
    response = post(client, STATUS, status("ringing", 1), url="http://testserver" + STATUS)

    assert response.status_code == 403


def test_it_refuses_a_callback_whose_parameters_were_changed(client, session):
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + STATUS, status("busy", 3))

    response = client.post(STATUS, status("completed", 3), HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 403


def test_it_accepts_the_secondary_token_while_rotating(client, session, settings):
    settings.TWILIO_AUTH_TOKEN_SECONDARY = SECONDARY

    response = post(client, STATUS, status("ringing", 1), token=SECONDARY)

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "ringing"


def test_it_only_takes_posts(client, session):
    assert client.get(STATUS).status_code == 405


# --- status callbacks ---------------------------------------------------------------------
def test_a_call_in_order_ends_completed_with_its_timeline(
    client, session, finished, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        responses = [post(client, STATUS, params) for params in HUMAN_CALL]

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert responses[0]["Content-Type"] == "text/xml"
    assert responses[0].content == b"<Response/>"
    session.refresh_from_db()
    assert session.status == "completed"
    assert session.last_sequence_number == 3
    assert session.ringing_at.isoformat() == "2026-11-25T10:00:11+00:00"
    assert session.answered_at.isoformat() == "2026-11-25T10:00:12+00:00"
    assert session.ended_at.isoformat() == "2026-11-25T10:00:13+00:00"
    assert session.duration_seconds == 42
    assert (session.answered_by, session.outcome, session.end_reason) == (
        "human",
        "completed",
        "completed",
    )
    assert statuses_seen(session) == [
        ("initiated", True),
        ("ringing", True),
        ("in-progress", True),
        ("completed", True),
    ]
    assert finished == [session.pk]


def test_completed_before_ringing_ends_the_call_and_the_late_ones_change_nothing(
    client, session, finished, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for params in (HUMAN_CALL[3], HUMAN_CALL[1], HUMAN_CALL[0], HUMAN_CALL[2]):
            assert post(client, STATUS, params).status_code == 200

    session.refresh_from_db()
    assert (session.status, session.last_sequence_number) == ("completed", 3)
    assert session.ringing_at is None
    assert statuses_seen(session) == [
        ("completed", True),
        ("ringing", False),
        ("initiated", False),
        ("in-progress", False),
    ]
    assert finished == [session.pk]


def test_a_later_status_with_a_lower_rank_does_not_move_the_call_back(client, session):
    post(client, STATUS, status("in-progress", 2))

    post(client, STATUS, status("ringing", 5))

    session.refresh_from_db()
    assert (session.status, session.last_sequence_number) == ("in_progress", 2)
    assert statuses_seen(session) == [("in-progress", True), ("ringing", False)]


def test_duplicated_callbacks_leave_no_duplicate_rows(
    client, session, finished, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for params in HUMAN_CALL + HUMAN_CALL + [HUMAN_CALL[3]]:
            assert post(client, STATUS, params).status_code == 200

    assert [status for status, _ in statuses_seen(session)] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert CallEvent.objects.filter(session=session, kind="finished").count() == 1
    assert finished == [session.pk]


def test_an_unknown_call_is_acknowledged_and_nothing_is_written(client, session, finished):
    response = post(client, STATUS, {**status("completed", 3), "CallSid": "CA" + "f" * 32})

    assert response.status_code == 200
    assert not CallEvent.objects.exists()
    assert finished == []


@pytest.mark.parametrize(
    "params",
    [
        status("exploded", 3),
        status("", 3),
        status("COMPLETED", 3),
        status("ringing", 3, SequenceNumber="three"),
        status("ringing", 3, SequenceNumber="-4"),
        status("completed", 3, AnsweredBy="robot"),
        {k: v for k, v in status("ringing", 1).items() if k != "CallSid"},
    ],
)
def test_an_unreadable_callback_is_a_400_that_writes_nothing(client, session, params):
    response = post(client, STATUS, params)

    assert response.status_code == 400
    session.refresh_from_db()
    assert (session.status, session.last_sequence_number) == ("initiated", -1)
    assert not CallEvent.objects.exists()


@pytest.mark.parametrize(
    ("call_status", "answered_by", "expected"),
    [
        ("busy", None, ("busy", "", "busy")),
        ("no-answer", None, ("no_answer", "", "no_answer")),
        ("failed", None, ("failed", "", "failed")),
        ("canceled", None, ("canceled", "", "no_conversation")),
        ("completed", "machine_start", ("completed", "machine", "voicemail")),
        ("completed", "machine_end_beep", ("completed", "machine", "voicemail")),
        ("completed", "machine_end_silence", ("completed", "machine", "voicemail")),
        ("completed", "machine_end_other", ("completed", "machine", "voicemail")),
        ("completed", "fax", ("completed", "fax", "no_conversation")),
        ("completed", "unknown", ("completed", "", "completed")),
        ("completed", "human", ("completed", "human", "completed")),
    ],
)
def test_each_ending_maps_to_a_status_answered_by_and_outcome(
    client, session, call_status, answered_by, expected, django_capture_on_commit_callbacks
):
    extra = {"AnsweredBy": answered_by} if answered_by else {}

    with django_capture_on_commit_callbacks(execute=True):
        post(client, STATUS, status(call_status, 2, CallDuration="0", **extra))

    session.refresh_from_db()
    assert (session.status, session.answered_by, session.outcome) == expected
    assert session.ended_at is not None


def test_an_outcome_the_pipeline_set_first_is_kept(
    client, session, django_capture_on_commit_callbacks
):
    CallSession.objects.filter(pk=session.pk).update(outcome="interested")

    with django_capture_on_commit_callbacks(execute=True):
        post(client, STATUS, HUMAN_CALL[3])

    session.refresh_from_db()
    assert (session.status, session.outcome) == ("completed", "interested")


# --- answering-machine detection ----------------------------------------------------------
def amd(answered_by: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL_SID,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": "1500",
    }


def test_a_machine_is_hung_up_on_when_the_campaign_does_not_leave_messages(
    client, session, django_capture_on_commit_callbacks
):
    session.campaign = make_campaign(session.organization, voicemail_behaviour="hang_up")
    session.save()

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, AMD, amd("machine_start")).status_code == 200
        assert post(client, AMD, amd("machine_start")).status_code == 200

    session.refresh_from_db()
    assert session.answered_by == "machine"
    assert HangUpRecorder.hung_up == [session.pk]
    assert list(session.events.values_list("kind", "data")) == [
        ("carrier_amd", {"answered_by": "machine_start", "detection_ms": 1500}),
        ("hang_up_requested", {"reason": "machine"}),
    ]


def test_a_machine_is_left_a_message_when_the_campaign_says_so(
    client, session, django_capture_on_commit_callbacks
):
    session.campaign = make_campaign(session.organization, voicemail_behaviour="leave_message")
    session.save()

    with django_capture_on_commit_callbacks(execute=True):
        post(client, AMD, amd("machine_end_beep"))

    session.refresh_from_db()
    assert session.answered_by == "machine"
    assert HangUpRecorder.hung_up == []


def test_a_human_verdict_is_recorded(client, session):
    assert post(client, AMD, amd("human")).status_code == 200

    session.refresh_from_db()
    assert session.answered_by == "human"
    assert HangUpRecorder.hung_up == []


def test_amd_about_an_unknown_call_or_an_unknown_verdict(client, session):
    assert post(client, AMD, {**amd("human"), "CallSid": "CA" + "f" * 32}).status_code == 200
    assert post(client, AMD, amd("robot")).status_code == 400
    assert not CallEvent.objects.exists()


# --- recordings ---------------------------------------------------------------------------
def recording(**extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": RECORDING_URL,
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        **extra,
    }


@respx.mock
def test_a_recording_is_downloaded_once_and_stored(
    client, session, django_capture_on_commit_callbacks
):
    audio = b"RIFF" + b"\0" * 60
    route = respx.get(RECORDING_URL).mock(return_value=httpx.Response(200, content=audio))

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, RECORDING, recording()).status_code == 200
        assert post(client, RECORDING, recording()).status_code == 200

    session.refresh_from_db()
    assert route.call_count == 1
    request = route.calls.last.request
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert (session.recording_sid, session.recording_duration_seconds) == (RECORDING_SID, 12)
    assert session.recording.name.endswith(f"{session.pk}-{RECORDING_SID}.wav")
    with session.recording.open("rb") as stored:
        assert stored.read() == audio


def test_a_recording_elsewhere_than_twilio_is_not_fetched_with_our_credentials(
    client, session, django_capture_on_commit_callbacks
):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__regex=r".*")
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, RECORDING, recording(RecordingUrl="https://evil.example/r.wav"))

    assert response.status_code == 200
    assert route.call_count == 0
    session.refresh_from_db()
    assert not session.recording
