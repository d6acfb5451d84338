"""PII redaction (issue 15 item 17): an organization that asks for it never stores, shows or
sends a card number, national id, bank number or e-mail address a caller gave; every exit
(transcript API and its exports, the session API, the admin, webhooks, the live monitor, the
recording) reads what was stored redacted."""

from __future__ import annotations

import io
import wave
from datetime import timedelta
from typing import Any, cast

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from anvil_voice.telephony.carrier import Carrier
from scripts.factories import ScriptFactory
from sessions.carrier.status import RecordingNotReady, session_store_recording
from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.live.consumer import DatabaseSink
from sessions.live.conversation import (
    ConversationResult,
    session_conversation_close,
    session_conversation_open,
)
from sessions.live.groups import organization_group
from sessions.models import (
    AnsweredBy,
    CallEvent,
    CallEventKind,
    CallSession,
    CallStatus,
    ConversationState,
    Speaker,
    TranscriptTurn,
)
from sessions.pipeline.turns import Speaker as PipelineSpeaker
from sessions.pipeline.turns import Turn
from sessions.webhook_events import session_completed_payload

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/voice/sessions"
RAW = ["4111", "john.smith", "jsmith", "123-45-6789", "021000021"]


def turn(index: int, speaker: str, text: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {
        "index": index,
        "speaker": speaker,
        "text": text,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "interrupted": False,
        "latency": {},
        "recognized": True,
    }


CALL = [
    turn(0, "agent", "Can I take the card number for the deposit?", 0, 2500),
    turn(1, "contact", "sure it's 4111 1111", 3000, 5000),
    turn(2, "agent", "Mm-hmm.", 5200, 5600),
    turn(3, "contact", "1111 1111", 6000, 8000),
    turn(4, "agent", "And an email for the receipt?", 8500, 10000),
    turn(5, "contact", "john dot smith at gmail dot com", 10500, 13000),
    turn(6, "contact", "and my social is 123-45-6789 if you need it", 13500, 16000),
    turn(7, "contact", "call me back at 555 123 4567 after 5 pm", 16500, 19000),
]
REDACTED = [
    "Can I take the card number for the deposit?",
    "sure it's [CARD_NUMBER]",
    "Mm-hmm.",
    "[CARD_NUMBER]",
    "And an email for the receipt?",
    "[EMAIL]",
    "and my social is [NATIONAL_ID] if you need it",
    "call me back at 555 123 4567 after 5 pm",
]


def raw_result() -> ConversationResult:
    return ConversationResult(
        outcome="interested",
        end_reason="agreed",
        contact_spoke=True,
        hung_up_by_us=True,
        # A card number keyed on the phone's keypad lands in the pipeline's statistics.
        extracted={"stats": {"dtmf_digits": "4111111111111111"}, "note": "routing 021000021"},
        summary="Interested; receipt to jsmith@gmail.com.",
        events=[{"kind": "engine.heard", "text": "sure it's 4111 1111"}],
        turns=CALL,
    )


def live_session(organization: Any, **fields: Any) -> Any:
    script: Any = ScriptFactory(organization=organization)
    fields.setdefault("status", CallStatus.IN_PROGRESS)
    return CallSessionFactory(
        organization=organization,
        script_version=script.versions.get(),
        answered_by=AnsweredBy.HUMAN,
        **fields,
    )


@pytest.fixture
def redacting(owner):
    owner.organization.redact_pii = True
    owner.organization.save()
    return owner


@pytest.fixture
def closed(redacting) -> CallSession:
    """A call whose conversation closed with the caller's raw words in the pipeline's result."""
    session = live_session(redacting.organization)
    session_conversation_open(session_id=session.pk)
    session_conversation_close(session_id=session.pk, result=raw_result())
    CallSession.objects.filter(pk=session.pk).update(status=CallStatus.COMPLETED)
    return CallSession.objects.get(pk=session.pk)


def stored_texts(session: CallSession) -> list[str]:
    return list(
        TranscriptTurn.objects.filter(session=session)
        .order_by("index")
        .values_list("text", flat=True)
    )


def assert_no_raw(text: str) -> None:
    assert not [value for value in RAW if value in text], text


# --- what the conversation stores ----------------------------------------------------------
def test_the_close_stores_turns_summary_extracted_data_and_events_redacted(closed):
    events = CallEvent.objects.filter(session=closed, kind="engine.heard")

    assert stored_texts(closed) == REDACTED
    assert closed.summary == "Interested; receipt to [EMAIL]."
    assert closed.extracted["stats"]["dtmf_digits"] == "[CARD_NUMBER]"
    assert closed.extracted["note"] == "routing [BANK_ACCOUNT]"
    assert [event.data["text"] for event in events] == ["sure it's [CARD_NUMBER]"]


def test_an_organization_that_does_not_redact_keeps_the_words(owner):
    session = live_session(owner.organization)
    session_conversation_open(session_id=session.pk)

    session_conversation_close(session_id=session.pk, result=raw_result())

    session.refresh_from_db()
    assert stored_texts(session) == [t["text"] for t in CALL]
    assert session.summary == "Interested; receipt to jsmith@gmail.com."


# --- every exit ----------------------------------------------------------------------------
def test_the_transcript_api_and_its_exports_show_placeholders(redacting, closed):
    json_turns = redacting.client.get(f"{SESSIONS}/{closed.pk}/transcript").json()["data"]
    text = redacting.client.get(f"{SESSIONS}/{closed.pk}/transcript?format=txt")
    vtt = redacting.client.get(f"{SESSIONS}/{closed.pk}/transcript?format=vtt")

    assert [t["text"] for t in json_turns] == REDACTED
    assert "Contact: sure it's [CARD_NUMBER]" in text.content.decode()
    assert "<v Contact>[EMAIL]" in vtt.content.decode()
    for body in (str(json_turns), text.content.decode(), vtt.content.decode()):
        assert_no_raw(body)


def test_the_session_api_shows_no_raw_value(redacting, closed):
    detail = redacting.client.get(f"{SESSIONS}/{closed.pk}").json()["data"]

    assert detail["summary"] == "Interested; receipt to [EMAIL]."
    assert_no_raw(str(detail))


def test_the_webhook_payload_holds_no_raw_value(closed):
    payload = session_completed_payload(closed)

    assert payload["summary"] == "Interested; receipt to [EMAIL]."
    assert_no_raw(str(payload))


def test_the_admin_session_page_shows_placeholders(client, redacting, closed):
    user = redacting.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="call_sessions"))
    client.force_login(user)

    page = client.get(reverse("admin:call_sessions_callsession_change", args=[closed.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    assert "[CARD_NUMBER]" in content
    assert_no_raw(content)


def test_an_owner_turns_redaction_on_in_the_admin(client, owner):
    user = owner.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts"))
    client.force_login(user)
    organization = owner.organization
    change = reverse("admin:accounts_organization_change", args=[organization.pk])

    response = client.post(
        change,
        {
            "name": organization.name,
            "slug": organization.slug,
            "ai_disclosure_required": "on",
            "redact_pii": "on",
        },
    )

    organization.refresh_from_db()
    assert response.status_code == 302
    assert organization.redact_pii is True


# --- the live call -------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_live_call_stores_and_broadcasts_turns_redacted(redacting):
    session = live_session(redacting.organization)
    setup = session_conversation_open(session_id=session.pk)
    assert setup is not None
    assert setup.redact_pii
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(organization_group(redacting.organization.pk), channel)
    sink = DatabaseSink(setup)

    for item in CALL:
        async_to_sync(sink.on_turn)(Turn(**{**item, "speaker": PipelineSpeaker(item["speaker"])}))

    seen = []
    for _ in range(len(CALL)):
        message = async_to_sync(layer.receive)(channel)
        seen.append((message["event"]["index"], message["event"]["text"]))
    assert stored_texts(session) == REDACTED
    # The monitor never showed the raw groups: the card cue ("card number?") hid the first
    # group as it was said.
    assert seen == list(enumerate(REDACTED))
    async_to_sync(layer.group_discard)(organization_group(redacting.organization.pk), channel)


@pytest.mark.django_db(transaction=True)
def test_a_number_recognised_at_its_last_group_rewrites_the_earlier_turn(redacting):
    session = live_session(redacting.organization)
    setup = session_conversation_open(session_id=session.pk)
    assert setup is not None
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(organization_group(redacting.organization.pk), channel)
    sink = DatabaseSink(setup)
    uncued = [
        turn(0, "contact", "ok here goes 4111 1111", 0, 2000),
        turn(1, "contact", "1111 1111", 2500, 4000),
    ]

    for item in uncued:
        async_to_sync(sink.on_turn)(Turn(**{**item, "speaker": PipelineSpeaker.CONTACT}))

    seen = [async_to_sync(layer.receive)(channel)["event"]["text"] for _ in range(3)]
    assert stored_texts(session) == ["ok here goes [CARD_NUMBER]", "[CARD_NUMBER]"]
    # Without a cue the first half is only a number once the rest is said: shown for a
    # moment, then replaced (the monitor page swaps the line with the same index).
    assert seen == ["ok here goes 4111 1111", "[CARD_NUMBER]", "ok here goes [CARD_NUMBER]"]
    async_to_sync(layer.group_discard)(organization_group(redacting.organization.pk), channel)


# --- the recording -------------------------------------------------------------------------
RATE = 8000


def tone_wav(seconds: float) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes((np.sin(2 * np.pi * 300 * t) * 9000).astype("<i2").tobytes())
    return buffer.getvalue()


class Downloads:
    name = "fake"

    def __init__(self, audio: bytes) -> None:
        self.audio = audio

    def download_recording(self, url: str) -> bytes:
        return self.audio


def store(session: CallSession, audio: bytes) -> bool:
    """The recording task's service with a carrier that hands over `audio`."""
    carrier = cast(Carrier, Downloads(audio))  # only `download_recording` is used
    return session_store_recording(
        session_id=session.pk, url="https://example/RE1", carrier=carrier
    )


def recorded_call(organization: Any) -> Any:
    """Answered at t0; the stream started 400 ms later; the caller gave a card 4-6 s into the
    stream (4.4-6.4 s into the recording)."""
    answered = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    session: Any = CallSessionFactory(
        organization=organization,
        answered_at=answered,
        recording_sid="RE1",
        conversation_state=ConversationState.CLOSED,
    )
    CallEvent.objects.create(
        session=session,
        kind=CallEventKind.STREAM_STARTED,
        at=answered + timedelta(milliseconds=400),
    )
    TranscriptTurnFactory(session=session, index=0, text="hello?", start_ms=500, end_ms=1200)
    TranscriptTurnFactory(
        session=session,
        index=1,
        speaker=Speaker.CONTACT,
        text="it's [CARD_NUMBER]",
        start_ms=4000,
        end_ms=6000,
    )
    return session


def stored_samples(session: CallSession) -> np.ndarray:
    session.refresh_from_db()
    with session.recording.open("rb") as handle, wave.open(handle) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")


def test_the_recording_is_muted_where_personal_data_was_said(redacting):
    original = tone_wav(10.0)
    session = recorded_call(redacting.organization)

    stored = store(session, original)

    samples = stored_samples(session)
    with wave.open(io.BytesIO(original)) as reader:
        before = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    # The turn is 4.4-6.4 s into the recording; muted from 1.25 s before to 0.25 s after.
    muted = slice(int(3.15 * RATE), int(6.65 * RATE))
    assert stored
    assert not samples[muted].any()
    assert np.array_equal(samples[: muted.start], before[: muted.start])
    assert np.array_equal(samples[muted.stop :], before[muted.stop :])
    event = CallEvent.objects.get(session=session, kind=CallEventKind.RECORDING_STORED)
    assert event.data["muted_ms"] == [[3150, 6650]]


def test_a_recording_started_after_the_consent_disclosure_is_muted_from_its_own_start(redacting):
    # The disclosure played and recording began 3 s after the answer: the card turn is then
    # 1.4-3.4 s into the file, not 4.4-6.4 s.
    original = tone_wav(10.0)
    session = recorded_call(redacting.organization)
    CallSession.objects.filter(pk=session.pk).update(
        recording_started_at=session.answered_at + timedelta(seconds=3)
    )
    session.refresh_from_db()

    assert store(session, original)

    samples = stored_samples(session)
    with wave.open(io.BytesIO(original)) as reader:
        before = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    muted = slice(int(0.15 * RATE), int(3.65 * RATE))
    assert not samples[muted].any()
    assert np.array_equal(samples[muted.stop :], before[muted.stop :])
    event = CallEvent.objects.get(session=session, kind=CallEventKind.RECORDING_STORED)
    assert event.data["muted_ms"] == [[150, 3650]]


def test_a_recording_is_kept_as_it_is_without_redaction(owner):
    original = tone_wav(10.0)
    session = recorded_call(owner.organization)

    store(session, original)

    session.refresh_from_db()
    with session.recording.open("rb") as handle:
        assert handle.read() == original


def test_the_recording_waits_for_the_conversation_to_close(redacting):
    session = recorded_call(redacting.organization)
    CallSession.objects.filter(pk=session.pk).update(conversation_state=ConversationState.OPEN)

    with pytest.raises(RecordingNotReady):
        store(session, b"")


def test_a_recording_that_cannot_be_muted_is_not_kept(redacting):
    session = recorded_call(redacting.organization)

    stored = store(session, b"ID3 an mp3 we cannot mute")

    session.refresh_from_db()
    assert (stored, bool(session.recording)) == (False, False)
    assert CallEvent.objects.filter(
        session=session, kind=CallEventKind.RECORDING_DISCARDED
    ).exists()
