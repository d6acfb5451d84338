"""Speech for voices: stored MP3 previews for people, raw mu-law for live calls.

Both go through the VoiceProvider protocol (local Piper or ElevenLabs) and need a ready voice.
A preview is synthesised once per (voice, text) and kept in storage; phone audio is returned,
never stored.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from anvil_voice.errors import (
    VALIDATION_MESSAGE,
    ApplicationError,
    InvalidState,
    ServiceUnavailable,
)
from anvil_voice.speech.audio import AudioRejected, probe_audio
from anvil_voice.speech.local import LOCAL_PROVIDER_NAME
from anvil_voice.speech.protocols import OutputFormat, ProviderError, VoiceProvider
from anvil_voice.speech.registry import get_voice_provider
from voices import conf, storage
from voices.models import Voice, VoicePreview, VoiceStatus
from voices.selectors import preview_find, preview_text_sha256, script_opening_line_for_preview

PREVIEW_FORMAT: OutputFormat = "mp3_44100_128"


def _require_ready(voice: Voice, *, purpose: str) -> None:
    if voice.status == VoiceStatus.PROCESSING:
        raise InvalidState(f"This voice is still processing; {purpose} need a ready voice.")
    if voice.status == VoiceStatus.FAILED:
        raise InvalidState(
            f"This voice failed to clone ({voice.failure_reason or 'no reason given'}); "
            f"{purpose} need a ready voice. Retry the clone or upload new samples."
        )


def _speaking_provider(voice: Voice) -> VoiceProvider:
    """Who speaks for `voice`: local voices always locally; cloud voices through whatever this
    deployment is configured with, so switching a deployment to local speech keeps its voices
    audible (the local provider speaks any voice id with its built-in voice)."""
    if voice.provider == LOCAL_PROVIDER_NAME:
        return get_voice_provider(LOCAL_PROVIDER_NAME)
    return get_voice_provider()


@dataclass(frozen=True)
class PreviewResult:
    preview: VoicePreview
    created: bool


def voice_preview(
    *, voice: Voice, text: str | None = None, script_id: int | None = None
) -> PreviewResult:
    """An MP3 of `text`, or of a script's opening line for a sample contact, or (neither
    given) of the voice's sample sentence. Each distinct text is synthesised once."""
    _require_ready(voice, purpose="previews")
    text = _preview_text(voice=voice, text=text, script_id=script_id)
    if existing := preview_find(voice=voice, text=text):
        return PreviewResult(preview=existing, created=False)

    provider = _speaking_provider(voice)
    try:
        mp3 = provider.synthesize(
            provider_voice_id=voice.provider_voice_id, text=text, output_format=PREVIEW_FORMAT
        )
        info = probe_audio(io.BytesIO(mp3), claimed_name="preview.mp3")
    except ProviderError as error:
        raise _speech_unavailable(error.message) from error
    except AudioRejected as rejected:
        detail = f"it answered with unplayable audio: {rejected.message}"
        raise _speech_unavailable(detail) from rejected

    key = storage.preview_key(folder=voice.storage_folder)
    key = storage.store(key=key, content=ContentFile(mp3))
    try:
        with transaction.atomic():
            preview = VoicePreview.objects.create(
                voice=voice,
                text=text,
                text_sha256=preview_text_sha256(text),
                file=key,
                duration_seconds=info.duration_seconds,
                size_bytes=len(mp3),
            )
    except IntegrityError:
        # A concurrent request stored the same text first: keep theirs, drop ours.
        storage.delete_quietly([key])
        if existing := preview_find(voice=voice, text=text):
            return PreviewResult(preview=existing, created=False)
        raise
    except BaseException:
        storage.delete_quietly([key])
        raise
    return PreviewResult(preview=preview, created=True)


def _preview_text(*, voice: Voice, text: str | None, script_id: int | None) -> str:
    if text is not None and script_id is not None:
        raise ApplicationError(
            VALIDATION_MESSAGE, details={"scriptId": ["Give either text or scriptId, not both."]}
        )
    field, limit = "text", conf.PREVIEW_TEXT_MAX_CHARS
    if script_id is not None:
        field, limit = "scriptId", conf.PREVIEW_SCRIPT_TEXT_MAX_CHARS
        text = script_opening_line_for_preview(organization=voice.organization, script_id=script_id)
        if text is None:
            raise ApplicationError(VALIDATION_MESSAGE, details={"scriptId": ["No such script."]})
    text = (voice.sample_sentence if text is None else text).strip()
    if not text:
        raise ApplicationError(VALIDATION_MESSAGE, details={field: ["There is no text to speak."]})
    if len(text) > limit:
        raise ApplicationError(
            VALIDATION_MESSAGE,
            details={field: [f"The text to speak is {len(text)} characters; at most {limit}."]},
        )
    return text


def _speech_unavailable(detail: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"The speech provider could not synthesise the preview: {detail}")


def voice_synthesize_ulaw(*, voice: Voice, text: str) -> bytes:
    """Phone audio for a live call: raw 8 kHz mu-law, no header (what Twilio streams carry).

    Raises InvalidState for a voice that is not ready; ProviderError is left to the caller (the
    call pipeline decides whether to retry, fall back or hang up).
    """
    _require_ready(voice, purpose="calls")
    return _speaking_provider(voice).synthesize(
        provider_voice_id=voice.provider_voice_id, text=text, output_format="ulaw_8000"
    )
