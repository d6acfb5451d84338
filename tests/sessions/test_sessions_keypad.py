"""Key presses in a session's transcript: the API and the admin show which turns were keys."""

from __future__ import annotations

from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.live.consumer import _store_turn, turn_message
from sessions.models import Speaker
from sessions.pipeline import Turn
from tests.sessions.test_sessions_admin import staff

SESSIONS = "/api/v1/voice/sessions"


def keypad_session(organization):
    session = CallSessionFactory(organization=organization)
    TranscriptTurnFactory(session=session, index=0, text="Press 1 to talk to a person.")
    # Stored the way the live call stores it (`DatabaseSink`).
    _store_turn(
        session.pk,
        Turn(
            index=1,
            speaker=Speaker.CONTACT,
            text="[pressed 1]",
            start_ms=2500,
            end_ms=2500,
            keypad="1",
        ),
        {},
    )
    _store_turn(
        session.pk,
        Turn(
            index=2,
            speaker=Speaker.AGENT,
            text="[pressed 1w2#]",
            start_ms=3000,
            end_ms=4100,
            keypad="1w2#",
        ),
        {},
    )
    return session


def test_the_api_marks_the_turns_that_were_keys(owner):
    session = keypad_session(owner.organization)

    data = owner.client.get(f"{SESSIONS}/{session.pk}/transcript").json()["data"]
    as_txt = owner.client.get(f"{SESSIONS}/{session.pk}/transcript", {"format": "txt"})

    assert [(t["speaker"], t["text"], t["keypad"]) for t in data] == [
        ("agent", "Press 1 to talk to a person.", ""),
        ("contact", "[pressed 1]", "1"),
        ("agent", "[pressed 1w2#]", "1w2#"),
    ]
    assert as_txt.content.decode().splitlines()[3:] == [
        "[00:02.500] Contact: [pressed 1]",
        "[00:03.000] Agent: [pressed 1w2#]",
    ]


def test_the_admin_session_page_marks_the_keys(client, owner):
    session = keypad_session(owner.organization)
    client.force_login(staff(owner))

    page = client.get(f"/admin/call_sessions/callsession/{session.pk}/change/").content.decode()

    assert "[pressed 1]" in page
    assert ">keypad 1<" in page
    assert ">keypad 1w2#<" in page
    assert "The contact pressed this key" in page
    assert "The agent pressed these keys" in page


def test_the_live_monitor_is_told_which_turns_were_keys():
    turn = Turn(index=3, speaker=Speaker.CONTACT, text="[pressed 1]", start_ms=5, end_ms=5)

    assert turn_message(turn)["keypad"] == ""
    pressed = Turn(
        index=3, speaker=Speaker.CONTACT, text="[pressed 1]", start_ms=5, end_ms=5, keypad="1"
    )
    assert turn_message(pressed)["keypad"] == "1"
