"""Factories for voices (tests and seeding); sub-factories keep one organization per graph."""

from __future__ import annotations

import math
import struct

import factory
from django.core.files.base import ContentFile

from anvil_voice.accounts.factories import OrganizationFactory
from anvil_voice.speech.codec import pcm16_to_wav
from voices import storage
from voices.models import Voice, VoiceSample, VoiceStatus


def tone_wav(seconds: float = 1.0, rate: int = 8000, freq: float = 440.0) -> bytes:
    count = int(seconds * rate)
    pcm = struct.pack(
        f"<{count}h", *(int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(count))
    )
    return pcm16_to_wav(pcm, rate)


class VoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Voice

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Voice {n}")
    provider = "local"
    provider_voice_id = "local:joe"
    status = VoiceStatus.READY
    is_clone = False
    provider_note = "local provider: speaks with the built-in voice 'joe'; not a clone"
    # Short, so previews in tests cost little synthesis.
    sample_sentence = "Hello, this is a test voice."


class VoiceSampleFactory(factory.django.DjangoModelFactory):
    """A sample with a real one-second WAV stored under the voice's folder."""

    class Meta:
        model = VoiceSample

    voice = factory.SubFactory(VoiceFactory)
    original_name = "sample.wav"
    format = "wav"
    duration_seconds = 1.0
    sample_rate = 8000
    channels = 1
    size_bytes = factory.LazyAttribute(lambda sample: len(tone_wav()))
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    file = factory.LazyAttribute(
        lambda sample: storage.store(
            key=storage.sample_key(folder=sample.voice.storage_folder, audio_format="wav"),
            content=ContentFile(tone_wav()),
        )
    )
