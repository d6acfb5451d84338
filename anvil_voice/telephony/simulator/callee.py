"""The person (or machine) on the far end: how a persona script talks and listens on the line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from . import audio
from .call_audio import TURN_SILENCE_FRAMES, CallAudio
from .calls import COMPLETED, SimulatedCall
from .voice import Voice

BEEP = audio.tone(0.5, frequency=1000.0)


class LineCallee:
    """Implements the `personas.Callee` protocol on top of a call's audio."""

    def __init__(
        self,
        call: SimulatedCall,
        call_audio: CallAudio,
        voice: Voice,
        *,
        send_dtmf: Callable[[str], bool] | None = None,
    ) -> None:
        self._call = call
        self._audio = call_audio
        self._voice = voice
        self._send_dtmf = send_dtmf
        # Agent speech frames heard when the persona last finished talking: a turn ends only
        # after agent speech that came after that point. (From the end, not the start: after
        # talking over the agent, a person waits for the answer, not for the tail of the
        # sentence they cut off.)
        self._turn_mark = 0
        self.first_line_done = asyncio.Event()
        self.beep_done = asyncio.Event()
        self.beep_at: float | None = None
        self.speech_frames_at_beep = 0

    async def say(self, text: str) -> None:
        ulaw = await self._voice.synthesize(text)
        entry = self._call.log.add("persona_said", text=text, duration_ms=len(ulaw) // 8)
        await self._audio.speak(ulaw)
        self._turn_mark = self._audio.ears.speech_frames
        # When the last frame went out: lets a test wait for the whole line to be heard.
        entry["done_t"] = self._call.log.now()
        # When the last *speech* frame went out: a voice's clip ends in silence, and the
        # caller's end of speech (what reply latency is measured from) is before it.
        silent = audio.trailing_silence_frames(ulaw) * audio.FRAME_SECONDS
        entry["speech_end_t"] = round(entry["done_t"] - silent, 3)
        self.first_line_done.set()

    async def pause(self, seconds: float) -> None:
        await self._audio.wait_frames(round(seconds / audio.FRAME_SECONDS))

    async def wait_for_agent_turn(self) -> None:
        mark = self._turn_mark
        ears = self._audio.ears
        await self._audio.wait_until(
            lambda: (
                ears.speech_frames > mark
                and ears.silence_run >= TURN_SILENCE_FRAMES
                and not self._audio.callee_speaking
            )
        )

    async def wait_for_agent_speech(self, seconds: float) -> None:
        ears = self._audio.ears
        mark = ears.speech_frames
        needed = round(seconds / audio.FRAME_SECONDS)
        await self._audio.wait_until(lambda: ears.speech_frames - mark >= needed)

    async def beep(self) -> None:
        await self._audio.speak(BEEP)
        self.beep_at = self._call.log.now()
        self.speech_frames_at_beep = self._audio.ears.speech_frames
        self.note("beep")
        self.beep_done.set()

    async def press(self, digit: str) -> None:
        """Press a key: Twilio sends our server a `dtmf` message (not the tone). Logged with
        whether a Media Stream was open to carry it."""
        sent = self._send_dtmf(digit) if self._send_dtmf is not None else False
        self._call.log.add("persona_pressed", digit=digit, sent=sent)
        # A finger on a key: the next thing the persona does is not in the same instant.
        await self.pause(0.1)

    async def wait_for_digit(self, seconds: float, *, since: int) -> str | None:
        """The first key the agent pressed after `since` keys heard (at once when one already
        was), or None after `seconds` of stream time: how a phone menu listens between its
        prompts."""
        ears = self._audio.ears
        target = ears.frame + round(seconds / audio.FRAME_SECONDS)
        await self._audio.wait_until(lambda: len(ears.digits) > since or ears.frame >= target)
        return ears.digits[since] if len(ears.digits) > since else None

    async def wait_for_stream(self, number: int) -> None:
        """Wait until the call's `number`-th `<Connect><Stream>` began (a caller sent back to
        the agent), then listen afresh: only agent speech from then on ends a turn."""
        call = self._call
        await self._audio.wait_until(lambda: call.streams_started >= number)
        self._turn_mark = self._audio.ears.speech_frames

    @property
    def heard_digits(self) -> str:
        """The keys the agent has pressed so far (in-band tones the callee heard)."""
        return self._audio.ears.digits

    def note(self, action: str, **fields: object) -> None:
        self._call.log.add("persona", action=action, **fields)

    def hang_up(self) -> None:
        self.note("hung_up")
        self._call.request_end(COMPLETED)

    def voicemail_summary(self) -> dict[str, object] | None:
        """What was left on the voicemail after the beep, for the log."""
        if self.beep_at is None:
            return None
        beep_at = self.beep_at
        played = [
            entry
            for entry in self._call.log.of_kind("played")
            if entry["t"] >= beep_at - audio.FRAME_SECONDS
        ]
        return {
            "message_ms": (self._audio.ears.speech_frames - self.speech_frames_at_beep) * 20,
            "said": [entry["text"] for entry in played if "text" in entry],
            "played_urls": [entry["url"] for entry in played if "url" in entry],
        }
