"""Neural turn detection: Silero VAD + Smart Turn v3.2, on ONNX Runtime, no torch.

Both models ship inside the locked `pipecat-ai` wheel (``pipecat/audio/vad/data/
silero_vad.onnx``, ``pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx``) and are
read from there: never downloaded. One ONNX Runtime session per model per process
(`turn_models()`), shared by every call: `InferenceSession.run` may be called from several
threads at once. Silero runs on one thread (it runs inline on the call's event loop every 32 ms,
on 288 samples: a thread pool costs more to wake than the model takes). Smart Turn runs off the
loop on the shared inference executor with `inference.model_threads()` intra-op threads, like
Whisper and Piper, so workers times threads never exceeds the cores (`speech.onnx_session`).

* Silero VAD takes 8 kHz natively (chunks of 256 samples = 32 ms, with 32 samples of context
  carried over): the phone's mu-law is decoded to float and fed as it is, no resampling. Its
  recurrent state is per stream, so it lives in each call's `NeuralTurnDetector`.
* Smart Turn v3.2 (a Whisper-encoder classifier) wants 16 kHz: the turn's audio is decoded,
  resampled 8 → 16 kHz, cut to its last 8 s (left-padded with zeros when shorter) and turned
  into 80 log-mel bins (pipecat's numpy port of Whisper's feature extractor). It answers the
  probability that the turn is complete. About 3.5 ms of features and 35 ms of inference per
  decision on one thread, so it runs at every short pause, inline.

Endpointing: an utterance opens after `start_ms` of Silero speech; at `pause_ms` of silence
Smart Turn is asked whether the turn is complete: yes → the turn ends there; no → it ends only
after `max_pause_ms` of silence (or when speech resumes, it simply goes on). Barge-in over the
agent follows `turn_detection.BargeInPolicy`.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

from anvil_voice.process_singleton import ProcessSingleton
from anvil_voice.speech.codec import ULAW_FRAME_BYTES, resample_pcm16, ulaw_to_pcm16
from anvil_voice.speech.inference import model_threads
from anvil_voice.speech.onnx_session import cpu_session
from sessions.pipeline.turn_detection import (
    BargeIn,
    BargeInState,
    NeuralTurnConfig,
    TurnCheck,
    TurnEvent,
)
from sessions.pipeline.vad import (
    FRAME_MS,
    SpeechEnded,
    SpeechStarted,
    UtteranceEndReason,
    utterance_ended,
)

SILERO_RATE = 8000
SILERO_CHUNK = 256  # samples per inference at 8 kHz (32 ms)
SILERO_CONTEXT = 32
SMART_TURN_RATE = 16000
SMART_TURN_SECONDS = 8

_SILERO_PATH = ("audio", "vad", "data", "silero_vad.onnx")
_SMART_TURN_PATH = ("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")


def _ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((codes & 0x0F) << 3) + 0x84) << ((codes & 0x70) >> 4)
    linear = np.where(codes & 0x80, 0x84 - magnitude, magnitude - 0x84)
    return (linear / 32768.0).astype(np.float32)


_ULAW_FLOAT = _ulaw_table()


def ulaw_to_float(ulaw: bytes) -> np.ndarray:
    return _ULAW_FLOAT[np.frombuffer(ulaw, dtype=np.uint8)]


def _model_path(parts: tuple[str, ...]) -> Path:
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pipecat-ai is not installed: the turn models ship inside it")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise RuntimeError(f"turn model missing from the pipecat-ai wheel: {path}")
    return path


@dataclass(frozen=True, slots=True)
class TurnModels:
    silero: ort.InferenceSession
    smart_turn: ort.InferenceSession

    def smart_turn_probability(self, ulaw: bytes) -> float:
        """Probability that the turn in `ulaw` (8 kHz mu-law, ending now) is complete."""
        pcm = resample_pcm16(ulaw_to_pcm16(ulaw), SILERO_RATE, SMART_TURN_RATE)
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        size = SMART_TURN_SECONDS * SMART_TURN_RATE
        if len(audio) > size:
            audio = audio[-size:]
        elif len(audio) < size:
            audio = np.pad(audio, (size - len(audio), 0))
        features = compute_whisper_log_mel_features(audio, do_normalize=True)
        outputs = self.smart_turn.run(None, {"input_features": features[np.newaxis]})
        return float(np.asarray(outputs[0]).reshape(-1)[0])


_models = ProcessSingleton(
    lambda: TurnModels(
        silero=cpu_session(_model_path(_SILERO_PATH), threads=1),
        smart_turn=cpu_session(_model_path(_SMART_TURN_PATH), threads=model_threads()),
    )
)


def turn_models() -> TurnModels:
    """The process's one pair of sessions, loaded on first use (about 0.3 s)."""
    return _models.get()


class SileroStream:
    """Silero's per-stream state over a shared session: 20 ms frames in, speech probability."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, SILERO_CONTEXT), dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._sr = np.array(SILERO_RATE, dtype=np.int64)
        self.probability = 0.0

    def feed(self, frame: bytes) -> float:
        """The latest speech probability after this frame (updated every 32 ms)."""
        self._pending = np.concatenate((self._pending, ulaw_to_float(frame)))
        while len(self._pending) >= SILERO_CHUNK:
            chunk = self._pending[:SILERO_CHUNK][np.newaxis]
            self._pending = self._pending[SILERO_CHUNK:]
            x = np.concatenate((self._context, chunk), axis=1)
            out, state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
            self._state = np.asarray(state, dtype=np.float32)
            self._context = x[:, -SILERO_CONTEXT:]
            self.probability = float(np.asarray(out).reshape(-1)[0])
        return self.probability


class NeuralTurnDetector:
    """One per call: Silero state, the current utterance, the barge-in decision."""

    def __init__(
        self,
        config: NeuralTurnConfig | None = None,
        models: TurnModels | None = None,
        *,
        inline: bool = True,
    ) -> None:
        self.config = config or NeuralTurnConfig()
        c = self.config
        self.models = models or turn_models()
        self._silero = SileroStream(self.models.silero)
        self._start_frames = max(1, c.start_ms // FRAME_MS)
        self._window: deque[bool] = deque(maxlen=self._start_frames + 2)
        self._pre_roll: deque[bytes] = deque(maxlen=max(1, c.pre_roll_ms // FRAME_MS))
        self._utterance = bytearray()
        self._barge = BargeInState(c.barge_in)
        self.frames = 0
        self._in_speech = False
        self._last_frame_speech = False
        self._start_frame = 0
        self._last_speech_frame = 0
        self._speech_frames = 0
        self._silence_run = 0
        self._asked = False
        # What Smart Turn said at each pause (probability), for tests and the benchmark.
        self.decisions: list[float] = []
        # True: Smart Turn runs inside `process` (tests, benchmarks). False: `process` returns
        # a `TurnCheck` and the caller answers it with `resolve` (the live pipeline, which
        # must not hold its event loop for the ~35-100 ms a decision costs).
        self.inline = inline
        self._check_serial = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def last_frame_speech(self) -> bool:
        return self._last_frame_speech

    def process(self, frame: bytes, *, agent_speaking: bool) -> list[TurnEvent]:
        if len(frame) != ULAW_FRAME_BYTES:
            raise ValueError("the turn detector takes 160-byte (20 ms) mu-law frames")
        self.frames += 1
        c = self.config
        probability = self._silero.feed(frame)
        threshold = c.continue_threshold if self._in_speech else c.speech_threshold
        speech = probability >= threshold
        self._last_frame_speech = speech
        if self._in_speech:
            return self._continue(frame, speech, agent_speaking)
        self._window.append(speech)
        self._pre_roll.append(frame)
        if not (speech and sum(self._window) >= self._start_frames):
            return []
        self._in_speech = True
        lead = list(self._window).index(True)
        self._start_frame = self.frames - len(self._window) + lead + 1
        self._speech_frames = sum(self._window)
        self._last_speech_frame = self.frames
        self._silence_run = 0
        self._asked = False
        self._barge.reset()
        self._utterance = bytearray(b"".join(self._pre_roll))
        self._pre_roll.clear()
        self._window.clear()
        events: list[TurnEvent] = [SpeechStarted(start_ms=(self._start_frame - 1) * FRAME_MS)]
        barge = self._check_barge_in(agent_speaking)
        if barge is not None:
            events.append(barge)
        return events

    def heard_words(self, text: str, *, agent_speaking: bool) -> BargeIn | None:
        if not self._in_speech:
            return None
        self._barge.words = text
        return self._check_barge_in(agent_speaking)

    def _check_barge_in(self, agent_speaking: bool) -> BargeIn | None:
        # Asked on speech frames only: the utterance has gone on this long and is still going
        # (a backchannel is over before; "wait, stop, I ..." has pauses but goes on).
        return self._barge.check(
            speech_ms=(self.frames - self._start_frame + 1) * FRAME_MS,
            now_ms=self.frames * FRAME_MS,
            agent_speaking=agent_speaking,
        )

    def _continue(self, frame: bytes, speech: bool, agent_speaking: bool) -> list[TurnEvent]:
        c = self.config
        self._utterance += frame
        events: list[TurnEvent] = []
        if speech:
            self._last_speech_frame = self.frames
            self._speech_frames += 1
            self._silence_run = 0
            self._asked = False
            barge = self._check_barge_in(agent_speaking)
            if barge is not None:
                events.append(barge)
        else:
            self._silence_run += 1
        silence_ms = self._silence_run * FRAME_MS
        if silence_ms >= c.pause_ms and not self._asked:
            self._asked = True
            self._check_serial += 1
            check = TurnCheck(
                serial=self._check_serial,
                audio=bytes(self._utterance),
                start_ms=(self._start_frame - 1) * FRAME_MS,
                end_ms=self._last_speech_frame * FRAME_MS,
            )
            if not self.inline:
                events.append(check)  # the caller runs it off the event loop, then `resolve`s
            else:
                ended = self.resolve(check, self.models.smart_turn_probability(check.audio))
                if ended is not None:
                    events.append(ended)
                    return events
        if silence_ms >= c.max_pause_ms:
            events.append(self._end("silence"))
        elif (self.frames - self._start_frame + 1) * FRAME_MS >= c.max_utterance_ms:
            events.append(self._end("max_length"))
        return events

    def resolve(self, check: TurnCheck, probability: float) -> SpeechEnded | None:
        """Smart Turn's answer to `check`: the turn ends now if it is complete and the caller
        has not spoken since the question was asked."""
        self.decisions.append(probability)
        current = self._in_speech and self._asked and check.serial == self._check_serial
        if current and probability >= self.config.complete_threshold:
            return self._end("silence")
        return None

    def flush(self) -> SpeechEnded | None:
        return self._end("stream_end") if self._in_speech else None

    def _end(self, reason: UtteranceEndReason) -> SpeechEnded:
        event = utterance_ended(
            self._utterance,
            start_frame=self._start_frame,
            last_speech_frame=self._last_speech_frame,
            frames=self.frames,
            tail_frames=self.config.tail_ms // FRAME_MS,
            reason=reason,
        )
        self._in_speech = False
        self._utterance = bytearray()
        self._silence_run = 0
        self._speech_frames = 0
        self._barge.reset()
        return event

    turn_model = True

    @property
    def words_so_far(self) -> str | None:
        return self._barge.words if self._in_speech else None

    def decide(self, check: TurnCheck) -> float:
        return self.models.smart_turn_probability(check.audio)
