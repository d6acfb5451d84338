"""Outbound audio timing: keep a little audio queued at Twilio, and know what was heard.

Twilio plays what we send at real-time rate and buffers the rest. Sending a whole reply at
once would make `clear` the only way to stop it and would leave us guessing what the caller
heard; sending just in time would stutter on any network hiccup. The pacer keeps between
``low_water`` and ``lead`` seconds queued (refilling in bursts, so a speaking call wakes a few
times a second, not 50 times).

`AgentSpeech` records, per agent turn, the chunks sent with their mark names; Twilio echoes a
mark once the audio before it has played, so echoed marks are the ground truth of what the
caller heard. On barge-in the turn's text is cut to that (see `heard_text`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sessions.pipeline.clock import Clock

FRAME_SECONDS = 0.020


class Pacer:
    def __init__(self, clock: Clock, *, lead: float = 0.2, low_water: float = 0.1) -> None:
        if not 0 <= low_water < lead:
            raise ValueError("need 0 <= low_water < lead")
        self._clock = clock
        self.lead = lead
        self.low_water = low_water
        # Clock time at which everything sent so far will have played.
        self.play_cursor = 0.0

    def queued_ahead(self) -> float:
        return max(0.0, self.play_cursor - self._clock.now())

    async def wait_for_room(self) -> None:
        # (A microsecond of slack: 10 x 0.02 s is not exactly 0.2 s in floating point.)
        if self.queued_ahead() >= self.lead - 1e-6:
            await self._clock.sleep_until(self.play_cursor - self.low_water)

    def sent_frame(self) -> None:
        self.play_cursor = max(self.play_cursor, self._clock.now()) + FRAME_SECONDS

    def reset(self) -> None:
        """After `clear`: Twilio dropped its buffer."""
        self.play_cursor = self._clock.now()


@dataclass(slots=True)
class SpokenChunk:
    text: str
    mark: str
    frames_produced: int = 0  # by the TTS so far
    frames_sent: int = 0  # handed to Twilio
    synthesized: bool = False  # all of its audio was produced (frames_produced is final)
    heard: bool = False  # its mark came back


@dataclass(slots=True)
class AgentSpeech:
    """One agent turn on the wire."""

    index: int
    chunks: list[SpokenChunk] = field(default_factory=list)
    first_frame_ms: int | None = None  # stream time of the first frame sent
    interrupted: bool = False
    cut_ms: int | None = None  # stream time of the barge-in
    # Frames of this turn still queued at Twilio when it was cut off (estimated by the pacer).
    unplayed_frames_at_cut: int = 0

    @property
    def frames_sent(self) -> int:
        return sum(chunk.frames_sent for chunk in self.chunks)

    @property
    def all_heard(self) -> bool:
        return all(chunk.heard for chunk in self.chunks)

    def mark_echoed(self, name: str) -> bool:
        """Marks come back in order: this one and every earlier one have played."""
        for position, chunk in enumerate(self.chunks):
            if chunk.mark == name:
                for earlier in self.chunks[: position + 1]:
                    earlier.heard = True
                return True
        return False

    def heard_text(self, *, ms_per_char: float) -> str:
        """What the caller heard of this turn.

        Chunks whose marks were echoed count whole. Beyond those, the pacer's estimate of
        frames already played is spent chunk by chunk; the chunk it runs out in keeps the same
        share of its words, rounded down (a word cut in half is dropped). For a chunk whose
        synthesis had not finished, its length is estimated from the text (``ms_per_char``)
        so a half-synthesised sentence is not counted as fully heard.
        """
        played = max(0, self.frames_sent - self.unplayed_frames_at_cut)
        words: list[str] = []
        for chunk in self.chunks:
            if chunk.heard:
                words.append(chunk.text)
                played -= chunk.frames_sent
                continue
            total = chunk.frames_produced
            if not chunk.synthesized:
                total = max(total, math.ceil(len(chunk.text) * ms_per_char / 20))
            if total <= 0:
                break
            if played >= total:
                words.append(chunk.text)
                played -= total
                continue
            if played > 0:
                split = chunk.text.split()
                keep = math.floor(len(split) * played / total)
                if keep:
                    words.append(" ".join(split[:keep]))
            break
        return " ".join(words)
