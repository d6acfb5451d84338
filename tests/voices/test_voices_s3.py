"""Voices on real S3 (SeaweedFS over HTTP): private objects, expiring links, nothing orphaned."""

from __future__ import annotations

import time

import pytest
import requests
from voices_support import decoded_seconds, upload

from voices.factories import VoiceFactory
from voices.models import Voice, VoicePreview

pytestmark = pytest.mark.s3

VOICES = "/api/v1/voice/voices"
CLONE = f"{VOICES}/clone"


def test_it_stores_samples_as_private_objects(owner, audio, s3):
    response = owner.client.post(CLONE, {"name": "Anna", "samples": audio.pair()})

    assert response.status_code == 201
    voice = Voice.objects.get()
    names = sorted(sample.file.name for sample in voice.samples.all())
    assert s3.keys() == names
    stored = s3.client().get_object(Bucket=s3.bucket, Key=names[0])["Body"].read()
    assert stored in (audio.data("wav", 0), audio.data("wav", 1))
    # No credentials, no audio: the bucket is not public.
    unsigned = requests.get(f"{s3.endpoint}/{s3.bucket}/{names[0]}", timeout=5)
    assert unsigned.status_code == 403


def test_it_answers_a_presigned_preview_url_that_expires(owner, acme, s3):
    voice = VoiceFactory(organization=acme)

    response = owner.client.post(f"{VOICES}/{voice.pk}/preview", {"text": "Hi."}, format="json")

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["url"].startswith(f"{s3.endpoint}/{s3.bucket}/voices/")
    assert "X-Amz-Signature=" in data["url"]
    assert "X-Amz-Expires=1&" in data["url"]
    assert data["expiresAt"] is not None
    fresh = requests.get(data["url"], timeout=5)
    assert fresh.status_code == 200
    assert decoded_seconds(fresh.content) == pytest.approx(data["durationSeconds"], rel=0.05)
    # The link lives one second (querystring_expire=1); S3 checks the expiry itself.
    deadline = time.monotonic() + 3
    while (status := requests.get(data["url"], timeout=5).status_code) == 200:
        assert time.monotonic() < deadline, "the presigned URL did not expire within 3 s"
        time.sleep(0.25)
    assert status == 403


def test_it_redirects_the_audio_route_to_a_fresh_presigned_url(owner, acme, s3):
    voice = VoiceFactory(organization=acme)
    data = owner.client.post(f"{VOICES}/{voice.pk}/preview", {}, format="json").json()["data"]

    response = owner.client.get(f"{VOICES}/{voice.pk}/previews/{data['id']}/audio")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{s3.endpoint}/{s3.bucket}/voices/")
    assert requests.get(response["Location"], timeout=5).status_code == 200


def test_it_leaves_nothing_in_the_bucket_after_a_rejected_upload(owner, audio, s3):
    response = owner.client.post(
        CLONE, {"name": "Anna", "samples": [*audio.pair(), upload("bad.wav", b"nope" * 100)]}
    )

    assert response.status_code == 400
    assert s3.keys() == []
    assert Voice.objects.count() == 0


def test_it_removes_uploaded_objects_when_the_rows_cannot_be_written(owner, audio, s3, monkeypatch):
    from voices.models import VoiceSample

    def broken_bulk_create(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(VoiceSample.objects, "bulk_create", broken_bulk_create)

    response = owner.client.post(CLONE, {"name": "Anna", "samples": audio.pair()})

    assert response.status_code == 500
    assert s3.keys() == []


def test_it_deletes_every_object_with_the_voice(
    owner, audio, s3, django_capture_on_commit_callbacks
):
    voice_id = owner.client.post(CLONE, {"name": "Anna", "samples": audio.pair()}).json()["data"][
        "id"
    ]
    owner.client.post(f"{VOICES}/{voice_id}/preview", {"text": "Bye."}, format="json")
    assert len(s3.keys()) == 3

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.delete(f"{VOICES}/{voice_id}")

    assert response.status_code == 204
    assert s3.keys() == []
    assert VoicePreview.objects.count() == 0
