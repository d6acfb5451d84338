"""`CallPipeline`: one live call, from Twilio's inbound frames to the agent's outbound frames.

Inbound (the consumer calls these; none blocks, none raises on bad input)::

    start(stream_sid)  feed_media(payload)  on_mark(name)  on_dtmf(digit)  on_stop()
    await close()      # the websocket went away (always call it); returns the result

Outbound keys: ``send_digits("1w2#")`` presses keys on the call (the carrier's way: in-band
tones in the stream for Twilio), after the audio already queued.

Inside, per call: endpointer (VAD) → recogniser → agent → sentence chunks → TTS → paced
frames + marks → ``send``. Barge-in cuts the agent off (``clear``). Turns, events and the
result go to the `PipelineSink` from one task, in order. No ORM, no Django: the consumer adapts.

Timers (greeting wait, silence, max duration, the mark grace) run on stream time and are
checked on every inbound frame: Twilio sends a frame every 20 ms for the whole call, silence
included, so they need no task of their own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from anvil_voice.speech.codec import ULAW_FRAME_BYTES
from anvil_voice.speech.inference import Priority, run_inference
from anvil_voice.speech.protocols import (
    Final,
    Interim,
    RecognizerEvent,
    RecognizerFailure,
    SpeculativeRecognizer,
    StreamingRecognizer,
    VoiceProvider,
)
from anvil_voice.telephony.dtmf import DigitSender, send_digits_in_band, validate_digits
from scripts.engine.agent import Agent, HearsKeys, PromptsKeys, SendsKeys, TakesEntries
from scripts.engine.ivr import GiveUp, IvrNavigator, PersonAnswered, Press
from scripts.engine.types import AgentAction, EndCall, MarkDoNotCall, Outcome
from sessions.pipeline.clock import Clock, LoopClock
from sessions.pipeline.config import PipelineConfig
from sessions.pipeline.pacer import AgentSpeech, Pacer, SpokenChunk
from sessions.pipeline.semantic_turn import SemanticTurnDetector
from sessions.pipeline.speaking import AgentTurn, Outlet, TurnResult, TurnTiming, say
from sessions.pipeline.turn_completion import looks_unfinished
from sessions.pipeline.turn_detection import (
    BargeIn,
    EnergyTurnDetector,
    TurnCheck,
    TurnDetector,
    is_backchannel,
)
from sessions.pipeline.turns import (
    CallEndReason,
    PipelineEvent,
    PipelineEventKind,
    PipelineResult,
    PipelineSink,
    PipelineStats,
    Speaker,
    Turn,
)
from sessions.pipeline.vad import FRAME_MS, SpeechEnded, SpeechStarted

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
HangUp = Callable[[], Awaitable[None]]
# (confirmed, mark): the recording disclosure's turn ended; confirmed when its last mark came
# back from the carrier (played in full), not when its audio was merely sent.
DisclosureHeard = Callable[[bool, str], Coroutine[Any, Any, None]]
Kind = PipelineEventKind
# Keys a phone can send (A-D exist on some keypads and in the DTMF standard).
_PHONE_KEYS = frozenset("0123456789*#ABCD")


class _Phase(Enum):
    WAITING = auto()  # before `start`
    GREETING = auto()  # listening for "Hello?" before the opening
    MENU = auto()  # a phone menu answered: navigating it until a person does (`ivr_target`)
    TALKING = auto()
    ENDING = auto()  # the last words are playing / hanging up
    CLOSING = auto()  # the call is gone: nothing in or out; recognition ends, the agent decides
    ENDED = auto()


@dataclass(slots=True)
class _Heard:
    text: str
    speech_end_at: float  # clock time of the caller's last speech frame
    endpoint_at: float | None  # clock time our endpointer closed the utterance
    final_at: float  # clock time the recogniser's final arrived


@dataclass(slots=True)
class _Pressed:
    digit: str  # a key the agent answers (`HearsKeys.answers_key`)


@dataclass(slots=True)
class _Entered:
    digits: str  # a number the caller typed (`PipelineConfig.keypad_entry`)


@dataclass(slots=True)
class _Typing:
    """Keys of a number being typed, not yet handed over."""

    digits: str
    first_ms: int
    last_ms: int


class _Trigger(Enum):
    VOICEMAIL = auto()
    SILENCE = auto()
    OPT_OUT = auto()
    MAX_DURATION = auto()
    STT_RETRY = auto()
    STT_FATAL = auto()
    IVR_TICK = auto()  # the menu's limit passed, or a partial match has settled


@dataclass(slots=True)
class _Outgoing:
    message: dict[str, Any]
    chunk: SpokenChunk | None = None  # media/mark of an agent turn: dropped on barge-in
    on_sent: Callable[[], None] | None = None


class CallPipeline:
    def __init__(
        self,
        *,
        agent: Agent,
        voice: VoiceProvider,
        voice_id: str,
        recognizer: StreamingRecognizer,
        send: Send,
        hang_up: HangUp,
        sink: PipelineSink,
        config: PipelineConfig | None = None,
        clock: Clock | None = None,
        fallback_voice: VoiceProvider | None = None,
        fallback_voice_id: str | None = None,
        turn_detector: TurnDetector | None = None,
        on_disclosure: DisclosureHeard | None = None,
        send_digits: DigitSender | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self._on_disclosure = on_disclosure
        # The carrier's way to press keys on the call (`Carrier.send_digits`).
        self._digit_sender: DigitSender = send_digits or send_digits_in_band
        self._agent = agent
        if isinstance(agent, SendsKeys):
            # The `send_digits` tool presses keys the way the IVR navigator does.
            agent.bind_digit_sender(self.send_digits)
        self._voice = voice
        self._voice_id = voice_id
        self._fallback_voice = fallback_voice
        self._fallback_voice_id = fallback_voice_id or voice_id
        self._recognizer = recognizer
        self._send = send
        self._hang_up = hang_up
        self._sink = sink
        self.clock: Clock = clock or LoopClock()
        c = self.config
        self._vad: TurnDetector = turn_detector or _build_detector(c)
        self._pacer = Pacer(
            self.clock, lead=c.playback_lead_ms / 1000, low_water=c.playback_low_water_ms / 1000
        )
        self.stats = PipelineStats()
        self.stream_sid = ""
        self._phase = _Phase.WAITING
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._send_broken = False
        self._sink_queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._turns: list[Turn] = []
        self._events: list[PipelineEvent] = []
        # Conversation inputs: caller utterances in order; triggers jump the queue.
        self._heard: deque[_Heard] = deque()
        self._triggers: deque[_Trigger | _Pressed | _Entered] = deque()
        self._typing: _Typing | None = None
        self._wakeup = asyncio.Event()
        self._greeting_done = asyncio.Event()
        self._greeting_end_at: float | None = None
        self._opening_start_ms: int | None = None
        self._first_frame_at: float | None = None
        self._turn_index = 0
        self._turn: AgentTurn | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._agent_heard_until_ms = 0  # stream time the last finished agent turn's audio ended
        self._last_activity_ms = 0
        self._silence_fired = False
        self._max_fired = False
        self._stt_failures = 0
        self._caller_spoke = False
        self._last_speech_at: float | None = None
        self._utterance_ends: deque[tuple[int, float, float]] = deque(maxlen=16)
        # Utterances handed to the recogniser with no answer yet: (start_ms, end_ms).
        self._pending: deque[tuple[int, int]] = deque()
        self._recognition_dead = False
        self._opted_out = False
        self._voicemail: str | None = None
        self._end_reason: CallEndReason | None = None
        self._extra_actions: list[AgentAction] = []
        self._hung_up = False
        self._stopped = False
        self._shutdown: asyncio.Task[PipelineResult] | None = None
        self._ended = asyncio.Event()
        self._result: PipelineResult | None = None
        # Phone menus: the navigator reads what answered until a person does.
        self._ivr: IvrNavigator | None = None
        if self.config.ivr_target:
            self._ivr = IvrNavigator(
                target=self.config.ivr_target, timeout_ms=self.config.ivr_timeout_ms
            )
        self._ivr_reported = 0  # navigator path steps already emitted as events
        self._ivr_tick_queued = False

    # -- inbound ------------------------------------------------------------------------------

    def start(self, stream_sid: str) -> None:
        """Twilio's ``start``: the stream (and stream time) begins."""
        if self._phase is not _Phase.WAITING:
            return
        self.stream_sid = stream_sid
        self._outlet = Outlet(
            stream_sid=stream_sid,
            queue=self._queue,
            emit_event=self._emit_event,
            now_ms=self._now_ms,
            agent_finished=lambda: self._agent.finished,
        )
        self._phase = _Phase.GREETING if self.config.greeting_timeout_ms > 0 else _Phase.TALKING
        if self._phase is _Phase.TALKING:
            self._greeting_done.set()
        self._emit_event(Kind.STARTED, stream_sid=stream_sid)
        self._spawn(self._write(), "pipeline-writer")
        self._spawn(self._drain_sink(), "pipeline-sink")
        self._spawn(self._recognizer.start(self._on_recognizer), "pipeline-stt-start")
        self._spawn(self._converse(), "pipeline-conversation")

    def feed_media(self, payload: str | bytes) -> None:
        """One inbound ``media`` payload: base64 text as Twilio sends it, or decoded bytes."""
        if self._phase is _Phase.WAITING:
            self.stats.messages_before_start += 1
            return
        if self._phase in (_Phase.CLOSING, _Phase.ENDED):
            return
        frame = _decode(payload)
        if frame is None:
            self.stats.malformed_frames += 1
            return
        self.stats.frames_in += 1
        try:
            self._recognizer.feed(frame)
        except Exception:
            logger.exception("pipeline.recognizer_feed_failed")
        events = self._vad.process(frame, agent_speaking=self._agent_audible())
        if self._vad.last_frame_speech:
            self._last_speech_at = self.clock.now()
        for event in events:
            self._on_turn_event(event)
        self._check_timers()

    def _on_turn_event(self, event: SpeechStarted | SpeechEnded | BargeIn | TurnCheck) -> None:
        if isinstance(event, SpeechStarted):
            self._on_speech_started(event)
        elif isinstance(event, SpeechEnded):
            self._on_speech_ended(event)
        elif isinstance(event, BargeIn):
            self._barge_in(event.reason)
        else:
            self._spawn(self._check_turn(event), "pipeline-turn-check")

    async def _check_turn(self, check: TurnCheck) -> None:
        """At a pause: is the caller's turn over? The words so far (recognised speculatively,
        or a streaming recogniser's interim) and the end-of-turn model (if the detector has
        one, off the event loop) judge; both must say "finished" to end the turn now."""
        try:
            words = await self._words_at_pause(check)
            probability = 1.0
            if self._vad.turn_model:
                probability = await run_inference(self._vad.decide, check, priority=Priority.NORMAL)
        except Exception:
            logger.exception("pipeline.turn_check_failed")
            return  # the silence cap still ends the turn
        if self._phase is _Phase.ENDED:
            return
        if words is not None and looks_unfinished(words):
            probability = 0.0
        ended = self._vad.resolve(check, probability)
        if ended is not None:
            self._on_speech_ended(ended)

    async def _words_at_pause(self, check: TurnCheck) -> str | None:
        recognizer = self._recognizer
        if isinstance(recognizer, SpeculativeRecognizer):
            return await recognizer.speculate(check)
        return self._vad.words_so_far

    def _agent_audible(self) -> bool:
        """Agent audio is playing (some was sent, the turn runs and was not cut)."""
        turn, task = self._turn, self._turn_task
        return (
            turn is not None
            and task is not None
            and not task.done()
            and not turn.speech.interrupted
            and turn.speech.frames_sent > 0
        )

    def on_mark(self, name: str) -> None:
        if self._phase is _Phase.WAITING:
            self.stats.messages_before_start += 1
            return
        if self._turn is not None and self._turn.on_mark(name):
            self.stats.marks_echoed += 1
            self._last_activity_ms = self._now_ms()
        # Otherwise: an echo after `clear` (flushed, not played) or of an older turn.

    def on_dtmf(self, digit: str) -> None:
        if self._phase is _Phase.WAITING:
            self.stats.messages_before_start += 1
            return
        if self._phase in (_Phase.CLOSING, _Phase.ENDED):
            return
        if not isinstance(digit, str) or len(digit) != 1 or digit not in _PHONE_KEYS:
            # One key per message is all Twilio sends; anything else goes nowhere near the
            # transcript or the agent.
            self.stats.malformed_dtmf += 1
            return
        self.stats.dtmf_digits += digit
        now_ms = self._now_ms()
        if self.config.keypad_entry is not None:
            self._collect(digit, now_ms)
            return
        self._on_key(digit, now_ms)

    def _collect(self, digit: str, now_ms: int) -> None:
        """A key while the script asks for a number: collected until the end key, the length
        or the pause (`_check_timers`); the end key on its own is a single key press."""
        entry = self.config.keypad_entry
        assert entry is not None
        typing = self._typing
        if digit == entry.end_key:
            if typing is None:
                self._on_key(digit, now_ms)
            else:
                self._end_typing("end_key")
            return
        if typing is None:
            # The caller is answering: stop talking, as for any key the agent acts on (not a
            # goodbye or a voicemail message: nothing will answer the number then).
            answerable = self._voicemail is None and self._phase is not _Phase.ENDING
            if answerable and not self._agent.finished:
                self._barge_in("dtmf")
            typing = self._typing = _Typing("", now_ms, now_ms)
        typing.digits += digit
        typing.last_ms = now_ms
        self._last_activity_ms = now_ms
        if entry.max_digits and len(typing.digits) >= entry.max_digits:
            self._end_typing("length")

    def _end_typing(self, ended_by: str) -> None:
        """The number is complete: one keypad turn for the agent. A lone key that was not ended
        by the end key is what it is without an entry: a single key press."""
        typing, self._typing = self._typing, None
        if typing is None:
            return
        digits = typing.digits
        single = len(digits) == 1 and ended_by in ("pause", "hang_up")
        if single and (digits == self.config.opt_out_digit or self._answers_key(digits)):
            self._on_key(digits, typing.first_ms)
            return
        self._emit_turn(
            Speaker.CONTACT,
            f"[entered {digits}]",
            start_ms=typing.first_ms,
            end_ms=typing.last_ms,
            latency={},
            keypad=digits,
        )
        agent = self._agent
        taken = (
            ended_by != "hang_up"
            and isinstance(agent, TakesEntries)
            and not agent.finished
            and self._phase not in (_Phase.ENDING, _Phase.CLOSING, _Phase.ENDED)
            and self._voicemail is None
        )
        self._emit_event(Kind.KEYPAD_ENTRY, digits=digits, ended_by=ended_by, answered=taken)
        if taken:
            self._last_activity_ms = self._now_ms()
            self._triggers.append(_Entered(digits))
            self._greeting_done.set()
            self._wakeup.set()

    def _on_key(self, digit: str, now_ms: int) -> None:
        """One key, acted on at once: in the transcript, then the opt-out key or a key the
        agent answers."""
        self._emit_turn(
            Speaker.CONTACT,
            f"[pressed {digit}]",
            start_ms=now_ms,
            end_ms=now_ms,
            latency={},
            keypad=digit,
        )
        if digit != self.config.opt_out_digit:
            answered = self._answers_key(digit)
            self._emit_event(Kind.DTMF, digit=digit, answered=answered)
            if answered:
                self._last_activity_ms = now_ms
                # The key answers the prompt: stop talking (as for an opt-out) and act on it.
                self._barge_in("dtmf")
                self._triggers.append(_Pressed(digit))
                self._greeting_done.set()
                self._wakeup.set()
            return
        self._emit_event(Kind.DTMF, digit=digit, answered=not self._opted_out)
        if self._opted_out:
            return
        # Compliance first: the opt-out is recorded now, whatever happens to the call next.
        self._opted_out = True
        self._emit_event(Kind.OPT_OUT, digit=digit)
        if self._phase is _Phase.ENDING or self._agent.finished:
            return  # the goodbye is already playing; the result carries the opt-out
        self._barge_in("dtmf")
        self._push(_Trigger.OPT_OUT)

    def _answers_key(self, digit: str) -> bool:
        agent = self._agent
        if self._phase is _Phase.ENDING or self._voicemail is not None:
            return False
        return isinstance(agent, HearsKeys) and agent.answers_key(digit)

    def send_digits(self, digits: str) -> int:
        """Press keys on the call (``0-9*#``, ``w`` waits 0.5 s) through the carrier, after the
        audio already queued; in the transcript as an agent turn. Returns how long they take
        (ms); 0 when the call is not live. Raises InvalidDigitsError before sending anything."""
        validate_digits(digits)
        if self._phase in (_Phase.WAITING, _Phase.CLOSING, _Phase.ENDED):
            return 0
        duration_ms = self._digit_sender(self, digits)
        self.stats.digits_sent += digits
        start_ms = self._now_ms()
        self._emit_event(Kind.DIGITS_SENT, digits=digits, duration_ms=duration_ms)
        self._emit_turn(
            Speaker.AGENT,
            f"[pressed {digits}]",
            start_ms=start_ms,
            end_ms=start_ms + duration_ms,
            latency={},
            keypad=digits,
        )
        return duration_ms

    def queue_audio(self, frames: Sequence[bytes]) -> None:
        """`LiveStream`: frames for the caller, sent in order after what is queued. Not part of
        an agent turn, so a barge-in does not drop them (Twilio's `clear` still can)."""
        for frame in frames:
            payload = base64.b64encode(frame).decode("ascii")
            self._queue(
                {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
            )

    def leave_voicemail(self, text: str) -> None:
        """A machine answered and the campaign leaves a message: stop whatever the agent is
        saying, say `text` whole and hang up. Carriers report the machine after its beep
        (DetectMessageEnd), so the message lands on the recording."""
        if self._phase in (_Phase.WAITING, _Phase.ENDING, _Phase.CLOSING, _Phase.ENDED):
            return
        if self._voicemail is not None:
            return
        self._voicemail = text
        self._barge_in("machine")
        self._push(_Trigger.VOICEMAIL)

    def on_stop(self) -> None:
        """Twilio's ``stop``: the call is over (hung up by either side). What the caller said
        is still recognised and given to the agent (`PipelineConfig.hangup_grace`)."""
        self._stopped = True
        self._flush_typing()
        self._begin_shutdown(CallEndReason.STREAM_STOPPED)

    async def close(self) -> PipelineResult:
        """The websocket closed (or the consumer gives up): stop talking, finish hearing (within
        the hang-up grace), cancel everything, report once."""
        self._flush_typing()
        return await self._begin_shutdown(CallEndReason.DISCONNECTED)

    def _flush_typing(self) -> None:
        """The call ends with keys still being typed: they are kept (a lone opt-out key still
        opts out)."""
        if self._typing is not None and self._phase not in (_Phase.CLOSING, _Phase.ENDED):
            self._end_typing("hang_up")

    async def wait(self) -> PipelineResult:
        """Until the call has ended (after our hang-up, `stop` or `close`)."""
        await self._ended.wait()
        assert self._shutdown is not None
        return await asyncio.shield(self._shutdown)

    def snapshot(self) -> PipelineResult:
        """The result as it stands now (the call goes on): what to store before hanging up."""
        return self._build_result(self._end_reason or CallEndReason.AGENT_ENDED)

    @property
    def agent_actions(self) -> list[AgentAction]:
        """What the agent decided so far (a transfer replaces the hang-up: the consumer)."""
        return list(self._agent.actions)

    @property
    def result(self) -> PipelineResult | None:
        return self._result

    @property
    def turns(self) -> list[Turn]:
        return list(self._turns)

    # -- caller speech ------------------------------------------------------------------------

    def _on_speech_started(self, event: SpeechStarted) -> None:
        self._silence_fired = False
        self._last_activity_ms = self._now_ms()
        self._emit_event(Kind.SPEECH_STARTED, start_ms=event.start_ms)

    def _on_speech_ended(self, event: SpeechEnded) -> None:
        now = self.clock.now()
        speech_end_at = self._last_speech_at if self._last_speech_at is not None else now
        self._utterance_ends.append((event.end_ms, speech_end_at, now))
        self._last_activity_ms = self._now_ms()
        self._caller_spoke = True
        self._emit_event(
            Kind.SPEECH_ENDED, start_ms=event.start_ms, end_ms=event.end_ms, reason=event.reason
        )
        # Before the hand-over: a recogniser may answer synchronously.
        self._pending.append((event.start_ms, event.end_ms))
        try:
            self._recognizer.end_of_utterance(event)
        except Exception:
            logger.exception("pipeline.recognizer_utterance_failed")
        if self._phase is _Phase.GREETING:
            self._greeting_end_at = speech_end_at
            self._greeting_done.set()

    def _on_recognizer(self, event: RecognizerEvent) -> None:
        if self._phase in (_Phase.WAITING, _Phase.ENDED):
            return
        if isinstance(event, Interim):
            barge = self._vad.heard_words(event.text, agent_speaking=self._agent_audible())
            if barge is not None:
                self._barge_in(barge.reason)
        elif isinstance(event, Final):
            self._on_final(event)
        else:
            self._on_recognizer_failure(event)

    def _on_final(self, final: Final) -> None:
        now = self.clock.now()
        self._last_activity_ms = self._now_ms()
        self._answered(final.start_ms, final.end_ms)
        if not final.text:
            self._emit_event(Kind.TRANSCRIPT_EMPTY)
            return
        self._stt_failures = 0
        self._caller_spoke = True
        speech_end_at, endpoint_at = self._speech_end_for(final.end_ms, now)
        end_ms = final.end_ms if final.end_ms is not None else self._now_ms()
        start_ms = final.start_ms if final.start_ms is not None else end_ms
        self._emit_turn(
            Speaker.CONTACT,
            final.text,
            start_ms=start_ms,
            end_ms=end_ms,
            latency={
                "since": "speech_end",
                "stt_final_ms": round((now - speech_end_at) * 1000, 1),
            },
        )
        if self._navigating():
            # Before the opening, with a menu target: the navigator decides what answered.
            self._heard.append(_Heard(final.text, speech_end_at, endpoint_at, now))
            self._wakeup.set()
            return
        # Speech that began before the opening did ("Hello?") is a greeting, not an answer to
        # it, even when a streaming recogniser finalises it after the opening has started.
        greeting = self._phase is _Phase.GREETING or (
            self._opening_start_ms is not None and start_ms < self._opening_start_ms
        )
        # CLOSING: the caller hung up; the agent still decides on their last words.
        if greeting or self._phase not in (_Phase.TALKING, _Phase.CLOSING):
            return
        if self._agent_audible() or start_ms < self._agent_heard_until_ms:
            # Said over the agent: "uh-huh" keeps the agent going (even when its final only
            # comes after the line has ended), anything else there cuts in.
            if is_backchannel(final.text):
                # "Uh-huh" over a line that goes on: kept in the transcript, not an answer.
                self._emit_event(Kind.BACKCHANNEL, text=final.text)
                return
            # Words that are not a backchannel, said over the agent ("Wait.", "Stop."), too
            # short for the barge-in policy to have cut in on their sound: they do now.
            self._barge_in("words")
        self._heard.append(_Heard(final.text, speech_end_at, endpoint_at, now))
        self._wakeup.set()

    def _navigating(self) -> bool:
        return (
            self._ivr is not None
            and not self._ivr.done
            and self._phase in (_Phase.GREETING, _Phase.MENU)
        )

    def _on_recognizer_failure(self, failure: RecognizerFailure) -> None:
        self._emit_event(
            Kind.STT_ERROR, code=failure.code, message=failure.message, fatal=failure.fatal
        )
        if failure.fatal:
            # Nothing handed over will be answered now: every waiting utterance is unheard.
            self._recognition_dead = True
            lost = list(self._pending)
            self._pending.clear()
        elif failure.start_ms is not None or self._pending:
            lost = self._answered(failure.start_ms, failure.end_ms)
        else:
            lost = []
        for start_ms, end_ms in lost:
            self._emit_unheard(start_ms, end_ms, failure.code)
        self._stt_failures += 1
        fatal = failure.fatal or self._stt_failures >= self.config.max_stt_failures
        self._push(_Trigger.STT_FATAL if fatal else _Trigger.STT_RETRY)

    def _answered(self, start_ms: int | None, end_ms: int | None) -> list[tuple[int, int]]:
        """The recogniser answered (a final, or a failure) for speech ending at `end_ms`: the
        waiting utterances it covers, oldest first, no longer wait. Without timing, the oldest
        (batch recognisers answer in order)."""
        if not self._pending:
            return []
        if end_ms is None:
            return [self._pending.popleft()]
        # A streaming recogniser's turn may span several of our utterances (or start earlier).
        covered = [item for item in self._pending if item[0] <= end_ms + 200]
        for item in covered:
            self._pending.remove(item)
        return covered

    def _emit_unheard(self, start_ms: int, end_ms: int, code: str) -> None:
        """Caller speech nobody could make words of: kept in the transcript, marked."""
        self._caller_spoke = True
        self._emit_turn(
            Speaker.CONTACT,
            "",
            start_ms=start_ms,
            end_ms=end_ms,
            latency={"since": "speech_end", "stt_failure": code},
            recognized=False,
        )

    def _speech_end_for(self, end_ms: int | None, now: float) -> tuple[float, float | None]:
        """When the caller stopped talking (clock), and when our endpointer noticed."""
        if end_ms is not None:
            for ended_ms, speech_end_at, endpoint_at in reversed(self._utterance_ends):
                if abs(ended_ms - end_ms) <= 400:
                    return speech_end_at, endpoint_at
        # A streaming recogniser can finalise before our endpointer: the last speech frame.
        return (self._last_speech_at if self._last_speech_at is not None else now), None

    # -- barge-in -----------------------------------------------------------------------------

    def _barge_in(self, source: str) -> None:
        turn, task = self._turn, self._turn_task
        if turn is None or task is None or task.done() or turn.speech.interrupted:
            return
        speech = turn.speech
        if source in ("dtmf", "machine"):
            if speech.frames_sent == 0:
                # An opt-out or a voicemail pre-empts a turn that has not spoken yet.
                task.cancel()
                return
        elif not (self.config.barge_in and turn.interruptible) or speech.frames_sent == 0:
            return  # not allowed, or nothing audible yet: the caller is not talking over us
        self._cut(speech)
        # Audio not yet handed to the socket is simply not sent; Twilio drops what it holds.
        self._outbox = deque(item for item in self._outbox if item.chunk is None)
        self._queue({"event": "clear", "streamSid": self.stream_sid})
        self._pacer.reset()
        if source != "machine":  # a voicemail is not the caller talking over us
            self.stats.barge_ins += 1
        self._emit_event(Kind.BARGE_IN, source=source, turn=speech.index)
        task.cancel()

    def _cut(self, speech: AgentSpeech) -> None:
        """The agent stops here: remember how much of the turn had not played yet."""
        speech.interrupted = True
        speech.cut_ms = self._now_ms()
        speech.unplayed_frames_at_cut = round(self._pacer.queued_ahead() / (FRAME_MS / 1000))

    # -- timers -------------------------------------------------------------------------------

    def _check_timers(self) -> None:
        now_ms = self._now_ms()
        c = self.config
        typing, entry = self._typing, c.keypad_entry
        if (
            typing is not None
            and entry is not None
            and now_ms - typing.last_ms >= entry.timeout_seconds * 1000
        ):
            self._end_typing("pause")
        if self._phase is _Phase.GREETING:
            wait_ms = c.greeting_timeout_ms
            if self._ivr is not None:
                wait_ms = max(wait_ms, c.ivr_first_words_ms)
            if not self._vad.in_speech and now_ms >= wait_ms:
                self._greeting_done.set()
            return
        if self._phase is _Phase.MENU:
            # Holds are long and silent: no silence prompt, only the menu's own limit.
            ivr = self._ivr
            if ivr is not None and not self._ivr_tick_queued and ivr.due(now_ms):
                self._ivr_tick_queued = True
                self._push(_Trigger.IVR_TICK)
            return
        turn = self._turn
        deadline = turn.mark_deadline if turn is not None else None
        if turn is not None and deadline is not None and self.clock.now() >= deadline:
            turn.mark_event.set()
        if self._phase is not _Phase.TALKING:
            return
        if now_ms >= c.max_call_ms and not self._max_fired:
            self._max_fired = True
            self._emit_event(Kind.MAX_DURATION, limit_ms=c.max_call_ms)
            self._push(_Trigger.MAX_DURATION)
        # Not idle while the caller's words are still being recognised: on a loaded box a
        # final can take seconds, and "Are you still there?" right after "Yes, let's do it"
        # was the result.
        idle = (
            (self._turn_task is None or self._turn_task.done())
            and not self._heard
            and not self._triggers
            and not self._vad.in_speech
            and not self._pending
        )
        if idle and not self._silence_fired:
            silent_ms = now_ms - self._last_activity_ms
            if silent_ms >= c.silence_timeout_ms:
                self._silence_fired = True
                self._emit_event(Kind.SILENCE_TIMEOUT, silent_ms=silent_ms)
                self._push(_Trigger.SILENCE)

    # -- the conversation ---------------------------------------------------------------------

    async def _converse(self) -> None:
        await self._greeting_done.wait()
        navigate = self._ivr is not None and self._phase is _Phase.GREETING and not self._triggers
        if navigate and await self._navigate_menu():
            return
        if self._phase in (_Phase.GREETING, _Phase.MENU):
            self._phase = _Phase.TALKING
        self._opening_start_ms = self._now_ms()
        if self._greeting_end_at is not None:
            since, base = "greeting_end", self._greeting_end_at
        else:
            since, base = "start", self.clock.now()
        if not self._triggers:
            disclosure = self.config.recording_disclosure
            agent = self._agent
            # The disclosure comes before the keypad prompt ("press 1 to talk to a person"):
            # the agent leaves the prompt out of its opening and it is said after.
            prompt: PromptsKeys | None = None
            if disclosure and isinstance(agent, PromptsKeys) and agent.defer_keypad_prompt():
                prompt = agent
            result = await self._speak(
                agent.opening(),
                TurnTiming(since, base),
                interruptible=self.config.opening_interruptible,
            )
            if await self._after_failure(result):
                return
            if disclosure and not self._triggers and await self._say_disclosure(disclosure):
                return
            if prompt is not None and not self._triggers and not agent.finished:
                result = await self._speak(prompt.keypad_prompt(), self._trigger_timing())
                if await self._after_failure(result):
                    return
        while True:
            if self._agent.finished:
                await self._finish(CallEndReason.AGENT_ENDED)
                return
            item = await self._next_input()
            if isinstance(item, _Heard):
                timing = TurnTiming(
                    "speech_end",
                    item.speech_end_at,
                    stt_final_at=item.final_at,
                    endpoint_at=item.endpoint_at,
                )
                result = await self._speak(self._agent.reply(item.text), timing)
            elif isinstance(item, _Pressed):
                agent = self._agent
                if self._agent.finished or not isinstance(agent, HearsKeys):
                    continue
                result = await self._speak(agent.press(item.digit), self._trigger_timing())
            elif isinstance(item, _Entered):
                agent = self._agent
                if self._agent.finished or not isinstance(agent, TakesEntries):
                    continue
                result = await self._speak(agent.entered(item.digits), self._trigger_timing())
            elif item is _Trigger.SILENCE:
                result = await self._speak(self._agent.reply(None), self._trigger_timing())
            elif item is _Trigger.STT_RETRY:
                if self._caller_busy():
                    continue  # they are talking (again): their next words answer for them
                result = await self._speak(say(self.config.stt_retry_line), self._trigger_timing())
            else:
                await self._end_on(item)
                return
            if await self._after_failure(result):
                return

    async def _navigate_menu(self) -> bool:
        """Until a person answers: read each utterance (menu options, a hold message, a
        person), press the key the navigator chooses, give up on its limit. Nobody spoke by
        the greeting timeout: a person waiting for us (the opening follows, as without a
        target). True when the call is over (given up, or a limit / opt-out ended it)."""
        ivr = self._ivr
        assert ivr is not None
        if self._greeting_end_at is None and not self._pending and not self._heard:
            return False
        self._phase = _Phase.MENU
        while True:
            item = await self._next_input()
            if isinstance(item, _Heard):
                decision = ivr.hear(item.text, self._now_ms())
            elif item is _Trigger.IVR_TICK:
                self._ivr_tick_queued = False
                decision = ivr.tick(self._now_ms())
            elif isinstance(item, _Pressed | _Entered) or item in (
                _Trigger.SILENCE,
                _Trigger.STT_RETRY,
            ):
                continue  # keys and retries mean nothing to a recording
            else:
                assert isinstance(item, _Trigger)
                self._report_ivr()
                await self._end_on(item)
                return True
            self._report_ivr()
            if isinstance(decision, Press):
                if decision.option.digit:  # "" is "stay on the line": nothing to press
                    self.send_digits(decision.option.digit)
            elif isinstance(decision, PersonAnswered):
                assert isinstance(item, _Heard)
                # The opening answers this person: its latency counts from their words.
                self._greeting_end_at = item.speech_end_at
                return False
            elif isinstance(decision, GiveUp):
                await self._finish(CallEndReason.IVR_UNRESOLVED)
                return True

    def _report_ivr(self) -> None:
        """The navigator's new path steps, as events (the session keeps the path)."""
        ivr = self._ivr
        if ivr is None:
            return
        kinds = {
            "menu": Kind.IVR_MENU,
            "pressed": Kind.IVR_PRESSED,
            "hold": Kind.IVR_HOLD,
            "person": Kind.IVR_PERSON,
            "gave_up": Kind.IVR_GAVE_UP,
        }
        for step in ivr.path[self._ivr_reported :]:
            data = dict(step.data)
            if step.kind in ("person", "gave_up"):
                data.update(pressed=ivr.pressed, menu_heard=ivr.menu_heard)
            self._emit_event(kinds[step.kind], **data)
        self._ivr_reported = len(ivr.path)

    async def _say_disclosure(self, text: str) -> bool:
        """The recording disclosure, right after the opening: whole (the caller's words during
        it are kept and answered after it), and reported as played only once the carrier
        echoed the mark after its last audio. A key press or a machine still cuts it (the call
        then ends unrecorded); a call that ends during it never reaches the report. True when
        the call is over."""
        result = await self._speak(say(text), self._trigger_timing(), interruptible=False)
        turn = self._turn
        speech = turn.speech if turn is not None else None
        if speech is None or not speech.chunks or result is TurnResult.INTERRUPTED:
            return await self._after_failure(result)
        confirmed = result is TurnResult.DONE and speech.all_heard
        mark = speech.chunks[-1].mark
        kind = Kind.DISCLOSURE_PLAYED if confirmed else Kind.DISCLOSURE_UNCONFIRMED
        self._emit_event(kind, mark=mark, turn=speech.index)
        if self._on_disclosure is not None:
            # Its own task: starting a recording is a carrier round trip the talk must not wait
            # for (the caller's answer to the opening comes next).
            self._spawn(self._on_disclosure(confirmed, mark), "pipeline-disclosure")
        return await self._after_failure(result)

    def _caller_busy(self) -> bool:
        """The caller is talking, or words they said are still being recognised."""
        return self._vad.in_speech or bool(self._pending) or bool(self._heard)

    async def _next_input(self) -> _Heard | _Trigger | _Pressed | _Entered:
        while True:
            if self._triggers:
                return self._triggers.popleft()
            if self._heard:
                # Several utterances while the agent was busy are one answer.
                first = self._heard.popleft()
                while self._heard:
                    first.text = f"{first.text} {self._heard.popleft().text}"
                return first
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _end_on(self, trigger: _Trigger) -> None:
        phrases = self.config.phrases
        if trigger is _Trigger.VOICEMAIL:
            line, reason = self._voicemail or "", CallEndReason.VOICEMAIL_LEFT
        elif trigger is _Trigger.OPT_OUT:
            line, reason = phrases.opt_out_confirmation, CallEndReason.OPTED_OUT_DTMF
        elif trigger is _Trigger.MAX_DURATION:
            line, reason = phrases.max_turns_close, CallEndReason.MAX_DURATION
        else:
            line, reason = phrases.trouble, CallEndReason.STT_FAILED
        result = await self._speak(say(line), self._trigger_timing(), interruptible=False)
        if result is TurnResult.TTS_FAILED:
            await self._fallback_goodbye()
        await self._finish(reason)

    async def _after_failure(self, result: TurnResult) -> bool:
        """Handle a turn that failed; True when the call is over."""
        if result is TurnResult.TTS_FAILED:
            await self._fallback_goodbye()
            await self._finish(CallEndReason.TTS_FAILED)
            return True
        if result is TurnResult.AGENT_FAILED:
            line = self.config.phrases.trouble
            outcome = await self._speak(say(line), self._trigger_timing(), interruptible=False)
            if outcome is TurnResult.TTS_FAILED:
                await self._fallback_goodbye()
            await self._finish(CallEndReason.AGENT_ERROR)
            return True
        return False

    async def _fallback_goodbye(self) -> None:
        """The voice failed: say goodbye with the fallback voice, if there is one."""
        if self._fallback_voice is None:
            return
        await self._speak(
            say(self.config.phrases.trouble),
            self._trigger_timing(),
            interruptible=False,
            voice=self._fallback_voice,
            voice_id=self._fallback_voice_id,
        )

    async def _finish(self, reason: CallEndReason) -> None:
        """Everything has been said and heard: hang up and report."""
        self._phase = _Phase.ENDING
        self._end_reason = self._end_reason or reason
        self._emit_event(Kind.HANG_UP, reason=self._end_reason.value)
        # Set first: the carrier may end the stream (`stop` → shutdown) before this returns.
        self._hung_up = True
        try:
            await self._hang_up()
        except Exception as error:
            self._hung_up = False
            logger.exception("pipeline.hang_up_failed")
            self._emit_event(Kind.HANG_UP_FAILED, message=repr(error))
        self._begin_shutdown(self._end_reason)

    def _trigger_timing(self) -> TurnTiming:
        return TurnTiming("trigger", self.clock.now())

    def _push(self, trigger: _Trigger) -> None:
        self._triggers.append(trigger)
        self._greeting_done.set()  # a key press or a limit during "Hello?" ends the wait
        self._wakeup.set()

    # -- one agent turn -----------------------------------------------------------------------

    async def _speak(
        self,
        source: AsyncIterator[str],
        timing: TurnTiming,
        *,
        interruptible: bool = True,
        voice: VoiceProvider | None = None,
        voice_id: str | None = None,
    ) -> TurnResult:
        self._turn_index += 1
        turn = AgentTurn(
            index=self._turn_index,
            source=source,
            timing=timing,
            voice=voice or self._voice,
            voice_id=voice_id or self._voice_id,
            config=self.config,
            clock=self.clock,
            pacer=self._pacer,
            outlet=self._outlet,
            interruptible=interruptible,
        )
        self._turn = turn
        task = asyncio.create_task(turn.run(), name=f"pipeline-turn-{turn.speech.index}")
        self._turn_task = task
        try:
            # A barge-in cancels the turn task, not this one: wait without propagating it.
            await asyncio.wait([task])
        finally:
            if not task.done():  # we were cancelled ourselves (shutdown)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._end_agent_turn(turn)
        self._last_activity_ms = self._now_ms()
        self._silence_fired = False
        if turn.speech.interrupted:
            return TurnResult.INTERRUPTED
        return turn.result

    def _end_agent_turn(self, turn: AgentTurn) -> None:
        self.stats.marks_sent += turn.marks_sent
        if self._first_frame_at is None:
            self._first_frame_at = turn.timing.first_frame_at
        heard = turn.transcript()
        if heard is None:
            return  # cut off before a word was heard: the barge-in event tells the story
        text, end_ms = heard
        self._agent_heard_until_ms = max(self._agent_heard_until_ms, end_ms)
        start_ms = turn.speech.first_frame_ms or end_ms
        self._emit_turn(
            Speaker.AGENT,
            text,
            start_ms=start_ms,
            end_ms=end_ms,
            interrupted=turn.speech.interrupted,
            latency=turn.timing.latency(),
        )

    # -- output -------------------------------------------------------------------------------

    def _queue(
        self,
        message: dict[str, Any],
        *,
        chunk: SpokenChunk | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        self._outbox.append(_Outgoing(message, chunk, on_sent))
        self._outbox_ready.set()

    async def _write(self) -> None:
        """The only caller of ``send``: messages leave in order, one at a time."""
        while True:
            while not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            item = self._outbox.popleft()
            if self._send_broken:
                continue  # the socket is gone: drop the rest quietly until `close()`
            try:
                await self._send(item.message)
            except Exception:
                # The socket is going away; `close()` follows from the consumer.
                logger.warning("pipeline.send_failed event=%s", item.message.get("event"))
                self._send_broken = True
                continue
            if item.message["event"] == "media":
                self.stats.frames_out += 1
            if item.on_sent is not None:
                item.on_sent()

    def _emit_turn(
        self,
        speaker: Speaker,
        text: str,
        *,
        start_ms: int,
        end_ms: int,
        interrupted: bool = False,
        latency: dict[str, Any],
        recognized: bool = True,
        keypad: str = "",
    ) -> None:
        turn = Turn(
            index=len(self._turns),
            speaker=speaker,
            text=text,
            start_ms=start_ms,
            end_ms=max(start_ms, end_ms),
            interrupted=interrupted,
            latency=latency,
            recognized=recognized,
            keypad=keypad,
        )
        self._turns.append(turn)
        self._sink_queue.put_nowait(("turn", turn))

    def _emit_event(self, kind: PipelineEventKind, **data: Any) -> None:
        event = PipelineEvent(kind=kind, at_ms=self._now_ms(), data=data)
        self._events.append(event)
        self._sink_queue.put_nowait(("event", event))

    async def _drain_sink(self) -> None:
        while True:
            kind, item = await self._sink_queue.get()
            try:
                if kind == "turn":
                    await self._sink.on_turn(item)
                elif kind == "event":
                    await self._sink.on_event(item)
                else:
                    await self._sink.on_end(item)
            except Exception:
                logger.exception("pipeline.sink_failed kind=%s", kind)
            finally:
                self._sink_queue.task_done()

    # -- shutdown -----------------------------------------------------------------------------

    def _begin_shutdown(self, reason: CallEndReason) -> asyncio.Task[PipelineResult]:
        if self._shutdown is None:
            self._end_reason = self._end_reason or reason
            self._shutdown = asyncio.create_task(self._shut_down(), name="pipeline-shutdown")
            self._ended.set()
        return self._shutdown

    async def _shut_down(self) -> PipelineResult:
        was_waiting = self._phase is _Phase.WAITING
        # Nothing more is said or played; recognizer events are still taken (CLOSING).
        self._phase = _Phase.ENDED if was_waiting else _Phase.CLOSING
        current = asyncio.current_task()
        sink_task = next((t for t in self._tasks if t.get_name() == "pipeline-sink"), None)
        others = [t for t in self._tasks if t is not current and t is not sink_task]
        if self._turn_task is not None and not self._turn_task.done():
            speech = self._turn.speech if self._turn is not None else None
            if speech is not None and speech.frames_sent and not speech.all_heard:
                self._cut(speech)  # the line went dead while the agent was talking
            others.append(self._turn_task)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if not was_waiting:
            await self._finish_hearing()
        self._phase = _Phase.ENDED
        with contextlib.suppress(Exception):
            await self._recognizer.aclose()
        reason = self._end_reason or CallEndReason.DISCONNECTED
        self._emit_event(Kind.STOPPED, reason=reason.value)
        result = self._build_result(reason)
        self._result = result
        self._sink_queue.put_nowait(("end", result))
        if sink_task is None or was_waiting:
            # Never started: nobody drains the queue, so report directly.
            with contextlib.suppress(Exception):
                await self._sink.on_end(result)
        else:
            try:
                await asyncio.wait_for(self._sink_queue.join(), self.config.sink_drain_timeout)
            except TimeoutError:
                logger.warning("pipeline.sink_drain_timeout")
            sink_task.cancel()
            await asyncio.gather(sink_task, return_exceptions=True)
        return result

    async def _finish_hearing(self) -> None:
        """The call is gone: what the caller said still counts. Close the utterance in progress,
        let recognition already started finish and give the agent what it has not answered yet
        (an opt-out said on the way out must reach the do-not-call list), all within
        `hangup_grace`. Recognition that does not answer in time leaves unheard turns."""
        ended = self._vad.flush()
        if ended is not None:
            self._on_speech_ended(ended)
        recognized = False
        try:
            async with asyncio.timeout(self.config.hangup_grace):
                await self._recognizer.finish()
                recognized = True
                await self._answer_unspoken()
        except TimeoutError:
            logger.warning("pipeline.hangup_grace_expired recognized=%s", recognized)
        except Exception:
            logger.exception("pipeline.finish_hearing_failed")
        if self._pending and (not recognized or self._recognition_dead):
            self._emit_event(Kind.RECOGNITION_CUT, utterances=len(self._pending))
            for start_ms, end_ms in self._pending:
                self._emit_unheard(start_ms, end_ms, "stt_unfinished")
        # What a streaming recogniser found no words in, after finishing, was not speech.
        self._pending.clear()

    async def _answer_unspoken(self) -> None:
        """The agent decides on words it has not answered; the reply is never spoken."""
        if not self._heard or self._agent.finished or self._opening_start_ms is None:
            return
        text = " ".join(item.text for item in self._heard)
        self._heard.clear()
        self._emit_event(Kind.HEARD_AFTER_END, text=text)
        async for _ in self._agent.reply(text):
            pass  # iterated to the end: the decision (outcome, actions) is taken

    def _build_result(self, reason: CallEndReason) -> PipelineResult:
        agent = self._agent
        outcome = agent.outcome
        actions = list(agent.actions)
        agent_end = next((a for a in actions if isinstance(a, EndCall)), None)
        if self._opted_out:
            outcome = Outcome.DO_NOT_CALL
            if not any(isinstance(a, MarkDoNotCall) for a in actions):
                # Before the EndCall: it stays last, as the engine's contract says.
                at = actions.index(agent_end) if agent_end else len(actions)
                actions.insert(at, MarkDoNotCall())
        elif outcome is None and reason is CallEndReason.MAX_DURATION:
            outcome = Outcome.NOT_INTERESTED if self._caller_spoke else Outcome.NO_CONVERSATION
        elif reason is CallEndReason.IVR_UNRESOLVED:
            outcome = Outcome.IVR_UNRESOLVED
        elif outcome is None and reason in (
            CallEndReason.STT_FAILED,
            CallEndReason.TTS_FAILED,
            CallEndReason.AGENT_ERROR,
        ):
            outcome = Outcome.NO_CONVERSATION  # failed on our side: let the retry policy decide
        if agent_end is None and outcome is not None and self._hung_up:
            actions.append(EndCall(reason=reason.value, outcome=outcome))
        first_speech_end = self._greeting_end_at
        abandonment = None
        if first_speech_end is not None and self._first_frame_at is not None:
            abandonment = round((self._first_frame_at - first_speech_end) * 1000, 1)
        return PipelineResult(
            end_reason=reason,
            outcome=outcome,
            agent_end_reason=agent_end.reason if agent_end else None,
            actions=actions,
            turns=list(self._turns),
            events=list(self._events),
            engine_events=list(agent.events),
            hung_up=self._hung_up,
            abandonment_ms=abandonment,
            duration_ms=self._now_ms(),
            stats=self.stats,
            answered_by="ivr" if self._ivr is not None and self._ivr.menu_heard else "",
            ivr_pressed=self._ivr.pressed if self._ivr is not None else "",
        )

    # -- helpers ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return self.stats.frames_in * FRAME_MS

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            logger.error("pipeline.task_failed task=%s error=%r", task.get_name(), error)
            if task.get_name() == "pipeline-conversation" and self._shutdown is None:
                self._emit_event(Kind.AGENT_ERROR, code="pipeline_error", message=repr(error))
                self._begin_shutdown(CallEndReason.AGENT_ERROR)


def _build_detector(config: PipelineConfig) -> TurnDetector:
    if config.turn_detection == "neural":
        # ONNX Runtime and pipecat's feature code load only when the neural detector is used.
        from sessions.pipeline.neural_turn import NeuralTurnDetector

        return NeuralTurnDetector(config.neural, inline=False)
    if config.turn_detection == "semantic":
        return SemanticTurnDetector(config.semantic)
    return EnergyTurnDetector(config.vad)


def _decode(payload: str | bytes) -> bytes | None:
    """A 160-byte frame from a Twilio payload, or None when it is not one."""
    if isinstance(payload, str):
        try:
            frame = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    elif type(payload) is bytes:
        frame = payload  # the consumer's decoded frame: no copy
    elif isinstance(payload, bytes | bytearray | memoryview):
        frame = bytes(payload)
    else:
        return None
    return frame if len(frame) == ULAW_FRAME_BYTES else None
