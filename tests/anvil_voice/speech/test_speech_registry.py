"""Providers are chosen by settings.SPEECH_PROVIDER, never by patching."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from anvil_voice.speech.batch import BatchRecognizer
from anvil_voice.speech.deepgram import DeepgramRecognizer
from anvil_voice.speech.elevenlabs import ElevenLabsVoiceProvider
from anvil_voice.speech.local import LocalVoiceProvider, get_local_stt
from anvil_voice.speech.registry import get_streaming_stt, get_stt, get_voice_provider


def test_it_uses_the_local_provider_by_default(settings):
    settings.SPEECH_PROVIDER = "local"

    assert isinstance(get_voice_provider(), LocalVoiceProvider)
    assert get_stt() is get_local_stt()


def test_it_uses_elevenlabs_for_cloud_with_the_configured_credentials(settings, fake):
    settings.SPEECH_PROVIDER = "cloud"
    settings.ELEVENLABS_API_KEY = "xi-from-settings"
    settings.ELEVENLABS_BASE_URL = fake.base_url

    provider = get_voice_provider()
    provider.delete_voice(provider_voice_id="v1")

    assert isinstance(provider, ElevenLabsVoiceProvider)
    assert provider.name == "elevenlabs"
    [seen] = fake.requests
    assert (seen.method, seen.raw_path) == ("DELETE", "/v1/voices/v1")
    assert seen.headers["xi-api-key"] == "xi-from-settings"
    # One adapter (one connection pool) per credentials, not one per call.
    assert get_voice_provider() is provider


def test_it_lets_a_caller_name_the_provider(settings):
    settings.SPEECH_PROVIDER = "cloud"

    assert isinstance(get_voice_provider("local"), LocalVoiceProvider)


def test_utterances_are_always_transcribed_locally(settings):
    settings.SPEECH_PROVIDER = "cloud"

    assert get_stt() is get_local_stt()


def test_calls_stream_to_deepgram_on_cloud_with_a_key_and_to_whisper_otherwise(settings):
    settings.SPEECH_PROVIDER = "cloud"
    settings.DEEPGRAM_API_KEY = "dg-test"
    assert isinstance(get_streaming_stt(), DeepgramRecognizer)

    settings.DEEPGRAM_API_KEY = ""
    assert isinstance(get_streaming_stt(), BatchRecognizer)
    settings.SPEECH_PROVIDER = "local"
    settings.DEEPGRAM_API_KEY = "dg-test"
    recognizer = get_streaming_stt()
    assert isinstance(recognizer, BatchRecognizer)
    assert recognizer.name == get_local_stt().name


def test_it_refuses_an_unknown_provider():
    with pytest.raises(ImproperlyConfigured):
        get_voice_provider("acme")
    with pytest.raises(ImproperlyConfigured):
        get_stt("acme")
    with pytest.raises(ImproperlyConfigured):
        get_streaming_stt("acme")
