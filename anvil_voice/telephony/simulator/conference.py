"""Conferences: calls that `<Dial><Conference>` the same name hear each other.

A conference starts when a participant with `startConferenceOnEnter=true` is in it; until then
the others wait (their executor plays the `waitUrl`). Once started, each 20 ms frame a
participant's callee says is queued on every other participant's line (their "playback": what
their callee hears), so the two people talk through it as on a bridge. A participant leaving
with `endConferenceOnExit=true` ends it for everybody: their `<Dial>` returns and their TwiML
goes on after it. The first speech a participant hears from another one is logged on that
participant's call (`conference_heard`, when it has played), which is how a test (and the
transfer benchmark) knows when the caller heard the person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from . import audio
from .call_audio import CallAudio, Marker
from .calls import SimulatedCall, new_sid


@dataclass(eq=False)
class Participant:
    call: SimulatedCall
    line: CallAudio
    start_on_enter: bool
    end_on_exit: bool
    # Set when the conference ends for this participant (it ended, or they were removed).
    done: asyncio.Event = field(default_factory=asyncio.Event)
    heard_from: set[str] = field(default_factory=set)


class Conference:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sid = new_sid("CF")
        self.participants: list[Participant] = []
        self.started = asyncio.Event()
        self.ended = False

    def join(self, participant: Participant) -> None:
        self.participants.append(participant)
        participant.call.log.add(
            "conference_joined",
            name=self.name,
            conference_sid=self.sid,
            start_on_enter=participant.start_on_enter,
            end_on_exit=participant.end_on_exit,
        )

        async def carry(frame: bytes) -> None:
            self._carry(participant, frame)

        participant.line.inbound_listener = carry
        if participant.start_on_enter and not self.started.is_set():
            self.started.set()
            for each in self.participants:
                each.call.log.add("conference_started", name=self.name, conference_sid=self.sid)

    def leave(self, participant: Participant) -> None:
        if participant not in self.participants:
            return
        self.participants.remove(participant)
        participant.line.inbound_listener = None
        participant.done.set()
        participant.call.log.add("conference_left", name=self.name, conference_sid=self.sid)
        if participant.end_on_exit or not self.participants:
            self.end()

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for each in list(self.participants):
            each.call.log.add("conference_ended", name=self.name, conference_sid=self.sid)
            each.line.inbound_listener = None
            each.done.set()
        self.participants.clear()

    def _carry(self, speaker: Participant, frame: bytes) -> None:
        if not self.started.is_set() or self.ended:
            return
        for listener in self.participants:
            if listener is speaker:
                continue
            listener.line.enqueue_playback(frame)
            if speaker.call.sid not in listener.heard_from and audio.is_speech(frame):
                listener.heard_from.add(speaker.call.sid)
                listener.line.enqueue_marker(
                    Marker(_log_heard(listener.call, speaker.call.sid, self.name))
                )


def _log_heard(call: SimulatedCall, source: str, name: str) -> Callable[[bool], None]:
    def fire(_cleared: bool) -> None:
        call.log.add("conference_heard", from_call_sid=source, name=name)

    return fire


class Conferences:
    """Every conference of the account, by name (created on first join, forgotten at end)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Conference] = {}

    def get(self, name: str) -> Conference:
        conference = self._by_name.get(name)
        if conference is None or conference.ended:
            conference = self._by_name[name] = Conference(name)
        return conference
