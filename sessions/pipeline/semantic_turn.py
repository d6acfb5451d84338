"""The default turn detection: energy VAD for speech, the caller's words for the end of a turn.

`SemanticTurnDetector` uses the energy endpointer (`vad.Endpointer`) to hear speech, and ends a
turn on what was said rather than on a fixed silence:

* at `pause_ms` of silence inside an utterance it asks (`TurnCheck`) — the pipeline recognises
  the utterance so far speculatively (a batch recogniser such as local Whisper) or takes a
  streaming recogniser's latest interim, and judges the words (`turn_completion`);
* words that sound finished end the turn as soon as they are known (and `min_end_silence_ms`
  has passed); the speculative transcript then *is* the final, so recognition costs nothing
  more at the end of the turn: the reply starts about `pause_ms` + one recognition after the
  caller's last word, where a fixed 600 ms silence came before the recognition even started;
* words that clearly go on ("my number is five five five …", "and", "um") wait: the turn
  ends only if the caller stays silent for `max_pause_ms` (the endpointer's own silence);
* speech resuming before the answer makes the question stale (`serial`): a pause shorter than
  one recognition is never an end of turn.

Barge-in over the agent follows `BargeInPolicy` (the same policy as the neural detector): a
backchannel or a cough is over before `barge_in_min_speech_ms`; interim words, when a streaming
recogniser gives them, decide earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sessions.pipeline.turn_detection import (
    BargeIn,
    BargeInPolicy,
    BargeInState,
    EndpointerTurnDetector,
    TurnCheck,
    TurnEvent,
    is_backchannel,
)
from sessions.pipeline.vad import Endpointer, SpeechEnded, SpeechStarted, VadConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class SemanticTurnConfig:
    # The endpointer's silence is the cap: a turn whose words go on ends after this much.
    vad: VadConfig = field(default_factory=lambda: VadConfig(end_silence_ms=1500))
    # Silence after which the words so far are judged. Gaps between words (Piper's and most
    # callers' stay under ~350 ms) cost a speculative recognition now and then, never a wrong
    # end: the turn cannot end before `min_end_silence_ms`, and speech resuming makes the
    # answer stale. 200 rather than 300 ms: the reply comes ~100 ms sooner (the end-to-end
    # benchmark, docs/benchmarks.md).
    pause_ms: int = 200
    # Never end a turn on less silence than this, however fast the words came back.
    min_end_silence_ms: int = 400
    barge_in: BargeInPolicy = field(default_factory=BargeInPolicy)


class SemanticTurnDetector(EndpointerTurnDetector):
    """One per call: the endpointer, the pending question, the barge-in decision."""

    turn_model = False  # the judgement is on words, made by the pipeline: `decide` is free

    def __init__(self, config: SemanticTurnConfig | None = None) -> None:
        self.config = config or SemanticTurnConfig()
        self.endpointer = Endpointer(self.config.vad)
        self._barge = BargeInState(self.config.barge_in)
        self._serial = 0
        self._asked = False
        # The serial whose words sounded finished before `min_end_silence_ms` had passed.
        self._finished_serial: int | None = None

    @property
    def words_so_far(self) -> str | None:
        return self._barge.words if self.endpointer.in_speech else None

    def process(self, frame: bytes, *, agent_speaking: bool) -> list[TurnEvent]:
        ep = self.endpointer
        was_in_speech = ep.in_speech
        event = ep.process(frame)
        events: list[TurnEvent] = []
        if isinstance(event, SpeechStarted):
            self._new_utterance()
            events.append(event)
        elif isinstance(event, SpeechEnded):
            self._finished_serial = None
            return [event]  # the cap: silence for `max_pause_ms`, or the utterance's length
        if not ep.in_speech:
            return events
        if ep.last_frame_speech:
            if was_in_speech and self._asked:
                self._asked = False  # the caller went on: the pending question is stale
                self._finished_serial = None
            barge = self._barge.check(
                speech_ms=ep.utterance_ms, now_ms=ep.frames * 20, agent_speaking=agent_speaking
            )
            if barge is not None:
                events.append(barge)
            return events
        silence = ep.silence_ms
        if self._finished_serial == self._serial and silence >= self.config.min_end_silence_ms:
            ended = self._end()
            if ended is not None:
                events.append(ended)
            return events
        if silence >= self.config.pause_ms and not self._asked:
            self._asked = True
            self._serial += 1
            events.append(
                TurnCheck(
                    serial=self._serial,
                    audio=ep.audio_so_far(),
                    start_ms=ep.utterance_start_ms,
                    end_ms=ep.last_speech_ms,
                )
            )
        return events

    def heard_words(self, text: str, *, agent_speaking: bool) -> BargeIn | None:
        ep = self.endpointer
        if not ep.in_speech:
            # The recogniser heard words our energy VAD did not (soft speech on a loud agent
            # echo): it is the better judge; words that are not a backchannel cut in.
            if agent_speaking and text.strip() and not is_backchannel(text):
                return BargeIn(at_ms=ep.frames * 20, speech_ms=0, reason="interim")
            return None
        self._barge.words = text
        return self._barge.check(
            speech_ms=ep.utterance_ms, now_ms=ep.frames * 20, agent_speaking=agent_speaking
        )

    def decide(self, check: TurnCheck) -> float:
        return 1.0

    def resolve(self, check: TurnCheck, probability: float) -> SpeechEnded | None:
        """The judgement on `check`'s words (`probability` ≥ 0.5: they sound finished)."""
        current = self.endpointer.in_speech and self._asked and check.serial == self._serial
        if not current or probability < 0.5:
            return None
        if self.endpointer.silence_ms < self.config.min_end_silence_ms:
            self._finished_serial = check.serial  # `process` ends it when the silence is enough
            return None
        return self._end()

    def _new_utterance(self) -> None:
        self._barge.reset()
        self._asked = False
        self._finished_serial = None

    def _end(self) -> SpeechEnded | None:
        self._finished_serial = None
        self._asked = False
        return self.endpointer.end_now()
