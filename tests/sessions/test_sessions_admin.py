"""The call-session admin: scoped list with filters and search, the read-only session page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile

from sessions.factories import CallEventFactory, CallSessionFactory, TranscriptTurnFactory
from sessions.models import CallStatus, Outcome, Speaker

CHANGELIST = "/admin/call_sessions/callsession/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def staff(persona):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="call_sessions"))
    return user


def test_it_lists_only_the_organizations_sessions_with_filters_and_search(client, owner, outsider):
    ours = CallSessionFactory(
        organization=owner.organization, to_number="+12025550111", outcome=Outcome.INTERESTED
    )
    other = CallSessionFactory(
        organization=owner.organization,
        to_number="+12025550122",
        status=CallStatus.BUSY,
        outcome=Outcome.BUSY,
    )
    theirs = CallSessionFactory(organization=outsider.organization, to_number="+12025550133")
    client.force_login(staff(owner))

    everything = client.get(CHANGELIST)
    busy = client.get(CHANGELIST, {"status__exact": "busy"})
    interested = client.get(CHANGELIST, {"outcome__exact": "interested"})
    searched = client.get(CHANGELIST, {"q": "0111"})

    assert everything.status_code == 200
    assert list(everything.context["cl"].result_list) == [other, ours]
    assert theirs.to_number not in everything.content.decode()
    assert list(busy.context["cl"].result_list) == [other]
    assert list(interested.context["cl"].result_list) == [ours]
    assert list(searched.context["cl"].result_list) == [ours]


def test_it_shows_the_session_page_with_chat_recording_and_result(client, owner):
    session = CallSessionFactory(
        organization=owner.organization,
        outcome=Outcome.CALLBACK_REQUESTED,
        summary="Call back on Friday.",
        extracted={"callback_at": "2026-11-27T15:00:00+00:00"},
        duration_seconds=95,
    )
    session.recording.save("call.mp3", ContentFile(b"ID3fake"), save=True)
    TranscriptTurnFactory(
        session=session,
        index=0,
        speaker=Speaker.AGENT,
        text="Hi <Jordan>",
        start_ms=0,
        latency={"since": "speech_end", "stt_final_ms": 930.4, "first_frame_ms": 1210},
    )
    TranscriptTurnFactory(
        session=session,
        index=1,
        speaker=Speaker.CONTACT,
        text="Call me Friday",
        start_ms=65000,
        end_ms=67000,
        interrupted=True,
    )
    # Numbered when it ended, before the turn above; never recognised.
    TranscriptTurnFactory(
        session=session,
        index=2,
        speaker=Speaker.CONTACT,
        text="",
        start_ms=30000,
        end_ms=31000,
        recognized=False,
    )
    client.force_login(staff(owner))

    response = client.get(f"{CHANGELIST}{session.pk}/change/")
    html = response.content.decode()

    assert response.status_code == 200
    assert html.index("Hi &lt;Jordan&gt;") < html.index("(not recognised)")
    assert html.index("(not recognised)") < html.index("Call me Friday")
    assert "not recognised</span>" in html
    assert f'src="{CHANGELIST}{session.pk}/recording/"' in html
    assert "<audio" in html
    assert "session-turn--agent" in html
    assert "Hi &lt;Jordan&gt;" in html
    assert "since speech end: STT final 930 ms · first frame 1210 ms" in html
    assert "session-turn--contact session-turn--interrupted" in html
    assert "01:05&ndash;01:07" in html
    assert "interrupted</span>" in html
    assert "Call back on Friday." in html
    assert "&quot;callback_at&quot;: &quot;2026-11-27T15:00:00+00:00&quot;" in html
    assert "95 s" in html
    assert "sessions/admin.css" in html
    # Read-only: no save button, and adding by hand is not offered.
    assert 'name="_save"' not in html
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_it_hides_another_organizations_session_page(client, owner, outsider):
    theirs = CallSessionFactory(organization=outsider.organization)
    client.force_login(staff(owner))

    response = client.get(f"{CHANGELIST}{theirs.pk}/change/")

    # The admin redirects to the index for an object outside the queryset.
    assert response.status_code == 302


def test_it_shows_the_recording_consent_evidence(client, owner):
    recorded = CallSessionFactory(
        organization=owner.organization,
        compliance={
            "allowed": True,
            "recording": {
                "mode": "after_disclosure",
                "disclosure_required": True,
                "disclosure_text": "This call is recorded for quality.",
                "disclosure_played_at": "2026-11-24T15:00:05+00:00",
                "playback_confirmed_by": "mark",
                "recording_started_at": "2026-11-24T15:00:05.100000+00:00",
                "recorded": True,
                "reason": "disclosure_confirmed",
            },
        },
    )
    gone = CallSessionFactory(
        organization=owner.organization,
        compliance={"recording": {"recorded": False, "reason": "disclosure_not_played"}},
    )
    client.force_login(staff(owner))

    page = client.get(f"{CHANGELIST}{recorded.pk}/change/").content.decode()
    other = client.get(f"{CHANGELIST}{gone.pk}/change/").content.decode()

    assert (
        "Recorded from 2026-11-24T15:00:05.100000+00:00, after the disclosure "
        "&#x27;This call is recorded for quality.&#x27; was played in full (confirmed by mark at "
        "2026-11-24T15:00:05+00:00)."
    ) in page
    assert "&quot;playback_confirmed_by&quot;: &quot;mark&quot;" in page
    assert "Not recorded: disclosure not played." in other


def test_the_session_page_lists_the_agents_tool_calls(client, owner):
    session = CallSessionFactory(organization=owner.organization, status=CallStatus.COMPLETED)
    for seq, (name, ok, outcome) in enumerate(
        [
            ("check_calendar", True, {"result": {"free": ["15:00"]}}),
            ("book_slot", False, {"error": "The tool answered HTTP 500."}),
        ]
    ):
        CallEventFactory(
            session=session,
            kind="engine.tool_called",
            data={
                "seq": seq,
                "turn": 2,
                "name": name,
                "tool_kind": "http",
                "arguments": {"day": "Friday"},
                "ok": ok,
                "latency_ms": 12.5,
                **outcome,
            },
        )
    client.force_login(staff(owner))

    page = client.get(f"{CHANGELIST}{session.pk}/change/").content.decode()

    assert '<table class="session-tool-calls">' in page
    assert (
        "<tr><td>2</td><td>check_calendar</td><td><code>{&quot;day&quot;: &quot;Friday&quot;}"
        "</code></td><td>{&quot;free&quot;: [&quot;15:00&quot;]}</td><td>12.5 ms</td></tr>"
    ) in page
    assert "<td>error: The tool answered HTTP 500.</td>" in page


def test_the_session_page_lists_its_transfers(client, owner):
    from datetime import UTC, datetime

    from sessions.models import Transfer

    session = CallSessionFactory(organization=owner.organization, status=CallStatus.COMPLETED)
    Transfer.objects.create(
        organization=owner.organization,
        session=session,
        target_number="+12125550118",
        reason="agreement",
        state="completed",
        answered_at=datetime(2026, 11, 24, 10, 2, 3, tzinfo=UTC),
        talk_seconds=42,
    )
    Transfer.objects.create(
        organization=owner.organization,
        session=session,
        mode="warm",
        target_number="+12125550119",
        reason="request",
        state="no_answer",
        leg_events=[
            {"status": "initiated", "sequence": 0, "at": "2026-11-24T10:03:00+00:00"},
            {"status": "ringing", "sequence": 1, "at": "2026-11-24T10:03:01+00:00"},
            {"status": "no-answer", "sequence": 2, "at": "2026-11-24T10:03:21+00:00"},
        ],
        returned_at=datetime(2026, 11, 24, 10, 3, 21, tzinfo=UTC),
    )
    client.force_login(staff(owner))

    page = client.get(f"{CHANGELIST}{session.pk}/change/").content.decode()

    assert '<table class="session-transfers">' in page
    assert (
        "<tr><td>Cold</td><td>+12125550118</td><td>agreement</td><td>Completed</td>"
        "<td>10:02:03</td><td>42 s</td><td></td><td></td></tr>"
    ) in page
    assert (
        "<tr><td>Warm</td><td>+12125550119</td><td>request</td><td>No answer</td>"
        "<td></td><td></td><td>initiated → ringing → no-answer</td><td>10:03:21</td></tr>"
    ) in page
