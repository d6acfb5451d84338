"""What the pipeline reports: transcript turns, events, the end-of-call result, and the sink.

All of it is plain data with `as_dict()` so the consumer can persist and broadcast it without
knowing the pipeline. `Turn` has exactly the fields of `sessions.models.TranscriptTurn`.

Offsets (`start_ms`, `end_ms`, `at_ms`) are stream time: milliseconds of inbound audio since
the stream's `start`, the same clock as Twilio's `media.timestamp`. Latency figures are wall
clock milliseconds (the pipeline's `Clock`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from scripts.engine.types import AgentAction, EngineEvent, Outcome


class Speaker(StrEnum):
    AGENT = "agent"
    CONTACT = "contact"


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One transcript turn, emitted once it is over (an agent turn: once heard or cut off).

    ``latency`` (ms, all measured from ``since``; missing keys did not happen):

    contact turn: ``{"since": "speech_end", "stt_final_ms"}``
    agent turn:   ``{"since": ..., "stt_final_ms", "agent_first_token_ms",
                  "tts_first_audio_ms", "first_frame_ms"}`` where ``since`` is
                  ``"speech_end"`` (a reply: the caller's last speech frame),
                  ``"greeting_end"`` (the opening after "Hello?"), ``"start"`` (the opening
                  when nobody spoke first) or ``"trigger"`` (silence, DTMF, limits, fallbacks).
                  Reply turns also carry ``"endpoint_ms"`` when the local endpointer closed
                  the utterance (batch STT).

    ``recognized`` is False for caller speech the recogniser failed on or did not answer for in
    time (``text`` is empty): the caller said something nobody heard, and the transcript says so.
    ``index`` is the order turns were finished in; list them by ``start_ms`` (speakers overlap).
    """

    index: int
    speaker: Speaker
    text: str
    start_ms: int
    end_ms: int
    interrupted: bool = False
    latency: dict[str, Any] = field(default_factory=dict)
    recognized: bool = True
    # Keys, not words: the caller pressed them (a contact turn, text "[pressed 1]") or the
    # agent did (an agent turn, text "[pressed 1w2#]"). Empty for speech.
    keypad: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["speaker"] = self.speaker.value
        return data


class PipelineEventKind(StrEnum):
    STARTED = "started"  # {stream_sid}
    SPEECH_STARTED = "speech_started"  # {}
    SPEECH_ENDED = "speech_ended"  # {start_ms, end_ms, reason}
    TRANSCRIPT_EMPTY = "transcript_empty"  # {}: the recogniser heard no words
    # {utterances}: recognition did not answer within the hang-up grace (unheard turns kept)
    RECOGNITION_CUT = "recognition_cut"
    # {text}: words finalised after the caller hung up, given to the agent (nothing said)
    HEARD_AFTER_END = "heard_after_end"
    BARGE_IN = "barge_in"  # {source: vad|interim|speech|words|dtmf|machine, turn}
    # Caller words over an agent line that went on (a backchannel, or a line that may not be
    # interrupted): in the transcript, but not an answer.  {text}
    BACKCHANNEL = "backchannel"
    DTMF = "dtmf"  # {digit, answered}: answered when the agent acts on the key
    DIGITS_SENT = "digits_sent"  # {digits, duration_ms}: the agent pressed keys (in-band tones)
    OPT_OUT = "opt_out"  # {digit}
    # {digits, ended_by: end_key|length|pause|hang_up}: a number the caller typed (one turn)
    KEYPAD_ENTRY = "keypad_entry"
    SILENCE_TIMEOUT = "silence_timeout"  # {silent_ms}
    MAX_DURATION = "max_duration"  # {limit_ms}
    STT_ERROR = "stt_error"  # {code, message, fatal}
    TTS_ERROR = "tts_error"  # {code, message, provider}
    AGENT_ERROR = "agent_error"  # {code, message}
    MARK_TIMEOUT = "mark_timeout"  # {mark}: Twilio never echoed it; we moved on
    # The script's recording disclosure (said right after the opening, not interruptible):
    # Twilio echoed the mark after its last audio (played in full), or never did.  {mark, turn}
    DISCLOSURE_PLAYED = "disclosure_played"
    DISCLOSURE_UNCONFIRMED = "disclosure_unconfirmed"
    # Phone menus (`scripts.engine.ivr`, the script's IVR target): the path taken.
    IVR_MENU = "ivr_menu"  # {level, options: [[digit, label], ...]}: options heard
    IVR_PRESSED = "ivr_pressed"  # {level, digit, label, score}: the option chosen
    IVR_HOLD = "ivr_hold"  # {text}: a recording (welcome, please hold)
    IVR_PERSON = "ivr_person"  # {text, pressed, menu_heard}: a person answered; script starts
    IVR_GAVE_UP = "ivr_gave_up"  # {reason: timeout|no_option, pressed}
    HANG_UP = "hang_up"  # {reason}
    HANG_UP_FAILED = "hang_up_failed"  # {message}
    STOPPED = "stopped"  # {reason}


ERROR_KINDS = frozenset(
    {
        PipelineEventKind.STT_ERROR,
        PipelineEventKind.TTS_ERROR,
        PipelineEventKind.AGENT_ERROR,
        PipelineEventKind.HANG_UP_FAILED,
    }
)


@dataclass(frozen=True, slots=True)
class PipelineEvent:
    kind: PipelineEventKind
    at_ms: int
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "at_ms": self.at_ms, **self.data}


class CallEndReason(StrEnum):
    AGENT_ENDED = "agent_ended"  # the agent said goodbye (its own reason: agent_end_reason)
    OPTED_OUT_DTMF = "opted_out_dtmf"
    VOICEMAIL_LEFT = "voicemail_left"  # a machine answered; we left the script's message
    MAX_DURATION = "max_duration"
    STT_FAILED = "stt_failed"
    TTS_FAILED = "tts_failed"
    AGENT_ERROR = "agent_error"
    IVR_UNRESOLVED = "ivr_unresolved"  # a phone menu never led to a person
    STREAM_STOPPED = "stream_stopped"  # Twilio sent `stop`: the caller or carrier hung up
    DISCONNECTED = "disconnected"  # the websocket went away without a `stop`


@dataclass(slots=True)
class PipelineStats:
    frames_in: int = 0
    malformed_frames: int = 0  # bad base64 or not 160 bytes: counted and skipped
    messages_before_start: int = 0  # media/mark/dtmf before `start`: ignored
    frames_out: int = 0
    marks_sent: int = 0
    marks_echoed: int = 0
    barge_ins: int = 0
    dtmf_digits: str = ""
    malformed_dtmf: int = 0  # a `dtmf` digit that is not one key: counted and skipped
    digits_sent: str = ""


@dataclass(slots=True, kw_only=True)
class PipelineResult:
    end_reason: CallEndReason
    # Outcome for the session: DTMF opt-out → do_not_call; else the agent's; None when the
    # call ended before the agent decided (caller hung up): the consumer classifies.
    outcome: Outcome | None
    agent_end_reason: str | None  # EndCall.reason when the agent ended the call
    # The agent's actions, plus a MarkDoNotCall/EndCall the pipeline added (DTMF opt-out,
    # limits, provider failures). Apply after commit: do-not-call, schedule callback.
    actions: list[AgentAction]
    turns: list[Turn]
    events: list[PipelineEvent]
    engine_events: list[EngineEvent]
    hung_up: bool  # we asked the carrier to hang up (vs. the caller/Twilio ending it)
    # Callee's first speech end ("Hello?") → our first audio frame; None if they never spoke
    # before the opening.
    abandonment_ms: float | None
    duration_ms: int
    stats: PipelineStats
    # Who answered, as the pipeline heard it: "ivr" when menu options were heard (then
    # `ivr_pressed` is the keys pressed), "" otherwise (a person, or unknown).
    answered_by: str = ""
    ivr_pressed: str = ""

    @property
    def errors(self) -> list[PipelineEvent]:
        return [event for event in self.events if event.kind in ERROR_KINDS]

    def as_dict(self) -> dict[str, Any]:
        return {
            "end_reason": self.end_reason.value,
            "outcome": self.outcome.value if self.outcome else None,
            "agent_end_reason": self.agent_end_reason,
            "actions": [action.as_dict() for action in self.actions],
            "turns": [turn.as_dict() for turn in self.turns],
            "events": [event.as_dict() for event in self.events],
            "engine_events": [event.as_dict() for event in self.engine_events],
            "hung_up": self.hung_up,
            "abandonment_ms": self.abandonment_ms,
            "duration_ms": self.duration_ms,
            "stats": asdict(self.stats),
            "answered_by": self.answered_by,
            "ivr_pressed": self.ivr_pressed,
        }


class PipelineSink(Protocol):
    """Where turns, events and the result go (the consumer: database + channel layer).

    Called from one task, in order, never concurrently; a slow sink delays only later sink
    calls, never audio. An exception is logged and the call goes on. ``on_end`` is called
    exactly once, last.
    """

    async def on_turn(self, turn: Turn) -> None: ...

    async def on_event(self, event: PipelineEvent) -> None: ...

    async def on_end(self, result: PipelineResult) -> None: ...


class MemorySink:
    """Keeps everything in lists: for tests, the benchmark and quick scripts."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.events: list[PipelineEvent] = []
        self.results: list[PipelineResult] = []

    async def on_turn(self, turn: Turn) -> None:
        self.turns.append(turn)

    async def on_event(self, event: PipelineEvent) -> None:
        self.events.append(event)

    async def on_end(self, result: PipelineResult) -> None:
        self.results.append(result)
