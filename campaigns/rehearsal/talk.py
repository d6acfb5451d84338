"""One rehearsed conversation: a simulator persona's own script against the scripted agent, in
text, on a simulated clock.

The persona scripts of the Twilio simulator (`anvil_voice.telephony.simulator.personas`) are
coroutines over a `Callee`; here `TimelineCallee` implements that protocol without audio. Each
awaited step yields a request to `talk()`, which advances a virtual clock (milliseconds) and
lets the agent act meanwhile, the way the live pipeline would:

* the caller's words take `MS_PER_CHAR` each to say, the agent's too (the voice's pace);
* the agent answers once the caller has been quiet for the endpointer's silence
  (`VadConfig.end_silence_ms`), after a reply latency drawn from `LatencyModel` (this
  organization's measured replies, when it has enough, else the model's constants); a turn
  that does not end a sentence ("my number is five five five,") waits `SEMANTIC_WAIT_MS`, as
  the end-of-turn model does;
* speech over the agent cuts it off after `BargeInPolicy.barge_in_min_speech_ms`, unless it is a
  backchannel (`turn_detection.is_backchannel`, the pipeline's own test);
* nobody talking for `SILENCE_TIMEOUT_MS` after the agent's turn: the agent's silence reply.

What it cannot know (the recogniser's errors, the voice's real timing) it does not pretend to:
the transcript is the persona's exact words. What it reports is what the agent did with them:
the outcome, the turns with their timing, and the agent's misbehaviours (`Misbehaviour`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from anvil_voice.telephony.simulator.personas import Persona
from scripts.engine import (
    CallContext,
    EventKind,
    ScheduleCallback,
    ScriptedAgent,
    ScriptSpec,
    Stance,
    contact_stance,
    render,
)
from scripts.engine.matching import TriggerMatcher
from sessions.pipeline.turn_detection import BargeInPolicy, is_backchannel
from sessions.pipeline.vad import VadConfig

MS_PER_CHAR = 65.0  # ~15 characters a second: Piper's pace, and a person's
ENDPOINT_MS = float(VadConfig().end_silence_ms)
BARGE_IN_MS = float(BargeInPolicy().barge_in_min_speech_ms)
SEMANTIC_WAIT_MS = 1500.0  # an unfinished sentence: the end-of-turn model waits longer
SILENCE_TIMEOUT_MS = 6000.0
PERSONA_TURN_SILENCE_MS = 600.0  # the personas' own rule (PERSONAS.md, "Turn-taking")
OPENING_WITHOUT_HELLO_MS = 1500.0  # nobody said hello: the agent opens anyway
MAX_CALL_MS = 5 * 60 * 1000.0
# Nobody on the line for this long while the caller waits for the agent: dead air.
DEAD_AIR_MS = 2500.0
# Lines a persona uses as an objection (what the script's objection responses are for).
OBJECTION_LINES = frozenset({"We already have a provider."})


class Misbehaviour(StrEnum):
    DEAD_AIR = "dead_air"
    TALKED_OVER_CALLER = "talked_over_caller"
    WRONG_OBJECTION_RESPONSE = "wrong_objection_response"
    NO_OUTCOME = "no_outcome"


@dataclass(frozen=True)
class LatencyModel:
    """Reply latency (the caller's end of speech → the reply's first audio), in ms.

    `samples`: measured replies (`TranscriptTurn.latency.first_frame_ms`) to draw from; empty:
    the endpointer's silence plus `base_ms` with a spread of `jitter_ms`."""

    samples: tuple[float, ...] = ()
    base_ms: float = 350.0
    jitter_ms: float = 250.0

    @property
    def source(self) -> str:
        return "history" if self.samples else "model"

    def draw(self, rng: random.Random) -> float:
        if self.samples:
            return rng.choice(self.samples)
        return ENDPOINT_MS + self.base_ms + rng.random() * self.jitter_ms


@dataclass
class Utterance:
    speaker: str  # "agent" | "contact"
    text: str
    start_ms: float
    end_ms: float
    interrupted: bool = False
    latency_ms: float | None = None  # agent replies: since the caller's end of speech


@dataclass(frozen=True)
class Finding:
    kind: Misbehaviour
    at_ms: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "atMs": self.at_ms, "detail": self.detail}


@dataclass
class Talk:
    """What one rehearsed conversation left behind."""

    outcome: str | None  # the agent's, or None when it never decided
    stance: str
    utterances: list[Utterance] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    hung_up_by: str = ""  # "agent" | "contact" | "limit"
    callback_at: datetime | None = None

    @property
    def contact_spoke(self) -> bool:
        return any(item.speaker == "contact" for item in self.utterances)

    @property
    def reply_latencies(self) -> list[float]:
        return [u.latency_ms for u in self.utterances if u.latency_ms is not None]


class _Ended(Exception):
    """The call is over: the persona's coroutine is closed."""


@dataclass(frozen=True)
class _Request:
    op: str
    args: tuple[Any, ...] = ()


class _Step:
    def __init__(self, request: _Request) -> None:
        self.request = request

    def __await__(self) -> Generator[_Request, Any, Any]:
        return (yield self.request)


class TimelineCallee:
    """The simulator's `Callee` protocol, as requests to the timeline (no audio)."""

    def __init__(self) -> None:
        self.digits = ""
        self.hung_up = False
        self.noted: list[dict[str, Any]] = []

    def say(self, text: str) -> _Step:
        return _Step(_Request("say", (text,)))

    def pause(self, seconds: float) -> _Step:
        return _Step(_Request("pause", (seconds,)))

    def wait_for_agent_turn(self) -> _Step:
        return _Step(_Request("turn"))

    def wait_for_agent_speech(self, seconds: float) -> _Step:
        return _Step(_Request("speech", (seconds,)))

    def beep(self) -> _Step:
        return _Step(_Request("pause", (0.5,)))

    def press(self, digit: str) -> _Step:
        return _Step(_Request("press", (digit,)))

    def wait_for_digit(self, seconds: float, *, since: int) -> _Step:
        return _Step(_Request("digit", (seconds, since)))

    def wait_for_stream(self, number: int) -> _Step:
        return _Step(_Request("end"))  # no transfers in a rehearsal: the call is over

    @property
    def heard_digits(self) -> str:
        return self.digits

    def note(self, action: str, **fields: object) -> None:
        self.noted.append({"action": action, **fields})

    def hang_up(self) -> None:
        self.hung_up = True


def _speech_ms(text: str) -> float:
    return max(300.0, len(text) * MS_PER_CHAR)


def _ends_sentence(text: str) -> bool:
    return text.rstrip().endswith((".", "?", "!"))


class _Timeline:
    def __init__(
        self,
        agent: ScriptedAgent,
        script: ScriptSpec,
        variables: dict[str, object],
        latency: LatencyModel,
        rng: random.Random,
    ) -> None:
        self.agent = agent
        self.latency = latency
        self.rng = rng
        self.t = 0.0
        self.utterances: list[Utterance] = []
        self.findings: list[Finding] = []
        self.opened = False
        self.pending: list[str] = []  # the caller's words the agent has not answered yet
        self.pending_end = 0.0  # when the caller last stopped talking
        self.last_activity = 0.0
        self.ended_by = ""
        self.pending_key: str | None = None
        self.objection_matcher = TriggerMatcher(
            [render(item.trigger, variables) for item in script.objection_responses]
        )
        self.objection_replies = [
            render(item.response, variables) for item in script.objection_responses
        ]

    # -- the agent's side ---------------------------------------------------------------------

    @property
    def agent_since_contact(self) -> bool:
        """Agent audio played since the caller last finished talking (the persona's cue)."""
        last = next((u for u in reversed(self.utterances) if u.speaker == "agent"), None)
        return last is not None and last.end_ms > self.pending_end

    @property
    def agent_now(self) -> Utterance | None:
        last = next((u for u in reversed(self.utterances) if u.speaker == "agent"), None)
        if last is not None and last.end_ms > self.t:
            return last
        return None

    def _agent_busy_until(self) -> float:
        last = next((u for u in reversed(self.utterances) if u.speaker == "agent"), None)
        return last.end_ms if last is not None else 0.0

    def _next_agent_move(self) -> tuple[float, str] | None:
        """When the agent next starts talking on its own, and why (None: it waits)."""
        busy = self._agent_busy_until()
        if self.agent.finished:
            return (busy, "hang_up")
        if not self.opened:
            if self.pending:
                return (max(busy, self.pending_end + self._wait_for(self.pending)), "open")
            return (OPENING_WITHOUT_HELLO_MS, "open")
        if self.pending_key is not None:
            return (max(busy, self.pending_end + BARGE_IN_MS), "key")
        if self.pending:
            return (max(busy, self.pending_end + self._wait_for(self.pending)), "reply")
        return (max(busy, self.last_activity) + SILENCE_TIMEOUT_MS, "silence")

    def _wait_for(self, pending: Sequence[str]) -> float:
        # The reply latency includes the endpointer's silence; an unfinished sentence waits
        # for the end-of-turn model instead.
        if pending and not _ends_sentence(pending[-1]):
            return SEMANTIC_WAIT_MS
        return ENDPOINT_MS

    def advance(self, until: float) -> None:
        """Let the agent act while the caller is quiet, up to `until`."""
        while not self.ended_by:
            move = self._next_agent_move()
            if move is None or move[0] > until:
                break
            at, why = move
            at = max(at, self.t)
            self.t = at
            if why == "hang_up":
                self.ended_by = "agent"
                return
            self._agent_speaks(why)
        self.t = max(self.t, until) if not self.ended_by else self.t

    def _agent_speaks(self, why: str) -> None:
        heard_end = self.pending_end
        latency: float | None = None
        if why == "open":
            line = self.agent.start()
            self.opened = True
            if self.pending:
                latency = self.latency.draw(self.rng)
            self.pending = []
        elif why == "key":
            digit = self.pending_key or ""
            self.pending_key = None
            line = self.agent.respond_to_key(digit) if self.agent.answers_key(digit) else ""
            latency = self.latency.draw(self.rng)
        elif why == "reply":
            heard = " ".join(self.pending)
            self.pending = []
            line = self.agent.respond(heard)
            latency = self.latency.draw(self.rng)
            self._check_objection(heard, line)
        else:
            line = self.agent.respond(None)
        start = self.t
        if latency is not None:
            # The decision moment is the endpointer's; the audio starts after the latency.
            start = max(self.t, heard_end + latency)
            if start - heard_end >= DEAD_AIR_MS:
                self.findings.append(
                    Finding(
                        Misbehaviour.DEAD_AIR,
                        int(heard_end),
                        f"{(start - heard_end) / 1000:.1f} s of silence before the agent answered",
                    )
                )
        if not line:
            self.last_activity = start
            return
        utterance = Utterance("agent", line, start, start + _speech_ms(line), latency_ms=latency)
        self.utterances.append(utterance)
        self.t = start
        self.last_activity = utterance.end_ms

    def _check_objection(self, heard: str, line: str) -> None:
        for objection in OBJECTION_LINES:
            if objection not in heard:
                continue
            match = self.objection_matcher.match(objection)
            expected = self.objection_replies[match.index] if match is not None else None
            if expected is None:
                detail = f"no objection response of the script answers {objection!r}"
            elif expected.strip() not in line:
                detail = f"answered {objection!r} without the script's response to it"
            else:
                continue
            self.findings.append(
                Finding(Misbehaviour.WRONG_OBJECTION_RESPONSE, int(self.t), detail)
            )

    # -- the caller's side --------------------------------------------------------------------

    def contact_says(self, text: str) -> None:
        self.advance(self.t)
        if self.ended_by:
            raise _Ended
        start, end = self.t, self.t + _speech_ms(text)
        speaking = self.agent_now
        backchannel = is_backchannel(text)
        if speaking is not None and not backchannel:
            # Barge-in: the agent stops once the caller has talked long enough.
            stop = min(speaking.end_ms, start + BARGE_IN_MS)
            if stop < speaking.end_ms:
                speaking.end_ms = stop
                speaking.interrupted = True
        self.utterances.append(Utterance("contact", text, start, end))
        if not backchannel:
            self.pending.append(text)
        self.t = end
        self.pending_end = end
        self.last_activity = end
        self._check_talked_over(start)

    def _check_talked_over(self, start: float) -> None:
        # The agent started a line after the caller's previous words and before these, while
        # the caller had not finished their sentence: it answered half a sentence.
        contact = [u for u in self.utterances if u.speaker == "contact"]
        if len(contact) < 2:
            return
        previous = contact[-2]
        if _ends_sentence(previous.text):
            return
        for utterance in self.utterances:
            if (
                utterance.speaker == "agent"
                and previous.end_ms <= utterance.start_ms <= start + BARGE_IN_MS
                and utterance.end_ms > start
            ):
                self.findings.append(
                    Finding(
                        Misbehaviour.TALKED_OVER_CALLER,
                        int(utterance.start_ms),
                        f"spoke into the caller's pause after {previous.text!r}",
                    )
                )
                return

    def wait_for_turn(self) -> None:
        """The persona's rule: some agent audio since it last spoke, then 600 ms of quiet."""
        while True:
            if self.ended_by:
                raise _Ended
            if self.agent_since_contact:
                target = max(self.t, self._agent_busy_until() + PERSONA_TURN_SILENCE_MS)
                move = self._next_agent_move()
                if move is None or move[0] > target:
                    self.t = target
                    return
                if move[1] == "hang_up":
                    self.advance(move[0])
                    raise _Ended
            self._step_agent()

    def wait_for_speech(self, seconds: float) -> None:
        need = seconds * 1000.0
        heard = 0.0
        while True:
            if self.ended_by:
                raise _Ended
            speaking = self.agent_now
            if speaking is not None:
                left = speaking.end_ms - self.t
                if heard + left >= need:
                    self.t += need - heard
                    return
                heard += left
                self.t = speaking.end_ms
            self._step_agent()

    def _step_agent(self) -> None:
        move = self._next_agent_move()
        if move is None or move[0] - 0 > MAX_CALL_MS:
            self.ended_by = "limit"
            raise _Ended
        self.advance(max(self.t, move[0]))
        if self.t > MAX_CALL_MS:
            self.ended_by = "limit"
            raise _Ended

    def press(self, digit: str) -> None:
        self.advance(self.t)
        if self.ended_by:
            raise _Ended
        self.pending_key = digit
        self.pending_end = self.t

    def pause(self, seconds: float) -> None:
        self.advance(self.t + seconds * 1000.0)
        if self.ended_by:
            raise _Ended

    def wait_for_digit(self, seconds: float) -> None:
        # The rehearsal's agent presses no keys (no phone-menu navigation): nothing comes.
        self.pause(seconds)
        if self.t > MAX_CALL_MS:
            self.ended_by = "limit"
            raise _Ended


def talk(
    *,
    persona: Persona,
    script: ScriptSpec,
    variables: dict[str, object],
    time_zone: str,
    now: Callable[[], datetime],
    latency: LatencyModel,
    rng: random.Random,
) -> Talk:
    """Play `persona` (a human one: answered, with a script) against the scripted agent."""
    context = CallContext(variables=variables, timezone=time_zone, now=now)
    agent = ScriptedAgent(script, context)
    line = _Timeline(agent, script, variables, latency, rng)
    callee = TimelineCallee()
    # The persona scripts are coroutine functions typed over the simulator's `Callee`
    # protocol; `TimelineCallee` answers each step with a timeline request instead of audio.
    coroutine: Coroutine[Any, Any, None] | None = (
        persona.script(callee)  # type: ignore[arg-type,assignment]
        if persona.script is not None
        else None
    )
    value: Any = None
    try:
        while coroutine is not None:
            try:
                request: _Request = coroutine.send(value)
            except StopIteration:
                coroutine = None
                if callee.hung_up:
                    line.ended_by = "contact"
                break
            value = None
            if request.op == "say":
                line.contact_says(request.args[0])
            elif request.op == "pause":
                line.pause(request.args[0])
            elif request.op == "turn":
                line.wait_for_turn()
            elif request.op == "speech":
                line.wait_for_speech(request.args[0])
            elif request.op == "press":
                callee.digits += request.args[0]
                line.press(request.args[0])
            elif request.op == "digit":
                line.wait_for_digit(request.args[0])
            else:
                raise _Ended
            if callee.hung_up:
                line.ended_by = "contact"
                raise _Ended
        # The persona has nothing more to say and stays on the line: the agent goes on alone
        # (its silence replies) until it hangs up or the call's limit.
        while not line.ended_by:
            line._step_agent()
    except _Ended:
        pass
    finally:
        if coroutine is not None:
            coroutine.close()
    if line.ended_by == "contact" and line.pending and not agent.finished:
        # Words said as the caller hung up are still recognised and acted on (an opt-out is
        # an opt-out); the reply is heard by nobody.
        agent.respond(" ".join(line.pending))
    end = max([line.t, *(u.end_ms for u in line.utterances if u.speaker == "agent")])
    if line.ended_by == "contact":
        end = line.t
        for utterance in line.utterances:
            if utterance.speaker == "agent" and utterance.end_ms > end:
                utterance.end_ms = max(utterance.start_ms, end)
                utterance.interrupted = True
    utterances = [u for u in line.utterances if u.start_ms <= end]
    outcome = agent.outcome.value if agent.outcome is not None else None
    result = Talk(
        outcome=outcome,
        stance=contact_stance(agent.events).value,
        utterances=utterances,
        findings=line.findings,
        notes=callee.noted,
        duration_ms=end,
        hung_up_by=line.ended_by or "contact",
    )
    for action in agent.actions:
        if isinstance(action, ScheduleCallback):
            result.callback_at = action.at
    if outcome is None:
        result.findings.append(
            Finding(
                Misbehaviour.NO_OUTCOME,
                int(end),
                "the call ended before the agent decided an outcome"
                + (" (the caller hung up)" if line.ended_by == "contact" else ""),
            )
        )
    return result


def final_outcome(result: Talk) -> str:
    """The outcome the session would store (`sessions.live.conversation._final_outcome`'s
    rules for a human call): the agent's, else what the caller had expressed."""
    if result.outcome:
        return result.outcome
    if result.contact_spoke and result.hung_up_by == "contact":
        if result.stance == Stance.NEGATIVE:
            return "not_interested"
        if result.stance == Stance.ENGAGED:
            return "completed"
    return "no_conversation"


__all__ = ["EventKind", "LatencyModel", "Misbehaviour", "Talk", "final_outcome", "talk"]
