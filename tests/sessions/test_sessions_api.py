"""`/api/v1/voice/sessions`: list (filters, ordering, cursor), detail, transcript."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile

from campaigns.models import CallerId, Campaign, CampaignStatus, Contact, ContactList
from scripts.factories import ScriptFactory
from scripts.models import ScriptVersion
from sessions.factories import (
    CallEventFactory,
    CallSessionFactory,
    TranscriptTurnFactory,
    VoiceFactory,
)
from sessions.models import CallSession, CallStatus, Outcome, SessionKind, Speaker

SESSIONS = "/api/v1/voice/sessions"


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def row(session: CallSession) -> dict[str, object]:
    session.refresh_from_db()
    callback = (session.extracted or {}).get("callback_at")
    return {
        "id": session.pk,
        "kind": session.kind,
        "campaign": session.campaign_id,
        "contact": session.contact_id,
        "toNumber": session.to_number,
        "fromNumber": session.from_number,
        "status": session.status,
        "answeredBy": session.answered_by,
        "outcome": session.outcome,
        "startedAt": iso(session.queued_at),
        "answeredAt": iso(session.answered_at),
        "endedAt": iso(session.ended_at),
        "durationSeconds": session.duration_seconds,
        "hasRecording": bool(session.recording),
        "callbackAt": callback,
        "callback": None,
    }


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC)


@pytest.fixture
def finished(owner) -> CallSession:
    """A finished, recorded conversation with three turns and a few events."""
    script = ScriptFactory(organization=owner.organization)
    session = CallSessionFactory(
        organization=owner.organization,
        script_version=ScriptVersion.objects.get(script=script),
        to_number="+12025550111",
        status=CallStatus.COMPLETED,
        answered_by="human",
        outcome=Outcome.CALLBACK_REQUESTED,
        queued_at=at(10),
        placed_at=at(10),
        ringing_at=at(10),
        answered_at=at(10, 1),
        ended_at=at(10, 3),
        duration_seconds=120,
        summary="Asked to be called back tomorrow.",
        extracted={"callback_at": "2026-11-25T15:00:00+00:00", "interest": "high"},
        end_reason="hangup",
        variables={"first_name": "Jordan"},
    )
    session.recording.save("call.mp3", ContentFile(b"ID3fake"), save=True)
    turns = [
        (Speaker.AGENT, "Hi Jordan, this is Alex from Acme.", 0, 2500, False),
        (Speaker.CONTACT, "Not now <busy> & driving", 2600, 4100, False),
        (Speaker.AGENT, "Of course, when may I call", 4200, 5000, True),
    ]
    for index, (speaker, text, start, end, interrupted) in enumerate(turns):
        TranscriptTurnFactory(
            session=session,
            index=index,
            speaker=speaker,
            text=text,
            start_ms=start,
            end_ms=end,
            interrupted=interrupted,
        )
    CallEventFactory(session=session, kind="status.ringing", at=at(10))
    CallEventFactory(session=session, kind="status.completed", at=at(10, 3))
    CallEventFactory(session=session, kind="status.completed", at=at(10, 3))
    # An HTTP tool the agent called, as the conversation's close stores it (the engine event).
    CallEventFactory(
        session=session,
        kind="engine.tool_called",
        at=at(10, 2),
        data={
            "seq": 4,
            "turn": 1,
            "kind": "engine.tool_called",
            "id": "call_0",
            "name": "check_calendar",
            "tool_kind": "http",
            "arguments": {"day": "tomorrow"},
            "ok": True,
            "result": {"free": ["15:00"]},
            "latency_ms": 42.5,
        },
    )
    return session


def test_it_lists_sessions_newest_first_with_meta(owner, outsider, finished):
    later = CallSessionFactory(organization=owner.organization, status=CallStatus.QUEUED)
    CallSessionFactory(organization=outsider.organization)

    response = owner.client.get(SESSIONS)

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": [row(later), row(finished)],
        "meta": {"total": 2, "cursor": None, "hasMore": False},
    }
    assert response.json()["data"][1]["callbackAt"] == "2026-11-25T15:00:00+00:00"
    assert response.json()["data"][1]["hasRecording"] is True


def test_it_shows_the_full_session(owner, finished):
    response = owner.client.get(f"{SESSIONS}/{finished.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            **row(finished),
            "script": {"id": finished.script_version.script_id, "version": 1},
            "voice": None,
            "variables": {"first_name": "Jordan"},
            "endReason": "hangup",
            "summary": "Asked to be called back tomorrow.",
            "extracted": {"callback_at": "2026-11-25T15:00:00+00:00", "interest": "high"},
            "compliance": {},
            "timings": {
                "queuedAt": "2026-11-24T10:00:00Z",
                "placedAt": "2026-11-24T10:00:00Z",
                "ringingAt": "2026-11-24T10:00:00Z",
                "answeredAt": "2026-11-24T10:01:00Z",
                "endedAt": "2026-11-24T10:03:00Z",
                "durationSeconds": 120,
                "recordingDurationSeconds": None,
                "recordingStartedAt": None,
            },
            # Local files are private: our route streams them (S3 would presign).
            "recordingUrl": f"http://testserver/api/v1/voice/sessions/{finished.pk}/recording",
            "error": None,
            "transcript": [
                {
                    "index": 0,
                    "speaker": "agent",
                    "text": "Hi Jordan, this is Alex from Acme.",
                    "startMs": 0,
                    "endMs": 2500,
                    "interrupted": False,
                    "recognized": True,
                    "keypad": "",
                },
                {
                    "index": 1,
                    "speaker": "contact",
                    "text": "Not now <busy> & driving",
                    "startMs": 2600,
                    "endMs": 4100,
                    "interrupted": False,
                    "recognized": True,
                    "keypad": "",
                },
                {
                    "index": 2,
                    "speaker": "agent",
                    "text": "Of course, when may I call",
                    "startMs": 4200,
                    "endMs": 5000,
                    "interrupted": True,
                    "recognized": True,
                    "keypad": "",
                },
            ],
            "toolCalls": [
                {
                    "id": "call_0",
                    "turn": 1,
                    "name": "check_calendar",
                    "kind": "http",
                    "arguments": {"day": "tomorrow"},
                    "ok": True,
                    "result": {"free": ["15:00"]},
                    "error": "",
                    "latencyMs": 42.5,
                    "at": "2026-11-24T10:02:00Z",
                }
            ],
            "transfers": [],
            "events": {
                "total": 4,
                "byKind": {"engine.tool_called": 1, "status.completed": 2, "status.ringing": 1},
                "firstAt": "2026-11-24T10:00:00Z",
                "lastAt": "2026-11-24T10:03:00Z",
            },
            "cost": None,  # priced when the call ends (campaigns.costs)
        },
    }


def test_the_session_shows_its_transfers(owner, finished):
    from sessions.models import Transfer

    transfer = Transfer.objects.create(
        organization=finished.organization,
        session=finished,
        mode="warm",
        target_number="+12125550119",
        reason="request",
        state="no_answer",
        requested_at=datetime(2026, 11, 24, 10, 2, tzinfo=UTC),
        ended_at=datetime(2026, 11, 24, 10, 2, 20, tzinfo=UTC),
        carrier_status="no-answer",
        carrier_leg_sid="CA" + "e" * 32,
        leg_events=[
            {"status": "initiated", "sequence": 0, "at": "2026-11-24T10:02:00.500000+00:00"},
            {"status": "no-answer", "sequence": 2, "at": "2026-11-24T10:02:20+00:00"},
        ],
        returned_at=datetime(2026, 11, 24, 10, 2, 20, tzinfo=UTC),
        resumed_at=datetime(2026, 11, 24, 10, 2, 21, tzinfo=UTC),
    )

    response = owner.client.get(f"{SESSIONS}/{finished.pk}")

    assert response.json()["data"]["transfers"] == [
        {
            "id": transfer.pk,
            "mode": "warm",
            "targetNumber": "+12125550119",
            "reason": "request",
            "state": "no_answer",
            "timeoutSeconds": 20,
            "requestedAt": "2026-11-24T10:02:00Z",
            "answeredAt": None,
            "endedAt": "2026-11-24T10:02:20Z",
            "talkSeconds": None,
            "carrierStatus": "no-answer",
            "errorMessage": "",
            "carrierLegSid": "CA" + "e" * 32,
            "legEvents": [
                {"status": "initiated", "sequence": 0, "at": "2026-11-24T10:02:00.500000Z"},
                {"status": "no-answer", "sequence": 2, "at": "2026-11-24T10:02:20Z"},
            ],
            "returnedAt": "2026-11-24T10:02:20Z",
            "resumedAt": "2026-11-24T10:02:21Z",
        }
    ]


def test_it_serves_the_transcript_as_json_text_and_webvtt(owner, finished):
    url = f"{SESSIONS}/{finished.pk}/transcript"

    as_json = owner.client.get(url)
    as_txt = owner.client.get(url, {"format": "txt"})
    as_vtt = owner.client.get(url, {"format": "vtt"})

    assert as_json.status_code == 200
    assert as_json.json()["success"] is True
    assert (
        as_json.json()["data"]
        == owner.client.get(f"{SESSIONS}/{finished.pk}").json()["data"]["transcript"]
    )
    assert as_txt.status_code == 200
    assert as_txt["Content-Type"] == "text/plain; charset=utf-8"
    assert as_txt.content.decode() == (
        f"Call session {finished.pk} to +12025550111\n"
        "\n"
        "[00:00.000] Agent: Hi Jordan, this is Alex from Acme.\n"
        "[00:02.600] Contact: Not now <busy> & driving\n"
        "[00:04.200] Agent: Of course, when may I call [interrupted]\n"
    )
    assert as_vtt.status_code == 200
    assert as_vtt["Content-Type"] == "text/vtt; charset=utf-8"
    assert as_vtt.content.decode() == (
        "WEBVTT\n"
        "\n"
        "1\n00:00:00.000 --> 00:00:02.500\n<v Agent>Hi Jordan, this is Alex from Acme.\n"
        "\n"
        "2\n00:00:02.600 --> 00:00:04.100\n<v Contact>Not now &lt;busy&gt; &amp; driving\n"
        "\n"
        "3\n00:00:04.200 --> 00:00:05.000\n<v Agent>Of course, when may I call (interrupted)\n"
    )


def test_transcripts_list_turns_by_start_and_keep_unrecognised_speech(owner):
    # Turns are numbered as they end: the agent's reply (10 780 ms) finished before the caller's
    # overlapping words (9 140 ms) were recognised, and one utterance was never recognised.
    session = CallSessionFactory(organization=owner.organization, to_number="+12025550111")
    rows = [
        (0, Speaker.AGENT, "Hi, this is Alex.", 0, 2000, True),
        (1, Speaker.AGENT, "Is now a good time?", 10780, 12000, True),
        (2, Speaker.CONTACT, "Who is this?", 9140, 10900, True),
        (3, Speaker.CONTACT, "", 12500, 13400, False),
    ]
    for index, speaker, text, start, end, recognized in rows:
        TranscriptTurnFactory(
            session=session,
            index=index,
            speaker=speaker,
            text=text,
            start_ms=start,
            end_ms=end,
            recognized=recognized,
        )
    url = f"{SESSIONS}/{session.pk}/transcript"

    data = owner.client.get(url).json()["data"]
    as_txt = owner.client.get(url, {"format": "txt"}).content.decode()
    as_vtt = owner.client.get(url, {"format": "vtt"}).content.decode()

    assert [(turn["index"], turn["startMs"], turn["recognized"]) for turn in data] == [
        (0, 0, True),
        (2, 9140, True),
        (1, 10780, True),
        (3, 12500, False),
    ]
    assert data[3]["text"] == ""
    assert owner.client.get(f"{SESSIONS}/{session.pk}").json()["data"]["transcript"] == data
    assert as_txt.splitlines()[2:] == [
        "[00:00.000] Agent: Hi, this is Alex.",
        "[00:09.140] Contact: Who is this?",
        "[00:10.780] Agent: Is now a good time?",
        "[00:12.500] Contact: (not recognised)",
    ]
    assert "<v Contact>Who is this?" in as_vtt
    assert as_vtt.index("Who is this?") < as_vtt.index("Is now a good time?")
    assert "4\n00:00:12.500 --> 00:00:13.400\n<v Contact>(not recognised)\n" in as_vtt


def test_it_refuses_an_unknown_transcript_format_and_answers_errors_in_json(
    owner, outsider, finished
):
    bad = owner.client.get(f"{SESSIONS}/{finished.pk}/transcript", {"format": "pdf"})
    hidden = outsider.client.get(f"{SESSIONS}/{finished.pk}/transcript", {"format": "vtt"})

    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The request is not valid; see error.details.",
        "details": {"format": ["Must be one of: json, txt, vtt."]},
    }
    assert hidden.status_code == 404
    assert hidden["Content-Type"] == "application/json"
    assert hidden.json() == {
        "success": False,
        "error": {"code": "NOT_FOUND", "message": "Not found."},
    }


def test_it_hides_other_organizations_sessions_on_every_detail_route(outsider, finished):
    for url in (
        f"{SESSIONS}/{finished.pk}",
        f"{SESSIONS}/{finished.pk}/transcript",
        f"{SESSIONS}/{finished.pk}/transcript?format=txt",
    ):
        response = outsider.client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert outsider.client.get(SESSIONS).json()["data"] == []


def test_it_is_read_only_for_everyone(owner, viewer, finished):
    assert viewer.client.get(f"{SESSIONS}/{finished.pk}").status_code == 200
    assert owner.client.delete(f"{SESSIONS}/{finished.pk}").status_code == 405
    assert owner.client.post(SESSIONS, {}, format="json").status_code == 405


@pytest.fixture
def varied(owner, finished):
    """Sessions that differ in one attribute each from `finished`."""
    org = owner.organization
    return {
        "finished": finished,
        "busy": CallSessionFactory(
            organization=org,
            to_number="+12025550122",
            status=CallStatus.BUSY,
            outcome=Outcome.BUSY,
            queued_at=at(12),
            duration_seconds=0,
        ),
        "machine": CallSessionFactory(
            organization=org,
            to_number="+12025550133",
            answered_by="machine",
            outcome=Outcome.VOICEMAIL,
            queued_at=at(14),
            duration_seconds=30,
            extracted={"callback_at": None},
            kind=SessionKind.TEST,
        ),
        "queued": CallSessionFactory(
            organization=org, to_number="+12025550144", status=CallStatus.QUEUED, queued_at=at(16)
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"phoneNumber": "+12025550122"}, ["busy"]),
        ({"status": "busy"}, ["busy"]),
        ({"status": ["busy", "queued"]}, ["queued", "busy"]),
        ({"outcome": "voicemail"}, ["machine"]),
        ({"answeredBy": "human"}, ["finished"]),
        ({"kind": "test"}, ["machine"]),
        ({"startedAfter": "2026-11-24T12:00:00Z"}, ["queued", "machine", "busy"]),
        ({"startedBefore": "2026-11-24T12:00:00Z"}, ["finished"]),
        (
            {"startedAfter": "2026-11-24T11:00:00+00:30", "startedBefore": "2026-11-24T14:00:00Z"},
            ["busy"],
        ),
        ({"minDuration": "30"}, ["machine", "finished"]),
        ({"maxDuration": "30"}, ["machine", "busy"]),
        ({"minDuration": "1", "maxDuration": "60"}, ["machine"]),
        ({"hasRecording": "true"}, ["finished"]),
        ({"hasRecording": "false"}, ["queued", "machine", "busy"]),
        # What the callee said (`extracted.callback_at`) is not a scheduled callback: only a
        # pending ScheduledCallback row is (tests/sessions/test_sessions_callbacks.py).
        ({"callbackScheduled": "true"}, []),
        ({"callbackScheduled": "false"}, ["queued", "machine", "busy", "finished"]),
        ({"search": "DRIVING"}, ["finished"]),
        ({"search": "a"}, ["finished"]),
        ({"search": "nobody said this"}, []),
        ({"search": "5550122"}, ["busy"]),
        ({"search": "555-0133"}, ["machine"]),
        ({"search": "(202) 555-0144"}, ["queued"]),
        ({"search": "+1 202 555 0122"}, ["busy"]),
        ({"search": "55501"}, ["queued", "machine", "busy", "finished"]),
        ({"search": "0133 said"}, []),
    ],
)
def test_it_filters_sessions(owner, outsider, varied, params, expected):
    CallSessionFactory(organization=outsider.organization, to_number="+12025550122")

    response = owner.client.get(SESSIONS, params)

    assert response.status_code == 200, response.json()
    names = {session.pk: name for name, session in varied.items()}
    assert [names[item["id"]] for item in response.json()["data"]] == expected
    assert response.json()["meta"]["total"] == len(expected)


def test_it_filters_by_campaign_and_contact(owner, varied):
    org = owner.organization
    contact_list = ContactList.objects.create(organization=org, name="Leads")
    contact = Contact.objects.create(
        organization=org, contact_list=contact_list, phone_number="+12025550122", time_zone="UTC"
    )
    campaign = Campaign.objects.create(
        organization=org,
        name="Solar",
        script=ScriptFactory(organization=org),
        voice=VoiceFactory(organization=org),
        contact_list=contact_list,
        caller_id=CallerId.objects.create(organization=org, phone_number="+14155550100"),
        status=CampaignStatus.RUNNING,
    )
    CallSession.objects.filter(pk=varied["busy"].pk).update(campaign=campaign, contact=contact)

    by_campaign = owner.client.get(SESSIONS, {"campaign": campaign.pk}).json()["data"]
    by_contact = owner.client.get(SESSIONS, {"contact": contact.pk}).json()["data"]
    unknown = owner.client.get(SESSIONS, {"campaign": campaign.pk + 1000}).json()["data"]

    assert [item["id"] for item in by_campaign] == [varied["busy"].pk]
    assert [item["id"] for item in by_contact] == [varied["busy"].pk]
    assert by_campaign[0]["campaign"] == campaign.pk
    assert unknown == []


@pytest.mark.parametrize(
    ("params", "details"),
    [
        (
            {"status": "exploded"},
            {"status": ["Select a valid choice. exploded is not one of the available choices."]},
        ),
        (
            {"outcome": "maybe"},
            {"outcome": ["Select a valid choice. maybe is not one of the available choices."]},
        ),
        (
            {"answeredBy": "robot"},
            {"answeredBy": ["Select a valid choice. robot is not one of the available choices."]},
        ),
        ({"startedAfter": "yesterday"}, {"startedAfter": ["Enter a valid date/time."]}),
        ({"startedBefore": "2026-13-45"}, {"startedBefore": ["Enter a valid date/time."]}),
        ({"minDuration": "ten"}, {"minDuration": ["Enter a whole number."]}),
        (
            {"maxDuration": "-1"},
            {"maxDuration": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({"campaign": "abc"}, {"campaign": ["Enter a whole number."]}),
        ({"contact": "1.5"}, {"contact": ["Enter a whole number."]}),
        (
            {"phoneNumber": "2025550122"},
            {"phoneNumber": ["Enter a phone number in E.164 form (+14155550100)."]},
        ),
        (
            {"hasRecording": "yes"},
            {"hasRecording": ["Select a valid choice. yes is not one of the available choices."]},
        ),
        (
            {"callbackScheduled": "1"},
            {
                "callbackScheduled": [
                    "Select a valid choice. 1 is not one of the available choices."
                ]
            },
        ),
        (
            {"ordering": "name"},
            {
                "ordering": [
                    "Must be one of: -startedAt, startedAt, -durationSeconds, durationSeconds, "
                    "-duration, duration."
                ]
            },
        ),
        ({"colour": "red"}, {"colour": ["Unknown query parameter."]}),
        ({"cursor": "not-a-cursor"}, {"cursor": ["This cursor is not valid."]}),
    ],
)
def test_it_refuses_bad_filter_values(owner, params, details):
    response = owner.client.get(SESSIONS, params)

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": details,
        },
    }


def walk(client, params):
    """Every id across pages, following meta.cursor."""
    ids: list[int] = []
    cursor = None
    for _ in range(20):
        page = client.get(SESSIONS, {**params, **({"cursor": cursor} if cursor else {})}).json()
        ids += [item["id"] for item in page["data"]]
        cursor = page["meta"]["cursor"]
        assert page["meta"]["hasMore"] is (cursor is not None)
        if cursor is None:
            return ids
    raise AssertionError("too many pages")


def test_it_orders_and_pages_by_start_time_and_duration(owner):
    durations = [30, None, 10, 30, 5, None, 60]
    sessions = [
        CallSessionFactory(organization=owner.organization, duration_seconds=d) for d in durations
    ]
    by_id = [s.pk for s in sessions]
    key = {s.pk: (s.duration_seconds or 0) for s in sessions}

    newest = walk(owner.client, {"limit": 2})
    oldest = walk(owner.client, {"limit": 3, "ordering": "startedAt"})
    shortest = walk(owner.client, {"limit": 2, "ordering": "durationSeconds"})
    longest = walk(owner.client, {"limit": 2, "ordering": "-durationSeconds"})
    long_calls = walk(owner.client, {"limit": 1, "ordering": "-durationSeconds", "minDuration": 30})

    assert newest == sorted(by_id, reverse=True)
    assert oldest == sorted(by_id)
    assert shortest == sorted(by_id, key=lambda pk: (key[pk], pk))
    assert longest == sorted(by_id, key=lambda pk: (key[pk], pk), reverse=True)
    assert long_calls == [sessions[6].pk, sessions[3].pk, sessions[0].pk]


def test_start_time_orders_by_when_the_session_started_then_by_id(owner):
    # Ids and start times disagree here (ids follow creation; an imported or back-dated
    # session starts earlier): "startedAt" is the start time, ties broken by id, on every page.
    starts = [at(10), at(9), at(11), at(9), at(12)]
    sessions = [CallSessionFactory(organization=owner.organization, queued_at=t) for t in starts]
    by_start = [s.pk for s in sorted(sessions, key=lambda s: (s.queued_at, s.pk))]

    oldest = walk(owner.client, {"limit": 2, "ordering": "startedAt"})
    newest = walk(owner.client, {"limit": 1})
    in_range = walk(
        owner.client,
        {"limit": 1, "startedAfter": "2026-11-24T09:00:00Z", "startedBefore": "2026-11-24T11:00Z"},
    )

    assert oldest == by_start
    assert newest == by_start[::-1]
    assert in_range == [sessions[0].pk, sessions[3].pk, sessions[1].pk]


def test_duration_orders_as_its_alias_durationseconds_with_the_same_cursors(owner):
    for seconds in [30, None, 10, 5]:
        CallSessionFactory(organization=owner.organization, duration_seconds=seconds)
    first = owner.client.get(SESSIONS, {"limit": 2, "ordering": "-durationSeconds"}).json()

    alias = owner.client.get(SESSIONS, {"limit": 2, "ordering": "-duration"}).json()
    rest = owner.client.get(
        SESSIONS, {"ordering": "-duration", "cursor": first["meta"]["cursor"]}
    ).json()

    assert [row["id"] for row in alias["data"]] == [row["id"] for row in first["data"]]
    assert [row["durationSeconds"] for row in first["data"] + rest["data"]] == [30, 10, 5, None]


def test_it_refuses_a_cursor_from_another_ordering(owner):
    for _ in range(3):
        CallSessionFactory(organization=owner.organization, duration_seconds=5)
    cursor = owner.client.get(SESSIONS, {"limit": 1}).json()["meta"]["cursor"]

    response = owner.client.get(SESSIONS, {"ordering": "duration", "cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"cursor": ["This cursor is not valid."]}
