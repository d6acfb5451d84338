"""Recordings play from the API and the admin, only for the session's organization."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile

from sessions.factories import CallSessionFactory

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/voice/sessions"
WAV = b"RIFF$\x00\x00\x00WAVEfmt " + b"\x00" * 28


@pytest.fixture
def recorded(owner):
    session = CallSessionFactory(organization=owner.organization)
    session.recording.save("call.wav", ContentFile(WAV), save=True)
    return session


def test_the_api_streams_the_recording(owner, recorded):
    detail = owner.client.get(f"{SESSIONS}/{recorded.pk}").json()["data"]
    response = owner.client.get(detail["recordingUrl"], HTTP_ACCEPT="audio/*")

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content) == WAV


def test_another_organization_and_a_session_without_one_get_404(owner, outsider, recorded):
    silent = CallSessionFactory(organization=owner.organization)

    theirs = outsider.client.get(f"{SESSIONS}/{recorded.pk}/recording")
    missing = owner.client.get(f"{SESSIONS}/{silent.pk}/recording")

    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")


def test_the_admin_player_plays_it_for_staff_of_the_organization(client, owner, outsider, recorded):
    user = owner.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="call_sessions"))
    client.force_login(user)
    url = f"/admin/call_sessions/callsession/{recorded.pk}/recording/"

    page = client.get(f"/admin/call_sessions/callsession/{recorded.pk}/change/")
    played = client.get(url)

    assert url in page.content.decode()
    assert played.status_code == 200
    assert b"".join(played.streaming_content) == WAV
    other = outsider.membership.user
    other.is_staff = True
    other.save()
    client.force_login(other)
    assert client.get(url).status_code == 404
