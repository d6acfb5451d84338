"""What a live call is built from: the configured agent, recogniser and voice."""

from __future__ import annotations

import dataclasses

import pytest

from anvil_voice.speech.batch import BatchRecognizer
from anvil_voice.speech.cache import CachingVoiceProvider, process_cache
from anvil_voice.speech.deepgram import DeepgramRecognizer
from anvil_voice.speech.local import LocalVoiceProvider
from scripts.engine import LLMAgent, ScriptedAgent
from sessions.live.consumer import build_agent, build_recognizer, build_voice, pipeline_config
from sessions.live.conversation import CallSetup

SETUP = CallSetup(
    session_id=1,
    organization_id=1,
    campaign_id=None,
    script={"opening_line": "Hi {{first_name|there}}.", "closing_line": "Bye."},
    variables={"first_name": "Ivy"},
    time_zone="America/New_York",
    voice_provider="local",
    voice_id="local:joe",
)


def test_the_embedded_default_is_scripted_whisper_and_piper(settings):
    settings.SPEECH_PROVIDER = "local"
    settings.AGENT_PROVIDER = "scripted"

    agent = build_agent(SETUP)
    voice, fallback = build_voice(SETUP)

    assert isinstance(agent, ScriptedAgent)
    assert agent.context.timezone == "America/New_York"
    assert isinstance(build_recognizer(), BatchRecognizer)
    # Behind the process's TTS cache (anvil_voice.speech.cache).
    assert isinstance(voice, CachingVoiceProvider)
    assert isinstance(voice.inner, LocalVoiceProvider)
    assert voice.cache is process_cache()
    assert fallback is None


def test_cloud_settings_give_the_llm_deepgram_and_the_cloned_voice_with_a_local_fallback(settings):
    settings.SPEECH_PROVIDER = "cloud"
    settings.AGENT_PROVIDER = "llm"
    settings.LLM_API_KEY = "sk-test"
    settings.DEEPGRAM_API_KEY = "dg-test"
    settings.ELEVENLABS_API_KEY = "el-test"
    cloned = dataclasses.replace(SETUP, voice_provider="elevenlabs", voice_id="v1")

    voice, fallback = build_voice(cloned)

    assert isinstance(build_agent(cloned), LLMAgent)
    assert isinstance(build_recognizer(), DeepgramRecognizer)
    assert voice.name == "elevenlabs"
    assert isinstance(fallback, CachingVoiceProvider)
    assert isinstance(fallback.inner, LocalVoiceProvider)


@pytest.mark.parametrize("key", ["", None])
def test_the_llm_without_a_key_falls_back_to_the_scripted_agent(settings, key):
    settings.AGENT_PROVIDER = "llm"
    settings.LLM_API_KEY = key or ""

    assert isinstance(build_agent(SETUP), ScriptedAgent)


def test_the_limits_come_from_settings(settings):
    settings.CALL_MAX_DURATION_SECONDS = 120
    settings.CALL_TTS_TIMEOUT_SECONDS = 7
    settings.CALL_HANGUP_GRACE_SECONDS = 3

    config = pipeline_config()

    assert (config.max_call_ms, config.tts_first_audio_timeout) == (120_000, 7.0)
    assert config.hangup_grace == 3.0


def test_the_phone_menu_target_comes_from_the_script():
    script = {**SETUP.script, "ivr_target": " accounts ", "ivr_timeout_seconds": 45}

    config = pipeline_config(dataclasses.replace(SETUP, script=script))

    assert (config.ivr_target, config.ivr_timeout_ms) == ("accounts", 45_000)
    # No target (or a snapshot from before targets existed): no menu handling.
    assert pipeline_config(SETUP).ivr_target is None


def test_the_keypad_entry_comes_from_the_script():
    from scripts.engine import KeypadEntry

    entry = {"name": "zip_code", "max_digits": 5, "end_key": "#", "timeout_seconds": 2}
    script = {**SETUP.script, "keypad_entry": entry}

    config = pipeline_config(dataclasses.replace(SETUP, script=script))

    assert config.keypad_entry == KeypadEntry("zip_code", 5, "#", 2.0, "")
    assert pipeline_config(SETUP).keypad_entry is None
