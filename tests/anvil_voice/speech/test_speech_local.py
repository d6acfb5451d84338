"""The embedded default: Piper speaks, Whisper listens, nothing touches the network."""

from __future__ import annotations

import io
import re
import threading

import pytest

from anvil_voice.speech.audio import frames_20ms, probe_audio, ulaw_to_pcm16
from anvil_voice.speech.local import (
    LOCAL_VOICE_ID,
    LocalVoiceProvider,
    get_local_stt,
    get_local_tts,
)
from anvil_voice.speech.protocols import (
    ProviderError,
    SampleInput,
    SpeechToText,
    VoiceProvider,
)

SENTENCE = "Thanks for taking my call, would you like to hear about our new solar panels?"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_error_rate(reference: list[str], heard: list[str]) -> float:
    """(substitutions + insertions + deletions) / reference words: word-level edit distance."""
    previous = list(range(len(heard) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, word in enumerate(heard, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != word))
            )
        previous = current
    return previous[-1] / len(reference)


def test_the_word_error_rate_counts_edits():
    assert word_error_rate(["new", "solar", "panels"], ["new", "solar", "panels"]) == 0.0
    assert word_error_rate(["new", "solar", "panels"], ["nisolar", "panels"]) == 2 / 3


def test_it_loads_each_model_once_per_process(tts, stt):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(get_local_tts())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(loaded is tts for loaded in seen)
    assert get_local_stt() is stt


def test_it_synthesises_a_decodable_mp3_of_plausible_length(tts):
    mp3 = tts.synthesize_mp3(SENTENCE)

    info = probe_audio(io.BytesIO(mp3), claimed_name="preview.mp3")

    assert info.format == "mp3"
    # 14 words at a conversational 2-3.5 words per second.
    assert 3.0 < info.duration_seconds < 8.0


def test_it_synthesises_headerless_ulaw_that_splits_into_20ms_frames(tts):
    ulaw = tts.synthesize_ulaw8k("Hello there.")

    frames = frames_20ms(ulaw)

    assert not ulaw.startswith(b"RIFF")
    assert 0.5 < len(ulaw) / 8000 < 2.5
    assert frames
    assert {len(frame) for frame in frames} == {160}
    assert b"".join(frames)[: len(ulaw)] == ulaw


def test_it_gets_the_words_back_through_the_phone_codec(tts, stt):
    # Piper -> 8 kHz mu-law (what a call carries) -> Whisper.
    ulaw = tts.synthesize_ulaw8k(SENTENCE)

    transcript = stt.transcribe(audio=ulaw, encoding="ulaw", sample_rate=8000)

    # Piper samples its voice with noise, so the audio (and, rarely, one word of Whisper's
    # reading: "nisolar" for "new solar") differs run to run; a word error rate is what holds.
    assert word_error_rate(words(SENTENCE), words(transcript.text)) <= 0.15
    assert transcript.confidence is not None
    assert 0.0 < transcript.confidence <= 1.0


def test_it_transcribes_pcm16_at_any_rate(tts, stt):
    pcm, rate = tts.synthesize_pcm("Please call me back tomorrow afternoon.")

    transcript = stt.transcribe(audio=pcm, encoding="pcm16", sample_rate=rate)

    assert words(transcript.text) == ["please", "call", "me", "back", "tomorrow", "afternoon"]


def test_it_transcribes_nothing_as_empty_text(stt):
    assert stt.transcribe(audio=b"", encoding="ulaw", sample_rate=8000).text == ""


def test_it_says_plainly_that_the_local_clone_is_not_a_clone(tts):
    provider = LocalVoiceProvider()
    sample = SampleInput(name="me.wav", file=io.BytesIO(b"RIFF...."))

    result = provider.clone_voice(
        name="Dana", description="warm", labels={"accent": "US"}, samples=[sample]
    )

    assert isinstance(provider, VoiceProvider)
    assert result.provider == "local"
    assert result.provider_voice_id == LOCAL_VOICE_ID == "local:joe"
    assert result.is_clone is False
    assert result.note == "local provider: speaks with the built-in voice 'joe'; not a clone"
    provider.delete_voice(provider_voice_id=result.provider_voice_id)  # a no-op, no error


def test_it_refuses_a_local_clone_without_samples():
    with pytest.raises(ProviderError) as caught:
        LocalVoiceProvider().clone_voice(name="Dana", description="", labels={}, samples=[])

    assert caught.value.code == "no_samples"
    assert caught.value.retryable is False


def test_it_synthesises_both_output_formats_through_the_provider(tts):
    provider = LocalVoiceProvider()

    mp3 = provider.synthesize(
        provider_voice_id="local:joe", text="Hi.", output_format="mp3_44100_128"
    )
    ulaw = provider.synthesize(provider_voice_id="local:joe", text="Hi.", output_format="ulaw_8000")

    assert probe_audio(io.BytesIO(mp3), claimed_name="hi.mp3").format == "mp3"
    assert len(ulaw) > 800
    assert not ulaw.startswith(b"RIFF")


async def test_it_streams_ulaw_sentence_by_sentence(tts):
    provider = LocalVoiceProvider()
    text = "First sentence here. And a second one."

    chunks = [
        chunk
        async for chunk in provider.stream_synthesize(provider_voice_id="local:joe", text=text)
    ]

    assert len(chunks) == 2
    assert all(chunk for chunk in chunks)
    # Piper varies phoneme lengths a little from run to run, so compare with a range.
    assert 1.5 < len(ulaw_to_pcm16(b"".join(chunks))) / 2 / 8000 < 5.0


def test_it_satisfies_the_speech_to_text_protocol(stt):
    assert isinstance(stt, SpeechToText)
    assert stt.name == "local-whisper"
