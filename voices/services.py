"""Writes for voices: clone (and retry), update, delete, demo seed; previews and phone audio
are in `voices.speech` (re-exported here).

Files are side effects a database rollback cannot undo, so they follow one rule: store them
outside any transaction, then commit the rows in one short transaction, and delete what was
stored if that commit does not happen. Provider calls run in Celery tasks after commit, or (for
a preview) before the preview row is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from functools import partial
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.errors import Conflict, InvalidState
from anvil_voice.speech.local import LOCAL_PROVIDER_NAME, LOCAL_VOICE_ID
from anvil_voice.speech.protocols import ProviderError, SampleInput
from anvil_voice.speech.registry import get_voice_provider
from anvil_voice.state_machine import transition
from voices import storage
from voices.models import (
    DEFAULT_SAMPLE_SENTENCE,
    VOICE_STATES,
    Voice,
    VoiceEvent,
    VoiceSample,
    VoiceStatus,
)
from voices.samples import samples_check
from voices.selectors import voice_in_active_use, voice_stored_names
from voices.speech import PreviewResult, voice_preview, voice_synthesize_ulaw
from voices.tasks import voice_clone_task, voice_provider_forget_task

__all__ = [
    "PreviewResult",
    "voice_clone",
    "voice_clone_retry",
    "voice_clone_run",
    "voice_delete",
    "voice_preview",
    "voice_provider_forget",
    "voice_seed_demo",
    "voice_synthesize_ulaw",
    "voice_update",
]

logger = logging.getLogger(__name__)

DEMO_VOICE_NAME = "Joe (built-in demo voice)"


# --- State machine --------------------------------------------------------------------------


def _voice_transition(
    *, voice: Voice, from_status: str, to_status: str, reason: str = "", **fields: Any
) -> bool:
    """Apply one allowed transition with a conditional update; False if the row moved on.

    The `status=from_status` filter (and `transition`'s own filter on the states allowed to
    reach `to_status`) makes concurrent writers (a redelivered task, a delete, an admin retry)
    safe without a lock: exactly one of them changes the row, and only it writes the
    `VoiceEvent`. A move the map does not allow raises `TransitionNotAllowed` (a ValueError).
    """
    VOICE_STATES.check(from_status, to_status)
    now = timezone.now()
    with transaction.atomic():
        moved = transition(
            Voice.objects.filter(pk=voice.pk, status=from_status),
            machine=VOICE_STATES,
            to=to_status,
            updates={"updated_at": now, **fields},
            audit=lambda _moved: VoiceEvent.objects.create(
                voice_id=voice.pk,
                from_status=from_status,
                to_status=to_status,
                reason=reason[:500],
                created_at=now,
            ),
        )
    if moved != 1:
        return False
    for name, value in {"status": to_status, "updated_at": now, **fields}.items():
        setattr(voice, name, value)
    logger.info("voices.status voice=%s from=%s to=%s", voice.pk, from_status, to_status)
    return True


# --- Clone ------------------------------------------------------------------------------------


def voice_clone(
    *,
    organization: Organization,
    name: str,
    uploads: Sequence[File],
    description: str = "",
    labels: Mapping[str, str] | None = None,
    sample_sentence: str | None = None,
) -> Voice:
    """Check every sample, store them, create the voice `processing` and queue the clone.

    Raises ApplicationError (VALIDATION_ERROR naming each bad file) before anything is stored. The
    returned voice is re-read after commit: `ready` or `failed` if the task already ran.
    """
    checked = samples_check(uploads=uploads)
    voice = Voice(
        organization=organization,
        name=name,
        description=description,
        labels=dict(labels or {}),
        provider=get_voice_provider().name,
        status=VoiceStatus.PROCESSING,
        sample_sentence=sample_sentence or DEFAULT_SAMPLE_SENTENCE,
    )
    stored: list[str] = []
    try:
        rows = []
        for sample in checked:
            info = sample.info
            key = storage.sample_key(folder=voice.storage_folder, audio_format=info.format)
            stored.append(storage.store(key=key, content=sample.upload))
            rows.append(
                VoiceSample(
                    file=stored[-1],
                    original_name=sample.display_name,
                    format=info.format,
                    duration_seconds=info.duration_seconds,
                    sample_rate=info.sample_rate,
                    channels=info.channels,
                    size_bytes=info.size_bytes,
                    sha256=info.sha256,
                )
            )
        # Durable: this must be the outermost transaction, because the files above are only
        # cleaned up if *this* commit fails; an enclosing transaction could still roll back
        # after we return and leave them orphaned.
        with transaction.atomic(durable=True):
            voice.save()
            for row in rows:
                row.voice = voice
            VoiceSample.objects.bulk_create(rows)
            VoiceEvent.objects.create(
                voice=voice, to_status=VoiceStatus.PROCESSING, reason=f"{len(rows)} samples"
            )
    except BaseException:
        storage.delete_quietly(stored)
        raise
    # The durable block above has committed: queue the clone now (the on_commit moment), and
    # outside the cleanup above, so nothing can delete the files of committed rows.
    _enqueue_clone(voice.pk)
    logger.info(
        "voices.clone_requested organization=%s voice=%s samples=%d seconds=%.1f",
        organization.pk,
        voice.pk,
        len(checked),
        sum(sample.info.duration_seconds for sample in checked),
    )
    voice.refresh_from_db()
    return voice


def _enqueue_clone(voice_id: int) -> None:
    try:
        voice_clone_task.delay(voice_id)
    except Exception:
        # The rows are committed; a broker outage must not leave the voice `processing` for
        # ever. Failing it makes the problem visible and the clone retryable.
        logger.exception("voices.clone_enqueue_failed voice=%s", voice_id)
        voice = Voice.objects.filter(pk=voice_id).first()
        if voice is not None:
            reason = "Cloning could not be started; retry the clone."
            _voice_transition(
                voice=voice,
                from_status=VoiceStatus.PROCESSING,
                to_status=VoiceStatus.FAILED,
                reason=reason,
                failure_reason=reason,
            )


def voice_clone_run(*, voice_id: int, final_attempt: bool = True) -> None:
    """The clone task's body: send the stored samples to the provider, record the outcome.

    Idempotent: a voice that is gone or no longer `processing` is left alone. A retryable
    provider error is re-raised (the task tries again) unless this is the final attempt.
    """
    voice = Voice.objects.filter(pk=voice_id).first()
    if voice is None or voice.status != VoiceStatus.PROCESSING:
        return
    provider = get_voice_provider(voice.provider)
    samples = list(voice.samples.order_by("id"))
    try:
        with ExitStack() as stack:
            inputs = [
                SampleInput(
                    name=sample.original_name,
                    file=stack.enter_context(storage.open_stored(str(sample.file.name))),
                )
                for sample in samples
            ]
            result = provider.clone_voice(
                name=voice.name,
                description=voice.description,
                labels={str(key): str(value) for key, value in voice.labels.items()},
                samples=inputs,
            )
    except ProviderError as error:
        if error.retryable and not final_attempt:
            raise
        _fail_clone(voice, error.message)
        return
    except OSError as error:
        logger.exception("voices.clone_samples_unreadable voice=%s", voice.pk)
        _fail_clone(voice, f"The stored samples could not be read ({type(error).__name__}).")
        return

    moved = _voice_transition(
        voice=voice,
        from_status=VoiceStatus.PROCESSING,
        to_status=VoiceStatus.READY,
        reason=result.note,
        provider=result.provider,
        provider_voice_id=result.provider_voice_id,
        is_clone=result.is_clone,
        provider_note=result.note[:300],
        failure_reason="",
    )
    if not moved:
        # Deleted (or finished by a duplicate delivery) while the provider was cloning: the
        # clone we just made belongs to no row, so it must not stay at the provider.
        logger.info("voices.clone_orphaned voice=%s", voice_id)
        provider.delete_voice(provider_voice_id=result.provider_voice_id)


def _fail_clone(voice: Voice, reason: str) -> None:
    _voice_transition(
        voice=voice,
        from_status=VoiceStatus.PROCESSING,
        to_status=VoiceStatus.FAILED,
        reason=reason,
        failure_reason=reason[:500],
    )


def voice_clone_retry(*, voice: Voice) -> Voice:
    """Send a failed voice's stored samples to the provider again."""
    if voice.status != VoiceStatus.FAILED:
        raise InvalidState(f"Only a failed clone can be retried; this voice is {voice.status}.")
    with transaction.atomic():
        moved = _voice_transition(
            voice=voice,
            from_status=VoiceStatus.FAILED,
            to_status=VoiceStatus.PROCESSING,
            reason="retry",
            failure_reason="",
        )
        if not moved:
            raise InvalidState("This voice changed meanwhile; reload it and try again.")
        transaction.on_commit(partial(_enqueue_clone, voice.pk))
    voice.refresh_from_db()
    return voice


# --- Update and delete --------------------------------------------------------------------


def voice_update(
    *,
    voice: Voice,
    name: str,
    description: str,
    labels: Mapping[str, str],
    sample_sentence: str,
) -> Voice:
    """Descriptive fields only; status and provider fields change through transitions."""
    voice.name = name
    voice.description = description
    voice.labels = dict(labels)
    voice.sample_sentence = sample_sentence
    voice.save(update_fields=["name", "description", "labels", "sample_sentence", "updated_at"])
    return voice


def voice_delete(*, voice: Voice) -> Voice:
    """Delete the row now; after commit, its files and the provider's copy of the voice.

    Returns `voice` as it was, for the response.
    """
    if voice_in_active_use(voice=voice):
        raise _in_use()
    with transaction.atomic():
        locked = Voice.objects.select_for_update().filter(pk=voice.pk).first()
        if locked is None:
            return voice  # deleted meanwhile: the caller's wish is already true
        if voice_in_active_use(voice=locked):
            raise _in_use()  # a campaign started between the check above and the lock
        names = voice_stored_names(voice=locked)
        try:
            locked.delete()
        except (ProtectedError, RestrictedError) as error:
            raise Conflict(
                "This voice is still referenced by campaigns; remove it from them first."
            ) from error
        transaction.on_commit(
            partial(_after_voice_deleted, names, locked.provider, locked.provider_voice_id)
        )
    logger.info("voices.deleted voice=%s files=%d", voice.pk, len(names))
    return voice


def _in_use() -> Conflict:
    return Conflict(
        "This voice is used by a running or paused campaign; stop the campaign or switch it "
        "to another voice first."
    )


def _after_voice_deleted(names: list[str], provider_name: str, provider_voice_id: str) -> None:
    storage.delete_quietly(names)
    if not provider_voice_id:
        return  # never reached the provider (still processing, or failed)
    try:
        voice_provider_forget_task.delay(provider_name, provider_voice_id)
    except Exception:
        logger.exception(
            "voices.provider_forget_enqueue_failed provider=%s voice_id=%s",
            provider_name,
            provider_voice_id,
        )


def voice_provider_forget(*, provider_name: str, provider_voice_id: str) -> None:
    """Delete a voice at its provider (already gone counts as done)."""
    get_voice_provider(provider_name).delete_voice(provider_voice_id=provider_voice_id)


# --- Demo -------------------------------------------------------------------------------------


def voice_seed_demo(organization: Organization) -> Voice:
    """One ready voice speaking with the built-in local voice; safe to call any number of times.

    Positional as well as keyword, because `seed_demo` calls it that way.
    """
    note = "local provider: speaks with the built-in voice 'joe'; not a clone"
    voice, created = Voice.objects.get_or_create(
        organization=organization,
        name=DEMO_VOICE_NAME,
        provider=LOCAL_PROVIDER_NAME,
        defaults={
            "description": "The built-in local voice, ready for demo campaigns.",
            "labels": {"language": "en", "accent": "american", "gender": "male"},
            "provider_voice_id": LOCAL_VOICE_ID,
            "status": VoiceStatus.READY,
            "is_clone": False,
            "provider_note": note,
        },
    )
    if created:
        VoiceEvent.objects.create(voice=voice, to_status=VoiceStatus.READY, reason="demo seed")
    return voice
