"""What the rest of the product may ask of a speech provider, and nothing more.

Adapters (local Piper/Whisper, ElevenLabs, Deepgram) implement these protocols; callers get one
through `anvil_voice.speech.registry` and never import an adapter directly, so the embedded
default and production differ only by configuration.

No Django here, directly or indirectly: the call pipeline (`sessions.pipeline`, a pure core)
imports these types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol, runtime_checkable

OutputFormat = Literal["mp3_44100_128", "ulaw_8000"]
InputEncoding = Literal["ulaw", "pcm16"]


@dataclass(frozen=True)
class SampleInput:
    """One voice sample to upload: its display name and a binary file opened for reading.

    A file object rather than bytes so several minutes of samples stream from storage (local
    disk or S3) into the upload instead of sitting in memory together.
    """

    name: str
    file: BinaryIO


@dataclass(frozen=True)
class CloneResult:
    provider: str
    provider_voice_id: str
    # False when the provider speaks with a stock voice instead of the samples (local provider):
    # the product must say so rather than pretend a clone exists.
    is_clone: bool
    note: str = ""


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float | None = None


class ProviderError(Exception):
    """A provider refused or failed. `code` is stable (for the API envelope and logs);
    `retryable` tells a task whether trying again later can help."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, retryable={self.retryable})"


class ProviderTimeout(ProviderError):
    """The provider did not answer in time; always worth another try."""

    def __init__(self, message: str, *, code: str = "provider_timeout") -> None:
        super().__init__(code, message, retryable=True)


@runtime_checkable
class VoiceProvider(Protocol):
    @property
    def name(self) -> str:
        """Short provider name stored next to a voice ("local", "elevenlabs")."""

    def clone_voice(
        self,
        *,
        name: str,
        description: str,
        labels: Mapping[str, str],
        samples: Sequence[SampleInput],
    ) -> CloneResult: ...

    def delete_voice(self, *, provider_voice_id: str) -> None:
        """Forget a voice at the provider. A voice that is already gone is not an error."""

    def synthesize(
        self, *, provider_voice_id: str, text: str, output_format: OutputFormat
    ) -> bytes:
        """Whole answer: an MP3 file, or raw 8 kHz mu-law with no header."""

    def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        """Raw 8 kHz mu-law chunks as the provider produces them (chunk sizes are arbitrary)."""


@runtime_checkable
class SpeechToText(Protocol):
    """Transcribes one endpointed utterance.

    Streaming recognition (Deepgram's websocket with interim results) is `StreamingRecognizer`:
    a session with its own lifecycle, not a function call.
    """

    @property
    def name(self) -> str: ...

    def transcribe(
        self, *, audio: bytes, encoding: InputEncoding, sample_rate: int
    ) -> Transcript: ...


# --- streaming recognition: one recogniser per call ------------------------------------------
@dataclass(frozen=True, slots=True)
class Interim:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    text: str  # may be empty: the recogniser heard no words
    start_ms: int | None = None  # stream time of the speech, when the recogniser knows it
    end_ms: int | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class RecognizerFailure:
    code: str
    message: str
    fatal: bool = False
    # The utterance that could not be recognised, when the failure is about one (a batch
    # recogniser's timeout): the pipeline keeps it as an unheard turn.
    start_ms: int | None = None
    end_ms: int | None = None


RecognizerEvent = Interim | Final | RecognizerFailure
Emit = Callable[[RecognizerEvent], None]


class Utterance(Protocol):
    """An utterance the caller's endpointer closed (`sessions.pipeline.vad.SpeechEnded`)."""

    @property
    def start_ms(self) -> int: ...

    @property
    def end_ms(self) -> int: ...

    @property
    def audio(self) -> bytes:
        """8 kHz mu-law."""


@runtime_checkable
class SpeculativeRecognizer(Protocol):
    """A recogniser that can transcribe an utterance before it has ended (batch recognisers).

    The pipeline asks at a pause, to judge whether the caller's words sound finished; when
    the utterance then ends with no more speech (the same start and end), its final reuses
    this transcript instead of recognising the audio again."""

    async def speculate(self, utterance: Utterance) -> str | None:
        """The words of `utterance` so far; None when they could not be recognised."""


class StreamingRecognizer(Protocol):
    """Speech recognition for one call: every inbound frame in, `Interim`, `Final` and
    `RecognizerFailure` (``fatal`` when recognition cannot continue for this call) out through
    the `emit` callback given to `start()`."""

    @property
    def name(self) -> str: ...

    async def start(self, emit: Emit) -> None:
        """Connect/prepare; report everything through `emit` from now on. Must not raise:
        a failure to start is reported as a fatal `RecognizerFailure`."""

    def feed(self, frame: bytes) -> None:
        """Every inbound 20 ms mu-law frame, in order. Never blocks."""

    def end_of_utterance(self, utterance: Utterance) -> None:
        """The endpointer closed an utterance (batch recognisers transcribe it)."""

    async def finish(self) -> None:
        """No more audio is coming (the call ended): deliver the results of everything fed so
        far (the final of the last utterance, recognition already under way), then return.
        The caller bounds the wait and calls `aclose()` after it either way."""

    async def aclose(self) -> None:
        """Stop and release everything; no task may outlive this."""
