"""Celery tasks for voices: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import Task, shared_task

from anvil_voice.speech.protocols import ProviderError

MAX_RETRIES = 3


def _backoff_seconds(retries: int) -> int:
    return 10 * 2**retries  # 10 s, 20 s, 40 s


def _is_final_attempt(task: Task) -> bool:
    return int(task.request.retries or 0) >= MAX_RETRIES


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def voice_clone_task(self: Task, voice_id: int) -> None:
    from voices import services

    # Redelivery and duplicates are harmless: the service only acts on a `processing` voice
    # and records the outcome with a conditional update.
    try:
        services.voice_clone_run(voice_id=voice_id, final_attempt=_is_final_attempt(self))
    except ProviderError as error:  # only retryable errors get here
        raise self.retry(exc=error, countdown=_backoff_seconds(self.request.retries)) from error


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def voice_provider_forget_task(self: Task, provider_name: str, provider_voice_id: str) -> None:
    from voices import services

    # Deleting a voice the provider no longer knows is success, so repeating this is safe.
    try:
        services.voice_provider_forget(
            provider_name=provider_name, provider_voice_id=provider_voice_id
        )
    except ProviderError as error:
        if not error.retryable or _is_final_attempt(self):
            raise
        raise self.retry(exc=error, countdown=_backoff_seconds(self.request.retries)) from error
