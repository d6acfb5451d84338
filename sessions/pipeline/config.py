"""Every knob of the per-call pipeline, with the defaults a live call uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from scripts.engine.types import ENGLISH_PHRASES, OPT_OUT_DIGIT, AgentPhrases, KeypadEntry
from sessions.pipeline.semantic_turn import SemanticTurnConfig
from sessions.pipeline.turn_detection import NeuralTurnConfig
from sessions.pipeline.vad import VadConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    # "semantic": the energy endpointer for speech, the words so far (speculative
    # recognition at a pause) for the end of a turn, the backchannel-aware barge-in policy
    # (`semantic_turn`); "neural": Silero VAD + Smart Turn v3.2 + the same policy
    # (`neural_turn`); "energy": the energy endpointer with a fixed silence, barge-in at any
    # speech start (the old behaviour, the measured baseline, `vad`). See docs/decisions.md.
    turn_detection: Literal["semantic", "neural", "energy"] = "semantic"
    vad: VadConfig = field(default_factory=VadConfig)  # the "energy" detector
    neural: NeuralTurnConfig = field(default_factory=NeuralTurnConfig)
    semantic: SemanticTurnConfig = field(default_factory=SemanticTurnConfig)
    # People answer with "Hello?": the opening waits for it to end, or this long for it to
    # start. 0 speaks at once.
    greeting_timeout_ms: int = 1500
    # No caller speech this long after the agent stopped talking → agent.reply(None).
    silence_timeout_ms: int = 6000
    # Stream time after which the agent says `phrases.max_turns_close` and hangs up.
    max_call_ms: int = 600_000
    # A key press that means "stop calling me"; None disables it.
    opt_out_digit: str | None = OPT_OUT_DIGIT
    # Caller speech over agent audio stops the agent (VAD start, or a recogniser interim).
    barge_in: bool = True
    # The script's opening and closing lines may be marked as not interruptible (a required
    # disclosure): no barge-in while they play; the caller's words are still recognised.
    opening_interruptible: bool = True
    closing_interruptible: bool = False
    # Recording consent: a disclosure said right after the opening line, never interruptible
    # by speech; the pipeline reports when the carrier confirmed it played in full (its last
    # mark came back) through `CallPipeline(on_disclosure=...)`. None: nothing to disclose.
    recording_disclosure: str | None = None
    # A number the script asks the caller to type (`KeypadEntry`): keys are collected until
    # its end key, its length or its pause, and reach the agent as one turn. A lone key that
    # then pauses (or is followed by the end key) is a single key press, as without an entry:
    # "press 1" prompts and the opt-out key keep working. None: every key acts at once.
    keypad_entry: KeypadEntry | None = None
    # Phone menus (issue 16 item 3): where to get to when a menu answers ("a person",
    # "accounts"). Set, the opening waits until a person answers: menu options are matched to
    # it and the key pressed, holds are waited through; after `ivr_timeout_ms` of stream time
    # without a person the call ends as `ivr_unresolved`. None: no menu handling (a call
    # answered by a menu is talked to as a person, as before).
    ivr_target: str | None = None
    ivr_timeout_ms: int = 120_000
    # With a target, how long the first words may take before the opening is said to a
    # silent line (instead of `greeting_timeout_ms`): menus often start after a second or two
    # of silence or a ring-back, and an opening said to a menu never walks it.
    ivr_first_words_ms: int = 4000
    # Audio kept queued at Twilio: refill up to `lead` once under `low_water`. A server or
    # network stall shorter than the queue is not heard; with 200 ms, a ~0.8 s stall on a
    # loaded box left a gap the caller took for the end of the agent's turn. Barge-in does not
    # get slower: `clear` drops Twilio's buffer, and marks still say what was heard.
    playback_lead_ms: int = 1000
    playback_low_water_ms: int = 800
    tts_first_audio_timeout: float = 5.0  # seconds (wall clock) for a sentence's first audio
    tts_stall_timeout: float = 3.0  # seconds between chunks once audio flows
    # After the last audio should have played, how long to wait for Twilio's mark echo.
    mark_grace_ms: int = 3000
    # Non-fatal recognition failures in a row before the agent gives up politely.
    max_stt_failures: int = 2
    phrases: AgentPhrases = ENGLISH_PHRASES
    stt_retry_line: str = "Sorry, I didn't catch that. Could you say that again?"
    # Estimating how much of a cut-off sentence was heard when its audio was not all made.
    partial_ms_per_char: float = 65.0
    # When the call ends under the caller (`stop`, the socket closing), how long (seconds, wall
    # clock) recognition already under way and the last utterance's final get, and the agent
    # to decide on them (an opt-out, a callback: nothing is said). What is still unrecognised
    # then is kept as an unheard turn.
    hangup_grace: float = 4.0
    # On close, how long the sink gets to store what is left.
    sink_drain_timeout: float = 5.0

    def fixed_lines(self) -> list[str]:
        """What the pipeline itself may say (each whole, through `speaking.say`), most likely
        first: worth synthesising before a call needs them."""
        phrases = self.phrases
        # The disclosure is said on every call that has one, right after the opening.
        disclosure = [self.recording_disclosure] if self.recording_disclosure else []
        return [
            *disclosure,
            self.stt_retry_line,
            phrases.trouble,
            phrases.opt_out_confirmation,
            phrases.max_turns_close,
        ]
