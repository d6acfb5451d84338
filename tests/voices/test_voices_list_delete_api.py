"""GET /voices (filters, cursor pages), GET /voices/:id, DELETE /voices/:id, tenant isolation."""

from __future__ import annotations

import pytest
from voices_support import stored_files

from campaigns.models import CallerId, Campaign, CampaignStatus, ContactList
from scripts.factories import ScriptFactory
from voices.factories import VoiceFactory, VoiceSampleFactory
from voices.models import Voice, VoiceEvent, VoicePreview, VoiceSample, VoiceStatus

VOICES = "/api/v1/voice/voices"


def iso(value) -> str:  # type: ignore[no-untyped-def]
    return value.isoformat().replace("+00:00", "Z")


def voice_payload(voice: Voice, *, sample_count: int = 0, sample_seconds: float = 0.0):  # type: ignore[no-untyped-def]
    return {
        "id": voice.pk,
        "name": voice.name,
        "description": voice.description,
        "labels": voice.labels,
        "provider": voice.provider,
        "providerVoiceId": voice.provider_voice_id,
        "status": voice.status,
        "failureReason": voice.failure_reason,
        "isClone": voice.is_clone,
        "providerNote": voice.provider_note,
        "sampleSentence": voice.sample_sentence,
        "sampleCount": sample_count,
        "sampleSeconds": sample_seconds,
        "createdAt": iso(voice.created_at),
        "updatedAt": iso(voice.updated_at),
    }


def campaign_using(voice: Voice, status: str) -> Campaign:
    organization = voice.organization
    return Campaign.objects.create(
        organization=organization,
        name=f"{status} campaign",
        script=ScriptFactory(organization=organization),
        voice=voice,
        contact_list=ContactList.objects.create(organization=organization, name="Leads"),
        caller_id=CallerId.objects.create(organization=organization, phone_number="+15005550006"),
        status=status,
    )


# --- List and retrieve ----------------------------------------------------------------------


def test_it_lists_the_organizations_voices_newest_first(owner, acme, globex):
    older = VoiceFactory(organization=acme, name="Older")
    newer = VoiceFactory(organization=acme, name="Newer")
    VoiceSampleFactory(voice=newer)
    VoiceSampleFactory(voice=newer)
    VoiceFactory(organization=globex, name="Not ours")

    response = owner.client.get(VOICES)

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": [
            voice_payload(newer, sample_count=2, sample_seconds=2.0),
            voice_payload(older),
        ],
        "meta": {"total": 2, "cursor": None, "hasMore": False},
    }


def test_it_filters_by_status_name_and_kind(owner, acme):
    ready = VoiceFactory(organization=acme, name="Anna Ready")
    failed = VoiceFactory(organization=acme, name="Bob", status=VoiceStatus.FAILED)
    clone = VoiceFactory(organization=acme, name="anna cloned", is_clone=True)

    def ids(query: str) -> list[int]:
        return [row["id"] for row in owner.client.get(f"{VOICES}?{query}").json()["data"]]

    assert ids("status=failed") == [failed.pk]
    assert ids("search=ANNA") == [clone.pk, ready.pk]
    assert ids("isClone=true") == [clone.pk]
    assert ids("search=anna&isClone=false") == [ready.pk]


def test_it_refuses_an_unknown_status_filter(owner):
    response = owner.client.get(f"{VOICES}?status=deleted")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "status": ["Select a valid choice. deleted is not one of the available choices."]
    }


def test_it_pages_with_a_cursor(owner, acme):
    voices = [VoiceFactory(organization=acme) for _ in range(3)]

    first = owner.client.get(f"{VOICES}?limit=2").json()
    second = owner.client.get(f"{VOICES}?limit=2&cursor={first['meta']['cursor']}").json()

    assert [row["id"] for row in first["data"]] == [voices[2].pk, voices[1].pk]
    assert first["meta"]["hasMore"] is True
    assert [row["id"] for row in second["data"]] == [voices[0].pk]
    assert second["meta"] == {"total": 3, "cursor": None, "hasMore": False}


def test_it_retrieves_a_voice_with_its_samples(viewer, acme):
    voice = VoiceFactory(organization=acme)
    sample = VoiceSampleFactory(voice=voice)

    response = viewer.client.get(f"{VOICES}/{voice.pk}")

    assert response.status_code == 200
    assert response.json()["data"] == {
        **voice_payload(voice, sample_count=1, sample_seconds=1.0),
        "samples": [
            {
                "id": sample.pk,
                "originalName": "sample.wav",
                "format": "wav",
                "durationSeconds": 1.0,
                "sampleRate": 8000,
                "channels": 1,
                "sizeBytes": sample.size_bytes,
                "sha256": sample.sha256,
                "createdAt": iso(sample.created_at),
            }
        ],
    }


# --- Delete ---------------------------------------------------------------------------------


def test_it_deletes_the_voice_and_its_files_and_answers_204(
    owner, acme, media_root, django_capture_on_commit_callbacks
):
    voice = VoiceFactory(organization=acme)
    VoiceSampleFactory(voice=voice)
    owner.client.post(f"{VOICES}/{voice.pk}/preview", {"text": "Hi."}, format="json")
    assert len(stored_files(media_root)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.delete(f"{VOICES}/{voice.pk}")

    assert (response.status_code, response.content) == (204, b"")
    assert Voice.objects.count() == 0
    assert VoiceSample.objects.count() == VoicePreview.objects.count() == 0
    assert VoiceEvent.objects.count() == 0
    assert stored_files(media_root) == []


def test_it_keeps_the_files_until_the_delete_commits(owner, acme, media_root):
    # Without the commit (the test's transaction never commits) nothing leaves storage.
    voice = VoiceFactory(organization=acme)
    VoiceSampleFactory(voice=voice)

    response = owner.client.delete(f"{VOICES}/{voice.pk}")

    assert response.status_code == 204
    assert len(stored_files(media_root)) == 1


def test_it_deletes_a_cloud_voice_at_the_provider(
    owner, acme, elevenlabs, django_capture_on_commit_callbacks
):
    voice = VoiceFactory(organization=acme, provider="elevenlabs", provider_voice_id="el-42")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.delete(f"{VOICES}/{voice.pk}")

    assert response.status_code == 204
    assert [(r.method, r.path) for r in elevenlabs.requests] == [("DELETE", "/v1/voices/el-42")]


@pytest.mark.parametrize("status", [CampaignStatus.RUNNING, CampaignStatus.PAUSED])
def test_it_refuses_to_delete_a_voice_an_active_campaign_uses(owner, acme, media_root, status):
    voice = VoiceFactory(organization=acme)
    VoiceSampleFactory(voice=voice)
    campaign_using(voice, status)

    response = owner.client.delete(f"{VOICES}/{voice.pk}")

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "CONFLICT",
        "message": "This voice is used by a running or paused campaign; stop the campaign or "
        "switch it to another voice first.",
    }
    assert Voice.objects.filter(pk=voice.pk).exists()
    assert len(stored_files(media_root)) == 1


def test_it_refuses_to_delete_a_voice_any_campaign_still_references(owner, acme):
    voice = VoiceFactory(organization=acme)
    campaign_using(voice, CampaignStatus.DRAFT)

    response = owner.client.delete(f"{VOICES}/{voice.pk}")

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "CONFLICT",
        "message": "This voice is still referenced by campaigns; remove it from them first.",
    }
    assert Voice.objects.filter(pk=voice.pk).exists()


def test_it_forbids_a_viewer_to_delete(viewer, acme):
    voice = VoiceFactory(organization=acme)

    response = viewer.client.delete(f"{VOICES}/{voice.pk}")

    assert response.status_code == 403
    assert Voice.objects.filter(pk=voice.pk).exists()


# --- Tenancy --------------------------------------------------------------------------------


def test_it_answers_404_to_an_outsider_on_every_detail_route(owner, outsider, acme, media_root):
    voice = VoiceFactory(organization=acme)
    VoiceSampleFactory(voice=voice)
    made = owner.client.post(f"{VOICES}/{voice.pk}/preview", {"text": "Hi."}, format="json")
    preview_id = made.json()["data"]["id"]

    responses = [
        outsider.client.get(f"{VOICES}/{voice.pk}"),
        outsider.client.delete(f"{VOICES}/{voice.pk}"),
        outsider.client.post(f"{VOICES}/{voice.pk}/preview", {}, format="json"),
        outsider.client.get(f"{VOICES}/{voice.pk}/previews/{preview_id}/audio"),
    ]

    assert [response.status_code for response in responses] == [404, 404, 404, 404]
    assert all(response.json()["error"]["code"] == "NOT_FOUND" for response in responses)
    assert outsider.client.get(VOICES).json()["data"] == []
    assert Voice.objects.filter(pk=voice.pk).exists()
    assert VoicePreview.objects.count() == 1
    assert len(stored_files(media_root)) == 2


def test_it_answers_401_without_credentials(anonymous, acme):
    voice = VoiceFactory(organization=acme)

    assert anonymous.get(VOICES).status_code == 401
    assert anonymous.get(f"{VOICES}/{voice.pk}").status_code == 401
