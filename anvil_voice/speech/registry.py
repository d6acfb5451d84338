"""Which speech providers this process uses, from settings.SPEECH_PROVIDER ("local" | "cloud").

Callers ask here and never construct an adapter, so the embedded default, production and tests
differ only by configuration (`override_settings(SPEECH_PROVIDER=...)`), never by patching.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from anvil_voice.speech.protocols import SpeechToText, VoiceProvider

logger = logging.getLogger(__name__)

# "cloud" is the settings value; "elevenlabs" names the adapter itself (handy in scripts).
_LOCAL = {"local"}
_CLOUD = {"cloud", "elevenlabs"}


def get_voice_provider(name: str | None = None) -> VoiceProvider:
    """The voice provider for `name`, or for settings.SPEECH_PROVIDER when omitted."""
    name = name or settings.SPEECH_PROVIDER
    if name in _LOCAL:
        from anvil_voice.speech.local import LocalVoiceProvider

        return LocalVoiceProvider()
    if name in _CLOUD:
        return _elevenlabs(settings.ELEVENLABS_API_KEY, settings.ELEVENLABS_BASE_URL)
    raise ImproperlyConfigured(f"Unknown speech provider {name!r}; use 'local' or 'cloud'.")


def get_stt(name: str | None = None) -> SpeechToText:
    """Speech-to-text for endpointed utterances.

    Cloud streaming STT (Deepgram) is not built yet; until it is, "cloud" transcribes with the
    local Whisper model and says so in the log once, instead of failing every call.
    """
    name = name or settings.SPEECH_PROVIDER
    if name not in _LOCAL | _CLOUD:
        raise ImproperlyConfigured(f"Unknown speech provider {name!r}; use 'local' or 'cloud'.")
    if name in _CLOUD:
        _warn_cloud_stt_fallback()
    from anvil_voice.speech.local import get_local_stt

    return get_local_stt()


@functools.lru_cache(maxsize=4)
def _elevenlabs(api_key: str, base_url: str) -> VoiceProvider:
    # One adapter (and so one HTTP connection pool) per process and credential pair; keyed on
    # the values so a settings override in a test gets its own adapter.
    from anvil_voice.speech.elevenlabs import ElevenLabsVoiceProvider

    return ElevenLabsVoiceProvider(api_key=api_key, base_url=base_url)


@functools.cache
def _warn_cloud_stt_fallback() -> None:
    logger.warning("speech.stt_fallback provider=cloud using=local-whisper reason=not_built")
