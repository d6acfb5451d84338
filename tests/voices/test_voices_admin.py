"""The voices admin: upload to clone, players for samples and previews, actions, delete."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from voices_support import stored_files, upload

from voices.factories import VoiceFactory, VoiceSampleFactory
from voices.models import Voice, VoicePreview, VoiceStatus

ADMIN = "/admin/voices/voice"


def staff(persona):  # type: ignore[no-untyped-def]
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="voices"))
    return user


def test_it_offers_an_upload_form_with_one_multi_file_field(client, owner):
    client.force_login(staff(owner))

    response = client.get(f"{ADMIN}/add/")

    content = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in content
    assert (
        '<input type="file" name="samples" accept="audio/*" multiple required '
        'aria-describedby="id_samples_helptext" id="id_samples">'
    ) in content


def test_it_clones_from_uploaded_files_through_the_service(client, owner, audio):
    client.force_login(staff(owner))

    response = client.post(
        f"{ADMIN}/add/",
        {
            "organization": owner.organization.pk,
            "name": "Anna",
            "labels": '{"language": "en"}',
            "sample_sentence": "Hello from Anna.",
            "samples": audio.pair(),
        },
        follow=True,
    )

    voice = Voice.objects.get()
    assert response.redirect_chain == [(f"{ADMIN}/{voice.pk}/change/", 302)]
    assert (voice.name, voice.status, voice.labels) == ("Anna", "ready", {"language": "en"})
    assert voice.samples.count() == 2
    assert (
        "Voice &#x27;Anna&#x27; is ready (local provider: speaks with the built-in voice "
        "&#x27;joe&#x27;; not a clone)." in response.content.decode()
    )


def test_it_shows_each_bad_file_on_the_form_and_stores_nothing(client, owner, audio, media_root):
    client.force_login(staff(owner))

    response = client.post(
        f"{ADMIN}/add/",
        {
            "organization": owner.organization.pk,
            "name": "Anna",
            "sample_sentence": "Hi.",
            "samples": [upload("notes.wav", b"not audio at all " * 40), upload("empty.mp3", b"")],
        },
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert "notes.wav: is not an audio file we recognise" in content
    assert "empty.mp3: is empty (0 bytes)." in content
    assert Voice.objects.count() == 0
    assert stored_files(media_root) == []


def test_it_only_offers_the_members_organizations(client, owner, outsider, audio):
    client.force_login(staff(owner))

    response = client.post(
        f"{ADMIN}/add/",
        {
            "organization": outsider.organization.pk,
            "name": "Sneaky",
            "sample_sentence": "Hi.",
            "samples": audio.pair(),
        },
    )

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert Voice.objects.count() == 0


def test_it_refuses_the_upload_page_to_a_viewer(client, viewer):
    client.force_login(staff(viewer))

    response = client.get(f"{ADMIN}/add/")

    assert response.status_code == 403


def test_it_shows_players_for_samples_and_previews(client, owner, acme):
    voice = VoiceFactory(organization=acme)
    sample = VoiceSampleFactory(voice=voice)
    client.force_login(staff(owner))
    client.post(ADMIN + "/", {"action": "generate_preview", "_selected_action": [voice.pk]})
    preview = VoicePreview.objects.get()

    response = client.get(f"{ADMIN}/{voice.pk}/change/")

    content = response.content.decode()
    sample_url = f"{ADMIN}/{voice.pk}/samples/{sample.pk}/audio/"
    preview_url = f"{ADMIN}/{voice.pk}/previews/{preview.pk}/audio/"
    assert f'<audio controls preload="none" src="{sample_url}"></audio>' in content
    assert f'<audio controls preload="none" src="{preview_url}"></audio>' in content
    played = client.get(sample_url)
    assert played.status_code == 200
    assert played["Content-Type"] == "audio/wav"
    assert b"".join(played.streaming_content) == sample.file.open("rb").read()
    assert client.get(preview_url)["Content-Type"] == "audio/mpeg"


def test_it_hides_another_organizations_audio(client, owner, outsider):
    voice = VoiceFactory(organization=outsider.organization)
    sample = VoiceSampleFactory(voice=voice)
    client.force_login(staff(owner))

    response = client.get(f"{ADMIN}/{voice.pk}/samples/{sample.pk}/audio/")

    assert response.status_code == 404


def test_it_generates_a_preview_from_the_changelist(client, owner, acme):
    voice = VoiceFactory(organization=acme, name="Joe")
    client.force_login(staff(owner))

    response = client.post(
        ADMIN + "/",
        {"action": "generate_preview", "_selected_action": [voice.pk]},
        follow=True,
    )

    assert VoicePreview.objects.filter(voice=voice).count() == 1
    assert "Joe: preview generated." in response.content.decode()


def test_it_reports_why_a_preview_cannot_be_made(client, owner, acme):
    voice = VoiceFactory(organization=acme, name="Busy", status=VoiceStatus.PROCESSING)
    client.force_login(staff(owner))

    response = client.post(
        ADMIN + "/", {"action": "generate_preview", "_selected_action": [voice.pk]}, follow=True
    )

    assert "Busy: This voice is still processing; previews need a ready voice." in (
        response.content.decode()
    )
    assert VoicePreview.objects.count() == 0


def test_it_retries_a_failed_clone_from_the_changelist(
    client, owner, acme, django_capture_on_commit_callbacks
):
    voice = VoiceFactory(
        organization=acme, status=VoiceStatus.FAILED, failure_reason="x", provider_voice_id=""
    )
    VoiceSampleFactory(voice=voice)
    client.force_login(staff(owner))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(ADMIN + "/", {"action": "retry_failed_clone", "_selected_action": [voice.pk]})

    voice.refresh_from_db()
    assert (voice.status, voice.failure_reason, voice.provider_voice_id) == (
        "ready",
        "",
        "local:joe",
    )


def test_it_deletes_through_the_service(
    client, owner, acme, media_root, django_capture_on_commit_callbacks
):
    voice = VoiceFactory(organization=acme)
    VoiceSampleFactory(voice=voice)
    client.force_login(staff(owner))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{ADMIN}/{voice.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Voice.objects.filter(pk=voice.pk).exists()
    assert stored_files(media_root) == []


def test_it_edits_descriptive_fields_only(client, owner, acme):
    voice = VoiceFactory(organization=acme, name="Old")
    client.force_login(staff(owner))

    client.post(
        f"{ADMIN}/{voice.pk}/change/",
        {
            "name": "New",
            "description": "Better",
            "labels": '{"accent": "scottish"}',
            "sample_sentence": "Hello again.",
            "status": "failed",  # read-only: ignored
            "samples-TOTAL_FORMS": "0",
            "samples-INITIAL_FORMS": "0",
            "previews-TOTAL_FORMS": "0",
            "previews-INITIAL_FORMS": "0",
        },
    )

    voice.refresh_from_db()
    assert (voice.name, voice.description, voice.labels, voice.status) == (
        "New",
        "Better",
        {"accent": "scottish"},
        "ready",
    )


def test_it_refuses_null_characters_in_labels_as_a_form_error(client, owner, acme):
    voice = VoiceFactory(organization=acme, name="Old", labels={"accent": "scottish"})
    client.force_login(staff(owner))

    response = client.post(
        f"{ADMIN}/{voice.pk}/change/",
        {
            "name": "New",
            "description": "",
            "labels": '{"accent": "a\\u0000b"}',
            "sample_sentence": "Hello again.",
            "samples-TOTAL_FORMS": "0",
            "samples-INITIAL_FORMS": "0",
            "previews-TOTAL_FORMS": "0",
            "previews-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "Null characters are not allowed." in response.content.decode()
    voice.refresh_from_db()
    assert (voice.name, voice.labels) == ("Old", {"accent": "scottish"})


# --- Preview with custom text on the voice page --------------------------------------------


def test_the_voice_page_offers_a_preview_box_with_the_sample_sentence(client, owner, acme):
    voice = VoiceFactory(organization=acme, sample_sentence="Hello from Acme.")
    client.force_login(staff(owner))

    content = client.get(f"{ADMIN}/{voice.pk}/change/").content.decode()

    assert 'data-testid="voice-preview"' in content
    assert f'data-url="{ADMIN}/{voice.pk}/preview/"' in content
    assert ">Hello from Acme.</textarea>" in content
    assert "anvil/voice_preview.js" in content
    # The bulk action stays.
    assert "generate_preview" in client.get(ADMIN + "/").content.decode()


def test_it_speaks_custom_text_and_answers_with_audio_to_play(client, owner, acme):
    voice = VoiceFactory(organization=acme)
    client.force_login(staff(owner))

    response = client.post(f"{ADMIN}/{voice.pk}/preview/", {"text": "  Is Tuesday good?  "})
    again = client.post(f"{ADMIN}/{voice.pk}/preview/", {"text": "Is Tuesday good?"})

    data = response.json()
    preview = VoicePreview.objects.get()
    assert response.status_code == 200
    assert (data["previewId"], data["text"], data["created"]) == (
        preview.pk,
        "Is Tuesday good?",
        True,
    )
    assert data["url"] == f"{ADMIN}/{voice.pk}/previews/{preview.pk}/audio/"
    assert data["durationSeconds"] > 0
    assert (again.json()["previewId"], again.json()["created"]) == (preview.pk, False)
    audio = client.get(data["url"])
    assert (audio.status_code, audio["Content-Type"]) == (200, "audio/mpeg")


def test_a_preview_that_cannot_be_made_says_why_in_plain_words(client, owner, acme):
    voice = VoiceFactory(organization=acme)
    busy = VoiceFactory(organization=acme, status=VoiceStatus.PROCESSING)
    client.force_login(staff(owner))

    empty = client.post(f"{ADMIN}/{voice.pk}/preview/", {"text": "   "})
    long = client.post(f"{ADMIN}/{voice.pk}/preview/", {"text": "a" * 501})
    not_ready = client.post(f"{ADMIN}/{busy.pk}/preview/", {"text": "Hi"})

    assert (empty.status_code, empty.json()) == (400, {"error": "There is no text to speak."})
    assert long.json() == {"error": "The text to speak is 501 characters; at most 500."}
    assert not_ready.json()["error"].startswith("This voice is still processing")
    assert client.get(f"{ADMIN}/{voice.pk}/preview/").status_code == 405
    assert VoicePreview.objects.count() == 0


def test_previews_are_for_writers_of_the_voices_organization(client, viewer, outsider, acme):
    voice = VoiceFactory(organization=acme)

    client.force_login(staff(viewer))
    as_viewer = client.post(f"{ADMIN}/{voice.pk}/preview/", {"text": "Hi"})
    client.force_login(staff(outsider))
    as_outsider = client.post(f"{ADMIN}/{voice.pk}/preview/", {"text": "Hi"})

    assert (as_viewer.status_code, as_outsider.status_code) == (403, 404)
    assert VoicePreview.objects.count() == 0
