"""Executes a TwiML document against an answered call's audio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from . import audio, dtmf
from .call_audio import CallAudio
from .callbacks import UrlRewriter
from .calls import SimulatedCall
from .media_stream import MediaStreamSession
from .twiml import Connect, Dial, Hangup, Pause, Play, Say, TwimlError, Verb
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
    ) -> None:
        self._call = call
        self._audio = call_audio
        self._voice = voice
        self._session = session
        self._auth_token = auth_token
        self._rewrite = rewrite
        self._dial = dial
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
                case Dial() if self._dial is not None:
                    log.add("twiml", verb="Dial", timeout=verb.timeout, action=verb.action)
                    after = await self._dial(verb)
                    if after is not None:
                        # Twilio runs the action's answer instead of what followed the Dial.
                        await self.run(after)
                        return
                case Dial():
                    raise TwimlError("<Dial> is not available here")
                case Connect(stream=stream):
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
