"""The clone task and its service: provider outcomes, retries, idempotency, races, seeding."""

from __future__ import annotations

import json

import pytest

from anvil_voice.celery import app as celery_app
from anvil_voice.errors import InvalidState
from anvil_voice.speech.protocols import CloneResult
from voices import selectors, services
from voices.factories import VoiceFactory, VoiceSampleFactory
from voices.models import Voice, VoiceStatus
from voices.tasks import voice_clone_task

CLONE = "/api/v1/voice/voices/clone"


def clone(persona, samples, **fields):  # type: ignore[no-untyped-def]
    return persona.client.post(CLONE, {"name": "Anna", **fields, "samples": samples})


def statuses(voice: Voice) -> list[tuple[str, str]]:
    return [(event.from_status, event.to_status) for event in voice.events.order_by("id")]


def test_it_clones_with_elevenlabs_streaming_the_stored_samples(owner, audio, elevenlabs):
    response = clone(owner, audio.pair(), description="Calm", labels='{"accent": "irish"}')

    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["status"], data["provider"], data["providerVoiceId"], data["isClone"]) == (
        "ready",
        "elevenlabs",
        "el-voice-1",
        True,
    )
    assert data["providerNote"] == "ElevenLabs instant voice clone"
    (request,) = elevenlabs.requests
    assert request.path == "/v1/voices/add"
    assert request.headers["xi-api-key"] == "test-elevenlabs-key"
    assert request.fields["name"] == "Anna"
    assert request.fields["description"] == "Calm"
    assert json.loads(request.fields["labels"]) == {"accent": "irish"}
    assert request.files == [
        ("take-1.wav", "audio/wav", audio.data("wav", 0)),
        ("take-2.wav", "audio/wav", audio.data("wav", 1)),
    ]


def test_it_fails_the_voice_with_the_providers_reason(owner, audio, elevenlabs, media_root):
    elevenlabs.clone_reply = (400, {"detail": {"status": "bad", "message": "Samples too noisy."}})

    response = clone(owner, audio.pair())

    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["status"], data["failureReason"], data["providerVoiceId"]) == (
        "failed",
        "Samples too noisy.",
        "",
    )
    voice = Voice.objects.get()
    assert statuses(voice) == [("", "processing"), ("processing", "failed")]
    # The samples stay so the clone can be retried.
    assert voice.samples.count() == 2


def test_it_records_the_providers_reason_when_it_is_unreachable(
    owner, audio, elevenlabs, settings, eager_retries
):
    settings.ELEVENLABS_BASE_URL = "http://127.0.0.1:9"  # connection refused, every time

    response = clone(owner, audio.pair())

    data = response.json()["data"]
    assert (data["status"], data["failureReason"]) == (
        "failed",
        "Could not reach ElevenLabs (ConnectError).",
    )


def test_it_retries_a_retryable_provider_error_before_failing(
    owner, audio, elevenlabs, monkeypatch
):
    # With a real broker a retryable error is retried with back-off; eager `apply` without
    # propagation re-runs the task the same way, immediately.
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)
    monkeypatch.setattr(voice_clone_task, "delay", lambda *args: None)  # queue nothing yet
    clone(owner, audio.pair())
    voice = Voice.objects.get()
    elevenlabs.clone_reply = (503, {"detail": "busy"})

    voice_clone_task.apply(args=[voice.pk])

    voice.refresh_from_db()
    assert len(elevenlabs.requests) == 4  # the first attempt and three retries
    assert (voice.status, voice.failure_reason) == ("failed", "ElevenLabs failed (503): busy.")


def test_it_retries_a_failed_clone(owner, audio, elevenlabs, django_capture_on_commit_callbacks):
    elevenlabs.clone_reply = (500, {"detail": "overloaded"})
    clone(owner, audio.pair())
    voice = Voice.objects.get()
    assert voice.status == VoiceStatus.FAILED
    elevenlabs.clone_reply = (200, {"voice_id": "el-second-try"})

    with django_capture_on_commit_callbacks(execute=True):
        services.voice_clone_retry(voice=voice)

    voice.refresh_from_db()

    assert (voice.status, voice.provider_voice_id, voice.failure_reason) == (
        "ready",
        "el-second-try",
        "",
    )
    assert statuses(voice)[-3:] == [
        ("processing", "failed"),
        ("failed", "processing"),
        ("processing", "ready"),
    ]


def test_it_only_retries_failed_voices(acme):
    voice = VoiceFactory(organization=acme)

    with pytest.raises(
        InvalidState, match="Only a failed clone can be retried; this voice is ready"
    ):
        services.voice_clone_retry(voice=voice)


def test_it_ignores_a_redelivered_clone_task(owner, audio):
    clone(owner, audio.pair())
    voice = Voice.objects.get()
    before = statuses(voice)

    voice_clone_task.delay(voice.pk)
    voice_clone_task.delay(voice.pk + 1000)  # a voice deleted before its task ran

    voice.refresh_from_db()
    assert voice.status == VoiceStatus.READY
    assert statuses(voice) == before


def test_it_forgets_a_clone_made_for_a_voice_deleted_meanwhile(acme, monkeypatch):
    voice = VoiceFactory(organization=acme, status=VoiceStatus.PROCESSING, provider="elevenlabs")
    VoiceSampleFactory(voice=voice)
    forgotten: list[str] = []

    class SlowProvider:
        name = "elevenlabs"

        def clone_voice(self, **kwargs):  # type: ignore[no-untyped-def]
            Voice.objects.filter(pk=voice.pk).delete()  # deleted while the provider works
            return CloneResult("elevenlabs", "el-orphan", is_clone=True)

        def delete_voice(self, *, provider_voice_id: str) -> None:
            forgotten.append(provider_voice_id)

    monkeypatch.setattr(services, "get_voice_provider", lambda name=None: SlowProvider())

    services.voice_clone_run(voice_id=voice.pk)

    assert forgotten == ["el-orphan"]
    assert not Voice.objects.filter(pk=voice.pk).exists()


def test_it_fails_the_voice_when_the_task_cannot_be_queued(owner, audio, monkeypatch):
    def broker_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(voice_clone_task, "delay", broker_down)

    response = clone(owner, audio.pair())

    assert response.status_code == 201
    assert response.json()["data"]["status"] == "failed"
    assert response.json()["data"]["failureReason"] == (
        "Cloning could not be started; retry the clone."
    )


def test_it_knows_when_a_voice_is_in_active_use(acme):
    voice = VoiceFactory(organization=acme)

    assert selectors.voice_in_active_use(voice=voice) is False


def test_it_seeds_one_ready_local_demo_voice_idempotently(acme):
    first = services.voice_seed_demo(acme)
    again = services.voice_seed_demo(organization=acme)

    assert first == again
    assert Voice.objects.filter(organization=acme).count() == 1
    assert (first.status, first.provider, first.is_clone) == ("ready", "local", False)
    assert services.voice_preview(voice=first, text="Demo.").created is True
