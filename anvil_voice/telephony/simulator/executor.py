"""Executes a TwiML document against an answered call's audio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiohttp

from . import audio, dtmf
from .call_audio import CallAudio
from .callbacks import UrlRewriter, Webhooks, call_params
from .calls import SimulatedCall
from .conference import Conferences, Participant
from .media_stream import MediaStreamSession
from .twiml import (
    Conference,
    Connect,
    Dial,
    Hangup,
    Pause,
    Play,
    Say,
    TwimlError,
    Verb,
    parse_twiml,
)
from .voice import Voice

# `<Play loop="0">` means "forever"; the call ends it. Bound it anyway.
_FOREVER = 1000

# Rings and bridges a `<Dial>`; returns the verbs its action URL answered (None: carry on
# after the `<Dial>`, as Twilio does without an action).
Dialler = Callable[[Dial], Awaitable[list[Verb] | None]]


class TwimlExecutor:
    def __init__(
        self,
        *,
        call: SimulatedCall,
        call_audio: CallAudio,
        voice: Voice,
        session: aiohttp.ClientSession,
        auth_token: str,
        rewrite: UrlRewriter,
        dial: Dialler | None = None,
        conferences: Conferences | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self._call = call
        self._audio = call_audio
        self._voice = voice
        self._session = session
        self._auth_token = auth_token
        self._rewrite = rewrite
        self._dial = dial
        self._conferences = conferences
        self._webhooks = webhooks
        self.stream: MediaStreamSession | None = None

    async def run(self, verbs: list[Verb]) -> None:
        """Run the verbs in order; returns at `<Hangup/>` or the end of the document."""
        log = self._call.log
        for verb in verbs:
            match verb:
                case Say(text=text, loop=loop):
                    log.add("twiml", verb="Say", text=text, loop=loop)
                    ulaw = await self._voice.synthesize(text)
                    for _ in range(loop or _FOREVER):
                        log.add("played", source="say", text=text, bytes=len(ulaw))
                        await self._audio.play(ulaw)
                case Play(digits=digits) if digits:
                    # Tones on the call, heard by the callee like any audio (`heard_digit`).
                    log.add("twiml", verb="Play", digits=digits)
                    await self._audio.play(dtmf.keys_ulaw(digits))
                case Play(url=url, loop=loop):
                    log.add("twiml", verb="Play", url=url, loop=loop)
                    ulaw, decoded = await self._fetch_audio(url)
                    for _ in range(loop or _FOREVER):
                        log.add("played", source="play", url=url, bytes=len(ulaw), decoded=decoded)
                        await self._audio.play(ulaw)
                case Pause(length=length):
                    log.add("twiml", verb="Pause", length=length)
                    await self._audio.wait_frames(round(length / audio.FRAME_SECONDS))
                case Hangup():
                    log.add("twiml", verb="Hangup")
                    return
                case Dial(conference=Conference() as conference) if self._conferences:
                    log.add(
                        "twiml",
                        verb="Dial/Conference",
                        name=conference.name,
                        start_on_enter=conference.start_on_enter,
                        end_on_exit=conference.end_on_exit,
                        wait_url=conference.wait_url,
                    )
                    # No action URL is simulated here: the call goes on after the `<Dial>`.
                    await self._conference(conference)
                case Dial() if self._dial is not None and verb.conference is None:
                    log.add("twiml", verb="Dial", timeout=verb.timeout, action=verb.action)
                    after = await self._dial(verb)
                    if after is not None:
                        # Twilio runs the action's answer instead of what followed the Dial.
                        await self.run(after)
                        return
                case Dial():
                    raise TwimlError("<Dial> is not available here")
                case Connect(stream=stream):
                    self._call.streams_started += 1
                    log.add(
                        "twiml",
                        verb="Connect/Stream",
                        url=stream.url,
                        parameters=dict(stream.parameters),
                    )
                    self.stream = MediaStreamSession(
                        call=self._call,
                        stream=stream,
                        call_audio=self._audio,
                        session=self._session,
                        auth_token=self._auth_token,
                        rewrite=self._rewrite,
                    )
                    try:
                        await self.stream.run()
                    finally:
                        self.stream = None

    async def _conference(self, conference: Conference) -> None:
        """Be in the conference until it ends for this call (or the call moves on: a redirect
        or a hang-up cancels this, and leaving may end it for the others)."""
        assert self._conferences is not None
        room = self._conferences.get(conference.name)
        me = Participant(
            call=self._call,
            line=self._audio,
            start_on_enter=conference.start_on_enter,
            end_on_exit=conference.end_on_exit,
        )
        room.join(me)
        holding: asyncio.Task[None] | None = None
        try:
            if not room.started.is_set() and conference.wait_url:
                holding = asyncio.create_task(self._hold(conference, room.sid))
            started = asyncio.create_task(room.started.wait())
            done = asyncio.create_task(me.done.wait())
            try:
                await asyncio.wait({started, done}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                started.cancel()
            if holding is not None:
                holding.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await holding
                holding = None
                self._audio.clear_playback()  # the hold audio stops when the other joins
            await done
        finally:
            if holding is not None:
                holding.cancel()
            room.leave(me)

    async def _hold(self, conference: Conference, conference_sid: str) -> None:
        """The `waitUrl`: fetched like every webhook (signed), its TwiML played until cancelled."""
        assert conference.wait_url is not None
        assert self._webhooks is not None
        params = {
            **call_params(self._call),
            "ConferenceSid": conference_sid,
            "FriendlyName": conference.name,
        }
        status, body = await self._webhooks.send_logged(
            self._call.log,
            "conference_wait_fetch",
            conference.wait_url,
            params,
            method=conference.wait_method,
        )
        try:
            if status != 200:
                raise TwimlError(f"waitUrl answered {status}")
            verbs: list[Verb] = [
                verb for verb in parse_twiml(body) if isinstance(verb, Play | Say | Pause)
            ]
        except TwimlError as error:
            self._call.log.add("error", code=11200, message=str(error))
            return
        await self.run(verbs)

    async def _fetch_audio(self, url: str) -> tuple[bytes, bool]:
        """The audio at `url` as mu-law, or a 1 s placeholder tone when it cannot be decoded.

        Only 8 kHz mono WAV decodes here; anything else still "plays" (as the tone) so the call
        flow and the log stay the same as at Twilio.
        """
        try:
            async with self._session.get(
                self._rewrite(url), timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                body = await response.read() if response.status == 200 else b""
        except (aiohttp.ClientError, TimeoutError):
            body = b""
        ulaw = audio.wav_to_ulaw(body) if body else None
        if ulaw is None:
            return audio.tone(1.0, frequency=660.0), False
        return ulaw, True
