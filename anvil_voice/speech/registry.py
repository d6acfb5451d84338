"""Which speech providers this process uses, from settings.SPEECH_PROVIDER ("local" | "cloud").

Callers ask here and never construct an adapter, so the embedded default, production and tests
differ only by configuration (`override_settings(SPEECH_PROVIDER=...)`), never by patching.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from anvil_voice.speech.protocols import SpeechToText, StreamingRecognizer, VoiceProvider

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
    """Speech-to-text for one endpointed utterance at a time: local Whisper.

    Deepgram (the cloud STT) is a streaming protocol, not a per-utterance one: live calls get it
    from `get_streaming_stt()`. Here every provider transcribes with the local model.
    """
    name = name or settings.SPEECH_PROVIDER
    if name not in _LOCAL | _CLOUD:
        raise ImproperlyConfigured(f"Unknown speech provider {name!r}; use 'local' or 'cloud'.")
    from anvil_voice.speech.local import get_local_stt

    return get_local_stt()


def get_streaming_stt(name: str | None = None) -> StreamingRecognizer:
    """A new recogniser for one call.

    Deepgram's streaming STT for "cloud" when `DEEPGRAM_API_KEY` is set; otherwise local Whisper
    on the pipeline's endpointed utterances (`BatchRecognizer`, timing out after
    `CALL_STT_TIMEOUT_SECONDS`), and "cloud" without a key says so in the log once.
    """
    name = name or settings.SPEECH_PROVIDER
    if name not in _LOCAL | _CLOUD:
        raise ImproperlyConfigured(f"Unknown speech provider {name!r}; use 'local' or 'cloud'.")
    if name in _CLOUD:
        if settings.DEEPGRAM_API_KEY:
            from anvil_voice.speech.deepgram import DeepgramRecognizer, DeepgramStream

            stream = DeepgramStream(api_key=settings.DEEPGRAM_API_KEY, url=settings.DEEPGRAM_URL)
            return DeepgramRecognizer(stream)
        _warn_cloud_stt_fallback()
    from anvil_voice.speech.batch import BatchRecognizer

    return BatchRecognizer(get_stt(name), timeout=float(settings.CALL_STT_TIMEOUT_SECONDS))


@functools.lru_cache(maxsize=4)
def _elevenlabs(api_key: str, base_url: str) -> VoiceProvider:
    # One adapter (and so one HTTP connection pool) per process and credential pair; keyed on
    # the values so a settings override in a test gets its own adapter.
    from anvil_voice.speech.elevenlabs import ElevenLabsVoiceProvider

    return ElevenLabsVoiceProvider(api_key=api_key, base_url=base_url)


@functools.cache
def _warn_cloud_stt_fallback() -> None:
    logger.warning(
        "speech.stt_fallback provider=cloud using=local-whisper reason=no_deepgram_api_key"
    )
