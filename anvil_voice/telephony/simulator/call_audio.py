"""The audio of one answered call, advanced by a 20 ms clock.

Each tick moves one frame in each direction, like a phone line:

- callee -> agent ("inbound"): the persona's queued speech, or silence, handed to whoever
  listens (the Media Stream, when one is connected);
- agent -> callee ("playback"): one frame from the playback buffer, which `<Say>`/`<Play>` and
  the Media Stream fill. Markers sit between audio chunks and fire once the audio before them
  has played: that is how stream `mark`s are echoed at the right moment.

The callee's "ears" (speech/silence state of the played audio) are updated on the same tick, so
turn-taking is measured in stream time and not in wall-clock guesses.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import audio
from .dtmf import DtmfDetector
from .log import CallLog

InboundListener = Callable[[bytes], Awaitable[None]]
# Frames of silence after agent speech that end an agent utterance (600 ms).
TURN_SILENCE_FRAMES = 30
# If the event loop falls this far behind, resynchronise instead of bursting frames.
MAX_LAG_SECONDS = 0.2


@dataclass
class Marker:
    """A point in the playback buffer; `fire(cleared)` runs when playback reaches it."""

    fire: Callable[[bool], None]


class Ears:
    """What the callee has heard from the agent, in 20 ms frames of stream time, and the keys
    the agent pressed (in-band tones, logged as ``heard_digit``)."""

    def __init__(self, log: CallLog) -> None:
        self._log = log
        self._keypad = DtmfDetector()
        self.digits = ""
        self.frame = 0
        self.speech_frames = 0
        self.silence_run = TURN_SILENCE_FRAMES
        self.utterances = 0
        self._utterance_start: float | None = None
        self._utterance_frames = 0

    def hear(self, frame: bytes | None) -> None:
        self.frame += 1
        key = self._keypad.feed(frame if frame is not None else audio.SILENCE_FRAME)
        if key is not None:
            self.digits += key
            self._log.add("heard_digit", digit=key, frame=self.frame)
        if frame is not None and audio.is_speech(frame):
            if self.silence_run >= TURN_SILENCE_FRAMES:
                self.utterances += 1
                self._utterance_start = self._log.now()
                self._utterance_frames = 0
            self.speech_frames += 1
            self.silence_run = 0
            self._utterance_frames += 1
            return
        self.silence_run += 1
        if self.silence_run == TURN_SILENCE_FRAMES:
            self.finish()

    def finish(self) -> None:
        """Log the utterance in progress, if any (also when the call ends mid-utterance)."""
        if self._utterance_start is not None:
            self._log.add(
                "agent_utterance",
                start_t=self._utterance_start,
                duration_ms=self._utterance_frames * 20,
            )
            self._utterance_start = None


class CallAudio:
    def __init__(self, log: CallLog, *, record: bool) -> None:
        self._log = log
        self.ears = Ears(log)
        self.recording: bytearray | None = bytearray() if record else None
        self.inbound_listener: InboundListener | None = None
        self._speech = bytearray()
        self._speech_done: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._spoken_bytes = 0
        self._playback: deque[bytes | Marker] = deque()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-audio")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Nothing will play any more: release everybody waiting on audio or on a condition.
        self.ears.finish()
        self.clear_playback()
        for _, future in self._speech_done:
            _resolve(future)
        self._speech_done.clear()
        for _, future in self._waiters:
            _resolve(future)
        self._waiters.clear()

    def start_recording(self) -> bool:
        """Record from the next tick on (the Call Recordings resource); False when already."""
        if self.recording is not None:
            return False
        self.recording = bytearray()
        return True

    # --- callee side -----------------------------------------------------------------------
    def speak(self, ulaw: bytes) -> asyncio.Future[None]:
        """Queue callee speech; the future resolves once its last frame has been sent."""
        self._speech.extend(ulaw)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._speech_done.append((self._spoken_bytes + len(self._speech), future))
        return future

    @property
    def callee_speaking(self) -> bool:
        return bool(self._speech)

    # --- agent side ------------------------------------------------------------------------
    def enqueue_playback(self, ulaw: bytes) -> None:
        if ulaw:
            self._playback.append(ulaw)

    def enqueue_marker(self, marker: Marker) -> None:
        self._playback.append(marker)
        self._fire_reached_markers()

    def play(self, ulaw: bytes) -> asyncio.Future[None]:
        """Queue audio for the callee; the future resolves once it has all played."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.enqueue_playback(ulaw)
        self.enqueue_marker(Marker(lambda _cleared: _resolve(future)))
        return future

    def clear_playback(self) -> tuple[int, int]:
        """Drop buffered audio and fire every pending marker at once: (bytes, markers)."""
        dropped = fired = 0
        while self._playback:
            item = self._playback.popleft()
            if isinstance(item, Marker):
                item.fire(True)
                fired += 1
            else:
                dropped += len(item)
        return dropped, fired

    @property
    def buffered_playback_bytes(self) -> int:
        return sum(len(item) for item in self._playback if isinstance(item, bytes))

    # --- waiting in stream time ------------------------------------------------------------
    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds, checked after every tick."""
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((condition, future))
        await future

    async def wait_frames(self, frames: int) -> None:
        target = self.ears.frame + frames
        await self.wait_until(lambda: self.ears.frame >= target)

    # --- the clock -------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while True:
            tick += 1
            delay = start + tick * audio.FRAME_SECONDS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -MAX_LAG_SECONDS:
                start = loop.time() - tick * audio.FRAME_SECONDS
            await self._tick()

    async def _tick(self) -> None:
        inbound = self._next_inbound()
        if self.inbound_listener is not None:
            await self.inbound_listener(inbound)
        played = self._next_playback()
        self.ears.hear(played)
        if self.recording is not None:
            self.recording.extend(audio.mix(inbound, played or audio.SILENCE_FRAME))
        self._fire_reached_markers()
        self._check_waiters()

    def _next_inbound(self) -> bytes:
        if not self._speech:
            return audio.SILENCE_FRAME
        frame = bytes(self._speech[: audio.FRAME_BYTES])
        del self._speech[: audio.FRAME_BYTES]
        self._spoken_bytes += len(frame)
        while self._speech_done and self._speech_done[0][0] <= self._spoken_bytes:
            _resolve(self._speech_done.popleft()[1])
        return audio.pad_frame(frame)

    def _next_playback(self) -> bytes | None:
        """Take up to one frame of agent audio, across chunk boundaries; None when idle."""
        frame = bytearray()
        while self._playback and len(frame) < audio.FRAME_BYTES:
            head = self._playback[0]
            if isinstance(head, Marker):
                # A marker ends the audio before it: fire it once that audio has played.
                if frame:
                    break
                self._playback.popleft()
                head.fire(False)
                continue
            needed = audio.FRAME_BYTES - len(frame)
            frame.extend(head[:needed])
            if len(head) > needed:
                self._playback[0] = head[needed:]
            else:
                self._playback.popleft()
        return audio.pad_frame(bytes(frame)) if frame else None

    def _fire_reached_markers(self) -> None:
        while self._playback and isinstance(self._playback[0], Marker):
            marker = self._playback.popleft()
            assert isinstance(marker, Marker)
            marker.fire(False)

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        pending = []
        for condition, future in self._waiters:
            if future.done():
                continue
            if condition():
                future.set_result(None)
            else:
                pending.append((condition, future))
        self._waiters = pending


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
