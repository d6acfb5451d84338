"""Anvil Voice: AI phone-call campaigns."""

from anvil_voice.celery import app as celery_app

__all__ = ["celery_app"]
