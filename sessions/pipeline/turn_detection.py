"""Turn detection: when the caller starts, when they have finished, and when they cut in.

`TurnDetector` is what `CallPipeline` asks, one 20 ms mu-law frame at a time; two
implementations, chosen by `PipelineConfig.turn_detection`:

* ``"energy"`` (`EnergyTurnDetector`): the energy endpointer (`vad.Endpointer`) with a fixed
  silence to end a turn; any speech start over the agent is a barge-in. The baseline.
* ``"neural"`` (`sessions.pipeline.neural_turn.NeuralTurnDetector`): Silero VAD for speech,
  Smart Turn v3.2 to decide at a short pause whether the turn is complete, and a barge-in
  policy that ignores backchannels and noise.

The barge-in policy (`BargeInPolicy`), while the agent is audible:

* the utterance must have gone on for `barge_in_min_speech_ms` and still be speech — a click,
  a cough or a one-word backchannel is over before that;
* words the recogniser has already given for the utterance (a streaming recogniser's interim,
  `Interim`) decide earlier or later: backchannel words only ("uh-huh", "right", "okay",
  "yeah", "mm-hmm", … `BACKCHANNEL_WORDS`) hold the barge-in until the speech has lasted
  `barge_in_backchannel_max_ms` (someone who keeps talking after "okay" is interrupting);
  any other word cuts in at once, from `barge_in_words_min_ms` of speech.

A batch recogniser (local Whisper) gives no words before the utterance ends, so with it the
duration alone decides; the words then still decide whether the caller's speech becomes the
agent's next input (`is_backchannel`, used by the pipeline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from sessions.pipeline.vad import Endpointer, SpeechEnded, SpeechStarted, VadConfig

# Words a listener says to keep the speaker going. Matching is on the whole utterance: every
# word must be one of these (so "okay, but how much is it" is not a backchannel).
BACKCHANNEL_WORDS = frozenset(
    [
        "uh-huh",
        "uh",
        "huh",
        "uhhuh",
        "mm-hmm",
        "mmhmm",
        "mm",
        "hmm",
        "mhm",
        "hm",
        "um",
        "ah",
        "oh",
        "right",
        "okay",
        "ok",
        "yeah",
        "yep",
        "yup",
        "sure",
        "alright",
    ]
)
# Two-word backchannels, taken out before the words are checked.
_BACKCHANNEL_PHRASES = ("i see", "got it", "all right")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def is_backchannel(text: str) -> bool:
    """True when `text` has words and all of them are a listener's "go on" noises."""
    lowered = text.lower()
    if not _WORD.search(lowered):
        return False
    for phrase in _BACKCHANNEL_PHRASES:
        lowered = lowered.replace(phrase, " ")
    return all(word in BACKCHANNEL_WORDS for word in _WORD.findall(lowered))


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The caller is really talking over the agent: stop it (``clear``)."""

    at_ms: int  # stream time of the decision
    speech_ms: int  # speech heard in the utterance so far
    reason: str  # "speech" (duration), "words" (recognised words), "vad" (baseline)


@dataclass(frozen=True, slots=True)
class TurnCheck:
    """At a pause: ask the end-of-turn model about `audio` (the turn so far) off the event
    loop, then hand its probability to the detector's `resolve`."""

    serial: int
    audio: bytes
    # The utterance's start and its last speech frame so far (stream ms): with `audio` it is
    # an `Utterance` a recogniser can transcribe speculatively, and the key that lets the
    # utterance's end reuse that transcript when no speech came after the pause.
    start_ms: int = 0
    end_ms: int = 0


TurnEvent = SpeechStarted | SpeechEnded | BargeIn | TurnCheck


class TurnDetector(Protocol):
    """One per call. `process` every inbound frame; `heard_words` for recogniser interims."""

    @property
    def in_speech(self) -> bool:
        """The caller is inside an utterance (a turn not yet ended)."""

    @property
    def last_frame_speech(self) -> bool:
        """The last frame processed was speech."""

    def process(self, frame: bytes, *, agent_speaking: bool) -> list[TurnEvent]:
        """Events for this 20 ms mu-law frame, in order. `agent_speaking`: agent audio is
        playing and may be cut (barge-in is decided only then)."""

    def heard_words(self, text: str, *, agent_speaking: bool) -> BargeIn | None:
        """A recogniser's interim text for the current utterance."""

    @property
    def turn_model(self) -> bool:
        """`decide` runs a model (call it off the event loop); False: it is free, answers 1."""

    @property
    def words_so_far(self) -> str | None:
        """The recogniser's latest interim words for the utterance in progress, if any."""

    def decide(self, check: TurnCheck) -> float:
        """Run the end-of-turn model (blocking: call it in a worker thread)."""

    def resolve(self, check: TurnCheck, probability: float) -> SpeechEnded | None:
        """The model's answer: the turn's end, when it is complete and still current."""

    def flush(self) -> SpeechEnded | None:
        """The stream ended: close the utterance in progress, if any (what it holds was said)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BargeInPolicy:
    barge_in_min_speech_ms: int = 600
    barge_in_words_min_ms: int = 120
    barge_in_backchannel_max_ms: int = 1200


@dataclass(frozen=True, slots=True, kw_only=True)
class NeuralTurnConfig:
    """The neural detector's knobs (`neural_turn`; here so configuring it loads no model code)."""

    speech_threshold: float = 0.5  # Silero probability that opens speech
    # Once in speech, frames stay speech down to this (hysteresis: word endings are soft).
    continue_threshold: float = 0.35
    start_ms: int = 60  # speech within a short window that opens an utterance
    pause_ms: int = 250  # silence after which Smart Turn is asked
    max_pause_ms: int = 2000  # silence that ends the turn whatever Smart Turn said
    complete_threshold: float = 0.5  # Smart Turn probability meaning "the turn is complete"
    max_utterance_ms: int = 15_000
    pre_roll_ms: int = 200
    tail_ms: int = 200
    barge_in: BargeInPolicy = field(default_factory=BargeInPolicy)


class BargeInState:
    """Per utterance: has the policy fired, what words were heard."""

    def __init__(self, policy: BargeInPolicy) -> None:
        self.policy = policy
        self.reset()

    def reset(self) -> None:
        self.fired = False
        self.words: str | None = None

    def check(self, *, speech_ms: int, now_ms: int, agent_speaking: bool) -> BargeIn | None:
        if self.fired or not agent_speaking:
            return None
        p = self.policy
        reason = ""
        if self.words is not None and is_backchannel(self.words):
            if speech_ms >= p.barge_in_backchannel_max_ms:
                reason = "speech"
        elif self.words is not None and self.words.strip():
            if speech_ms >= p.barge_in_words_min_ms:
                reason = "words"
        elif speech_ms >= p.barge_in_min_speech_ms:
            reason = "speech"
        if not reason:
            return None
        self.fired = True
        return BargeIn(at_ms=now_ms, speech_ms=speech_ms, reason=reason)


class EndpointerTurnDetector:
    """What a detector built on the energy `Endpointer` reports straight from it."""

    endpointer: Endpointer

    @property
    def frames(self) -> int:
        return self.endpointer.frames

    @property
    def in_speech(self) -> bool:
        return self.endpointer.in_speech

    @property
    def last_frame_speech(self) -> bool:
        return self.endpointer.last_frame_speech

    def flush(self) -> SpeechEnded | None:
        return self.endpointer.flush()


class EnergyTurnDetector(EndpointerTurnDetector):
    """The baseline: energy endpointer, fixed silence, barge-in at any speech start."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.endpointer = Endpointer(config)

    def process(self, frame: bytes, *, agent_speaking: bool) -> list[TurnEvent]:
        event = self.endpointer.process(frame)
        if event is None:
            return []
        if isinstance(event, SpeechStarted):
            now_ms = self.endpointer.frames * 20
            return [event, BargeIn(at_ms=now_ms, speech_ms=now_ms - event.start_ms, reason="vad")]
        return [event]

    def heard_words(self, text: str, *, agent_speaking: bool) -> BargeIn | None:
        # The baseline cuts in on any interim, as it always did.
        now_ms = self.endpointer.frames * 20
        return BargeIn(at_ms=now_ms, speech_ms=0, reason="interim")

    turn_model = False
    words_so_far = None

    def decide(self, check: TurnCheck) -> float:
        return 1.0  # never asked: the fixed silence decides

    def resolve(self, check: TurnCheck, probability: float) -> SpeechEnded | None:
        return None
