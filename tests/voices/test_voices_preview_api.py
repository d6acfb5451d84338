"""POST /api/v1/voice/voices/:id/preview and the authenticated audio route behind its URL."""

from __future__ import annotations

import numpy as np
import pytest
from voices_support import decoded_seconds, stored_files

from anvil_voice.errors import InvalidState
from anvil_voice.speech.codec import ulaw_to_pcm16
from anvil_voice.speech.sniff import sniff_format
from scripts.factories import ScriptFactory
from voices import services
from voices.factories import VoiceFactory
from voices.models import DEFAULT_SAMPLE_SENTENCE, VoicePreview, VoiceStatus

VOICES = "/api/v1/voice/voices"


def iso(value) -> str:  # type: ignore[no-untyped-def]
    return value.isoformat().replace("+00:00", "Z")


def preview(persona, voice, body=None):  # type: ignore[no-untyped-def]
    return persona.client.post(f"{VOICES}/{voice.pk}/preview", body or {}, format="json")


@pytest.fixture
def voice(acme):  # type: ignore[no-untyped-def]
    return VoiceFactory(organization=acme, name="Joe")


def test_it_previews_the_sample_sentence_as_a_stored_mp3(owner, acme, media_root):
    voice = VoiceFactory(organization=acme, sample_sentence=DEFAULT_SAMPLE_SENTENCE)

    response = preview(owner, voice)

    assert response.status_code == 201
    stored = VoicePreview.objects.get()
    audio_url = f"http://testserver{VOICES}/{voice.pk}/previews/{stored.pk}/audio"
    assert response.json() == {
        "success": True,
        "data": {
            "id": stored.pk,
            "voiceId": voice.pk,
            "text": DEFAULT_SAMPLE_SENTENCE,
            "url": audio_url,
            "expiresAt": None,
            "durationSeconds": round(stored.duration_seconds, 3),
            "sizeBytes": stored.size_bytes,
            "cached": False,
            "createdAt": iso(stored.created_at),
        },
    }
    assert stored.file.name.startswith(f"voices/{owner.organization.pk}/{voice.uid.hex}/previews/")
    assert stored_files(media_root) == [stored.file.name]


def test_it_serves_a_valid_mp3_as_long_as_piper_speaks_it(owner, voice, tts):
    text = "Thanks for taking my call; I only need a minute."
    data = preview(owner, voice, {"text": text}).json()["data"]

    audio = owner.client.get(data["url"])

    assert audio.status_code == 200
    assert audio["Content-Type"] == "audio/mpeg"
    body = b"".join(audio.streaming_content)
    assert sniff_format(body[:4096]) == "mp3"
    # The MP3 holds all the audio Piper spoke for this preview, whose length the API reports.
    assert decoded_seconds(body) == pytest.approx(data["durationSeconds"], rel=0.10)
    # Piper samples noise into phoneme lengths (previews should sound natural), so two
    # syntheses of one line differ by up to ~12 % (seen in CI: 2.87 s against 2.57 s). Against
    # the noise-free length a preview is within ~10 %: a wrong rate or a cut would be far off.
    pcm, rate = tts.synthesize_pcm(text, exact=True)
    expected = len(pcm) / 2 / rate
    assert data["durationSeconds"] == pytest.approx(expected, rel=0.15)


def test_it_reuses_the_stored_preview_for_the_same_text(owner, voice, media_root):
    first = preview(owner, voice, {"text": "Hello there."}).json()["data"]

    again = preview(owner, voice, {"text": "  Hello there.  "})

    assert again.status_code == 200
    assert again.json()["data"] == {**first, "cached": True}
    assert VoicePreview.objects.count() == 1
    assert len(stored_files(media_root)) == 1


def test_it_stores_a_new_preview_for_new_text(owner, voice, media_root):
    preview(owner, voice, {"text": "Hello there."})

    response = preview(owner, voice, {"text": "Goodbye now."})

    assert response.status_code == 201
    assert VoicePreview.objects.count() == 2
    assert len(stored_files(media_root)) == 2


def test_it_speaks_a_scripts_opening_line_for_a_sample_contact(owner, voice):
    script = ScriptFactory(
        organization=owner.organization,
        opening_line="Hi {{first_name}}, this is {{agent_name}} from {{business_name}}.",
    )

    response = preview(owner, voice, {"scriptId": script.pk})

    assert response.status_code == 201
    assert response.json()["data"]["text"] == "Hi Jordan, this is Alex from Acme."


def test_it_refuses_another_organizations_script(owner, outsider, voice):
    script = ScriptFactory(organization=outsider.organization)

    response = preview(owner, voice, {"scriptId": script.pk})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"scriptId": ["No such script."]}
    assert VoicePreview.objects.count() == 0


def test_it_refuses_text_and_script_together(owner, voice):
    script = ScriptFactory(organization=owner.organization)

    response = preview(owner, voice, {"text": "Hi", "scriptId": script.pk})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "scriptId": ["Give either text or scriptId, not both."]
    }


def test_it_refuses_a_5000_character_text(owner, voice, media_root):
    response = preview(owner, voice, {"text": "a" * 5000})

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": {"text": ["Ensure this field has no more than 500 characters."]},
        },
    }
    assert VoicePreview.objects.count() == 0
    assert stored_files(media_root) == []


def test_it_refuses_blank_text_and_unknown_fields(owner, voice):
    blank = preview(owner, voice, {"text": "   "})
    unknown = preview(owner, voice, {"voice": "x"})

    assert blank.json()["error"]["details"] == {"text": ["This field may not be blank."]}
    assert unknown.json()["error"]["details"] == {"voice": ["Unknown field."]}


def test_it_answers_409_for_a_voice_still_processing(owner, acme, media_root):
    voice = VoiceFactory(organization=acme, status=VoiceStatus.PROCESSING, provider_voice_id="")

    response = preview(owner, voice)

    assert response.status_code == 409
    assert response.json() == {
        "success": False,
        "error": {
            "code": "INVALID_STATE",
            "message": "This voice is still processing; previews need a ready voice.",
        },
    }
    assert stored_files(media_root) == []


def test_it_answers_409_for_a_failed_voice(owner, acme):
    voice = VoiceFactory(
        organization=acme, status=VoiceStatus.FAILED, failure_reason="Samples too noisy."
    )

    response = preview(owner, voice)

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "INVALID_STATE",
        "message": "This voice failed to clone (Samples too noisy.); previews need a ready "
        "voice. Retry the clone or upload new samples.",
    }


def test_it_forbids_a_viewer_to_generate_but_lets_them_listen(owner, viewer, voice):
    url = preview(owner, voice).json()["data"]["url"]

    generate = preview(viewer, voice, {"text": "Something new."})
    listen = viewer.client.get(url)

    assert generate.status_code == 403
    assert listen.status_code == 200
    assert VoicePreview.objects.count() == 1


def test_it_plays_audio_whatever_the_accept_header_says(owner, voice):
    url = preview(owner, voice).json()["data"]["url"]

    response = owner.client.get(url, HTTP_ACCEPT="audio/*")

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"


def test_it_answers_404_for_a_preview_of_another_voice(owner, acme, voice):
    other = VoiceFactory(organization=acme)
    data = preview(owner, voice).json()["data"]

    response = owner.client.get(f"{VOICES}/{other.pk}/previews/{data['id']}/audio")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_it_previews_a_cloud_voice_through_the_provider(owner, acme, elevenlabs, media_root):
    voice = VoiceFactory(
        organization=acme, provider="elevenlabs", provider_voice_id="el-voice-1", is_clone=True
    )

    response = preview(owner, voice, {"text": "Hello from the cloud."})

    assert response.status_code == 201
    (request,) = elevenlabs.requests
    assert (request.method, request.path, request.query) == (
        "POST",
        "/v1/text-to-speech/el-voice-1",
        "output_format=mp3_44100_128",
    )
    assert request.json["text"] == "Hello from the cloud."
    stored = VoicePreview.objects.get()
    assert (media_root / stored.file.name).read_bytes() == elevenlabs.mp3


def test_it_answers_503_and_stores_nothing_when_the_provider_is_down(
    owner, acme, settings, elevenlabs, media_root
):
    settings.ELEVENLABS_BASE_URL = "http://127.0.0.1:9"  # the discard port: refused
    voice = VoiceFactory(organization=acme, provider="elevenlabs", provider_voice_id="v1")

    response = preview(owner, voice)

    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "SERVICE_UNAVAILABLE",
        "message": "The speech provider could not synthesise the preview: Could not reach "
        "ElevenLabs (ConnectError).",
    }
    assert VoicePreview.objects.count() == 0
    assert stored_files(media_root) == []


def test_it_synthesises_phone_audio_as_raw_mulaw(voice):
    ulaw = services.voice_synthesize_ulaw(voice=voice, text="Hello, can you hear me?")

    assert ulaw[:4] != b"RIFF"
    seconds = len(ulaw) / 8000
    assert 0.8 < seconds < 4.0
    samples = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
    assert np.abs(samples).max() > 1000  # speech, not silence


def test_it_refuses_phone_audio_for_a_voice_that_is_not_ready(acme):
    voice = VoiceFactory(organization=acme, status=VoiceStatus.PROCESSING)

    with pytest.raises(InvalidState):
        services.voice_synthesize_ulaw(voice=voice, text="Hello")
