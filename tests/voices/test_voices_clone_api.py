"""POST /api/v1/voice/voices/clone: samples checked by content, stored, cloned by a task."""

from __future__ import annotations

import re

import pytest
from voices_support import stored_files, tone, upload

from anvil_voice.speech.codec import pcm16_to_wav
from voices.models import Voice, VoiceEvent, VoiceSample

CLONE = "/api/v1/voice/voices/clone"
LOCAL_NOTE = "local provider: speaks with the built-in voice 'joe'; not a clone"


def iso(value) -> str:  # type: ignore[no-untyped-def]
    return value.isoformat().replace("+00:00", "Z")


def sample_payload(sample: VoiceSample) -> dict[str, object]:
    return {
        "id": sample.pk,
        "originalName": sample.original_name,
        "format": sample.format,
        "durationSeconds": sample.duration_seconds,
        "sampleRate": sample.sample_rate,
        "channels": sample.channels,
        "sizeBytes": sample.size_bytes,
        "sha256": sample.sha256,
        "createdAt": iso(sample.created_at),
    }


def clone(persona, samples, **fields):  # type: ignore[no-untyped-def]
    return persona.client.post(CLONE, {"name": "Anna", **fields, "samples": samples})


def assert_nothing_stored(media_root) -> None:  # type: ignore[no-untyped-def]
    assert Voice.objects.count() == 0
    assert VoiceSample.objects.count() == 0
    assert stored_files(media_root) == []


def rejected(response, *messages: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The request is not valid; see error.details.",
            "details": {"samples": list(messages)},
        },
    }


# --- Success ------------------------------------------------------------------------------


def test_it_clones_a_voice_and_answers_it_ready_with_its_samples(owner, audio, media_root):
    response = clone(
        owner,
        audio.pair(),
        description="Warm, calm",
        labels='{"language": "en", "accent": "british"}',
        sampleSentence="Hi, it's Anna from Acme.",
    )

    assert response.status_code == 201
    voice = Voice.objects.get()
    samples = list(voice.samples.order_by("id"))
    assert response.json() == {
        "success": True,
        "data": {
            "id": voice.pk,
            "name": "Anna",
            "description": "Warm, calm",
            "labels": {"language": "en", "accent": "british"},
            "provider": "local",
            "providerVoiceId": "local:joe",
            "status": "ready",
            "failureReason": "",
            "isClone": False,
            "providerNote": LOCAL_NOTE,
            "sampleSentence": "Hi, it's Anna from Acme.",
            "sampleCount": 2,
            "sampleSeconds": round(samples[0].duration_seconds + samples[1].duration_seconds, 2),
            "createdAt": iso(voice.created_at),
            "updatedAt": iso(voice.updated_at),
            "samples": [sample_payload(sample) for sample in samples],
        },
    }
    assert voice.organization == owner.organization
    assert [(s.original_name, s.format, s.channels) for s in samples] == [
        ("take-1.wav", "wav", 1),
        ("take-2.wav", "wav", 1),
    ]
    assert samples[0].duration_seconds == pytest.approx(audio.seconds, abs=0.05)
    assert [(e.from_status, e.to_status) for e in voice.events.all()] == [
        ("", "processing"),
        ("processing", "ready"),
    ]


def test_it_stores_each_sample_under_a_server_generated_key(owner, audio, media_root):
    samples = audio.pair()
    samples[0].name = "../../etc/passwd.wav"

    response = clone(owner, samples)

    assert response.status_code == 201
    voice = Voice.objects.get()
    pattern = rf"voices/{owner.organization.pk}/{voice.uid.hex}/samples/[0-9a-f]{{32}}\.wav"
    names = [sample.file.name for sample in voice.samples.order_by("id")]
    assert all(re.fullmatch(pattern, name) for name in names)
    assert stored_files(media_root) == sorted(names)
    assert (media_root / names[0]).read_bytes() == audio.data("wav", 0)
    # The client's name is display text only, reduced to its last component.
    assert voice.samples.order_by("id")[0].original_name == "passwd.wav"


def test_it_accepts_every_supported_format_by_content(owner, audio):
    formats = ["wav", "mp3", "flac", "ogg", "m4a", "webm", "aac"]
    # Names without extensions: only the bytes can tell what each file is.
    samples = [upload(f"recording-{index}", audio.data(fmt)) for index, fmt in enumerate(formats)]

    response = clone(owner, samples)

    assert response.status_code == 201
    voice = Voice.objects.get()
    stored = list(voice.samples.order_by("id"))
    assert [sample.format for sample in stored] == formats
    assert [sample.file.name.rsplit(".", 1)[1] for sample in stored] == formats
    for sample in stored:
        assert sample.duration_seconds == pytest.approx(audio.seconds, rel=0.05)


def test_it_lets_content_win_over_a_misleading_extension(owner, audio):
    samples = [upload("really-flac.mp3", audio.data("flac")), audio.sample("b.wav", variant=1)]

    response = clone(owner, samples)

    assert response.status_code == 201
    first = Voice.objects.get().samples.order_by("id")[0]
    assert (first.original_name, first.format) == ("really-flac.mp3", "flac")
    assert first.file.name.endswith(".flac")


def test_it_lets_a_member_clone(member, audio):
    response = clone(member, audio.pair())

    assert response.status_code == 201


# --- Bad input: nothing is stored -----------------------------------------------------------


def test_it_requires_samples(owner, media_root):
    response = owner.client.post(CLONE, {"name": "Anna"})

    rejected(response, "At least one audio sample is required.")
    assert_nothing_stored(media_root)


def test_it_refuses_more_than_25_samples(owner, media_root):
    samples = [upload(f"s{index}.wav", b"x") for index in range(26)]

    response = clone(owner, samples)

    rejected(response, "At most 25 samples can be uploaded; got 26.")
    assert_nothing_stored(media_root)


def test_it_refuses_unknown_fields(owner, audio, media_root):
    response = clone(owner, audio.pair(), voiceId="mine")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"voiceId": ["Unknown field."]}
    assert_nothing_stored(media_root)


def test_it_names_every_bad_field_at_once(owner, media_root):
    response = owner.client.post(CLONE, {"labels": "[1, 2]"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "name": ["This field is required."],
        "labels": ['Must be a JSON object of at most 10 text labels, e.g. {"language": "en"}.'],
        "samples": ["At least one audio sample is required."],
    }
    assert_nothing_stored(media_root)


@pytest.mark.parametrize(
    "labels", ['{"accent": "brit\\u0000ish"}', '{"acc\\u0000ent": "british"}'], ids=["value", "key"]
)
def test_it_refuses_null_characters_in_labels(owner, audio, media_root, labels):
    # PostgreSQL's jsonb cannot hold \u0000: the row insert failed with a 500.
    response = clone(owner, audio.pair(), labels=labels)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The request is not valid; see error.details.",
        "details": {"labels": ["Null characters are not allowed."]},
    }
    assert_nothing_stored(media_root)


def test_it_refuses_a_file_over_the_per_file_cap(owner, audio, settings, media_root):
    settings.VOICE_SAMPLE_MAX_BYTES = 100_000
    big = audio.sample("big.wav")  # about 280 KB of 22 kHz WAV

    response = clone(owner, [big, audio.sample("small.ogg", "ogg")])

    size_kb = f"{len(audio.data('wav')) / 1024:.1f}"
    rejected(response, f"big.wav: is {size_kb} KB; the limit per file is 97.7 KB.")
    assert_nothing_stored(media_root)


def test_it_refuses_samples_over_the_total_cap(owner, audio, settings, media_root):
    settings.VOICE_SAMPLES_MAX_TOTAL_BYTES = 300_000

    response = clone(owner, audio.pair())

    total_kb = f"{2 * len(audio.data('wav')) / 1024:.1f}"
    rejected(response, f"The samples total {total_kb} KB; the limit is 293.0 KB.")
    assert_nothing_stored(media_root)


def test_it_answers_413_before_reading_a_body_over_the_total(owner, settings, media_root):
    settings.VOICE_SAMPLES_MAX_TOTAL_BYTES = 1000
    # The middleware allows the total plus 1 MiB of multipart framing.
    response = clone(owner, [upload("huge.wav", b"\0" * (1024 * 1024 + 2000))])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert_nothing_stored(media_root)


def test_it_refuses_a_text_file_named_wav(owner, audio, media_root):
    notes = upload("notes.wav", b"These are my meeting notes, not audio.\n" * 50)

    response = clone(owner, [notes, *audio.pair()])

    rejected(
        response,
        "notes.wav: is not an audio file we recognise (expected WAV, MP3, FLAC, OGG, M4A/AAC "
        "or WebM content).",
    )
    assert_nothing_stored(media_root)


def test_it_refuses_a_truncated_mp3(owner, audio, media_root):
    mp3 = audio.data("mp3")

    response = clone(owner, [upload("cut.mp3", mp3[: len(mp3) // 2]), *audio.pair()])

    assert response.status_code == 400
    (message,) = response.json()["error"]["details"]["samples"]
    assert re.fullmatch(
        r"cut\.mp3: is incomplete: its header promises \d\.\d seconds but only \d\.\d seconds "
        r"of audio could be decoded\.",
        message,
    )
    assert_nothing_stored(media_root)


def test_it_refuses_an_html_page_behind_an_audio_header(owner, audio, media_root):
    page = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
    id3_tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an empty ID3v2 tag, then no audio
    wav_head = pcm16_to_wav(tone(0.1).tobytes(), 22050)[:44]

    response = clone(
        owner,
        [upload("song.mp3", id3_tag + page), upload("clip.wav", wav_head + page), *audio.pair()],
    )

    rejected(
        response,
        "song.mp3: contains non-audio content ('<!doctype html' marker); upload a plain audio "
        "recording.",
        "clip.wav: contains non-audio content ('<!doctype html' marker); upload a plain audio "
        "recording.",
    )
    assert_nothing_stored(media_root)


def test_it_refuses_a_polyglot_audio_file(owner, audio, media_root):
    # A real recording with a PDF riding along at its end.
    polyglot = audio.data("wav", 2) + b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"

    response = clone(owner, [upload("voice.wav", polyglot), *audio.pair()])

    rejected(
        response,
        "voice.wav: contains non-audio content ('%pdf-1' marker); upload a plain audio recording.",
    )
    assert_nothing_stored(media_root)


def test_it_refuses_zero_length_silent_and_too_short_audio(owner, audio, media_root):
    silence = pcm16_to_wav(b"\0\0" * 22050 * 3, 22050)
    short = pcm16_to_wav(tone(0.5).tobytes(), 22050)

    response = clone(
        owner,
        [
            upload("empty.wav", b""),
            upload("silence.wav", silence),
            upload("short.wav", short),
            *audio.pair(),
        ],
    )

    rejected(
        response,
        "empty.wav: is empty (0 bytes).",
        "silence.wav: is silent or almost silent; no voice can be heard.",
        "short.wav: is 0.5 seconds long; at least 1.0 seconds is needed.",
    )
    assert_nothing_stored(media_root)


def test_it_refuses_a_file_whose_header_lies_about_its_format(owner, audio, media_root):
    # FLAC's magic bytes in front of MP3 frames: neither a FLAC file nor a clean MP3.
    disguised = b"fLaC" + audio.data("mp3")[4:]

    response = clone(owner, [upload("odd.flac", disguised), *audio.pair()])

    assert response.status_code == 400
    (message,) = response.json()["error"]["details"]["samples"]
    assert message.startswith("odd.flac: ")
    assert "FLAC" in message
    assert_nothing_stored(media_root)


def test_it_refuses_the_same_recording_twice(owner, audio, media_root):
    samples = [audio.sample("a.wav"), audio.sample("b.wav")]

    response = clone(owner, samples)

    rejected(response, "b.wav: is the same recording as a.wav.")
    assert_nothing_stored(media_root)


def test_it_refuses_less_than_ten_seconds_in_total(owner, audio, media_root):
    response = clone(owner, [audio.sample("only.wav")])

    rejected(
        response,
        f"The samples hold {audio.seconds:.1f} seconds of audio; at least 10.0 seconds is "
        "needed for a clone.",
    )
    assert_nothing_stored(media_root)


def test_it_refuses_more_than_the_maximum_duration(owner, audio, settings, media_root):
    settings.VOICE_SAMPLES_MAX_SECONDS = 12

    response = clone(owner, audio.pair())

    total = 2 * audio.seconds
    rejected(
        response,
        f"The samples hold {total:.1f} seconds of audio; at most 12.0 seconds can be used.",
    )
    assert_nothing_stored(media_root)


def test_it_refuses_json(owner, media_root):
    response = owner.client.post(CLONE, {"name": "Anna"}, format="json")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert_nothing_stored(media_root)


def test_it_forbids_a_viewer_to_clone(viewer, audio, media_root):
    response = clone(viewer, audio.pair())

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert_nothing_stored(media_root)


def test_it_removes_stored_files_when_the_rows_cannot_be_written(
    owner, audio, media_root, monkeypatch
):
    def broken_bulk_create(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(VoiceSample.objects, "bulk_create", broken_bulk_create)

    response = clone(owner, audio.pair())

    assert response.status_code == 500
    assert_nothing_stored(media_root)
    assert VoiceEvent.objects.count() == 0
