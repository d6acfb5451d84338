"""One call's life: queue, dial, ring, answer (or not), AMD, TwiML, hang-up, final callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from . import amd, errors
from .call_audio import CallAudio
from .callbacks import StatusCallbacks, UrlRewriter, Webhooks, call_params
from .callee import LineCallee
from .calls import (
    CANCELED,
    COMPLETED,
    IN_PROGRESS,
    INITIATED,
    RINGING,
    SimulatedCall,
    new_sid,
)
from .conference import Conferences
from .errors import TwilioError
from .executor import TwimlExecutor
from .personas import ANSWER, BUSY, NO_ANSWER, persona_for
from .twiml import Dial, Say, TwimlError, Verb, parse_twiml
from .voice import Voice

# Seconds from dialling to the first ring (scaled by time_scale).
DIAL_SECONDS = 0.5
# Bound on waiting for the final callbacks before the call counts as fully ended.
CALLBACK_DRAIN_SECONDS = 20.0
APPLICATION_ERROR = 11200


@dataclass
class Environment:
    """What every call shares: credentials, timing, the voice, HTTP, where things listen."""

    account_sid: str
    auth_token: str
    time_scale: float
    voice: Voice
    session: aiohttp.ClientSession
    webhooks: Webhooks
    rewrite: UrlRewriter
    base_url: Callable[[], str]
    conferences: Conferences


class CallRunner:
    def __init__(self, env: Environment, call: SimulatedCall) -> None:
        self.env = env
        self.call = call
        self.dispatched = asyncio.Event()
        self.callbacks = StatusCallbacks(env.webhooks, call)
        self.executor: TwimlExecutor | None = None
        self._audio: CallAudio | None = None
        self._callee: LineCallee | None = None
        self._side_tasks: list[asyncio.Future[Any]] = []
        self._amd_post: asyncio.Future[Any] | None = None
        self._machine_detection_ms = 0

    def send_dtmf(self, digit: str) -> bool:
        stream = self.executor.stream if self.executor else None
        return stream.send_dtmf(digit) if stream is not None else False

    async def run(self) -> None:
        try:
            status = await self._run()
        except asyncio.CancelledError:
            # The simulator is shutting down: end the call as a hang-up would.
            status = COMPLETED if self.call.answered_at is not None else CANCELED
            await self._finish(status)
            raise
        await self._finish(status)

    async def _run(self) -> str:
        call = self.call
        persona = call.persona
        if not await self._first(self.dispatched.wait()):
            return CANCELED
        call.start_time = datetime.now(UTC)
        call.set_status(INITIATED)
        self.callbacks.event("initiated")
        self.env.voice.prefetch(persona.lines)
        if persona.outcome not in (ANSWER, NO_ANSWER):
            # Busy and failed never ring: the network answers before the phone does.
            ended = await self._sleep_unless_ended(persona.ring_seconds)
            return CANCELED if ended else persona.outcome
        if await self._sleep_unless_ended(DIAL_SECONDS):
            return CANCELED
        call.set_status(RINGING)
        self.callbacks.event("ringing")
        timeout = call.request.timeout
        answers = persona.outcome == ANSWER and persona.ring_seconds <= timeout
        if await self._sleep_unless_ended(persona.ring_seconds if answers else timeout):
            return CANCELED
        if not answers:
            return NO_ANSWER
        await self._answered()
        return COMPLETED

    async def _answered(self) -> None:
        call, env = self.call, self.env
        request = call.request
        call.answered_at = time.monotonic()
        call.set_status(IN_PROGRESS)
        self.callbacks.event("answered")
        self._audio = call_audio = CallAudio(call.log, record=request.record)
        if request.record:
            call.recording_sid = new_sid("RE")
            call.recording_started_at = datetime.now(UTC)
            call.recording_callback = request.recording_status_callback
            call.log.add(
                "recording_started", recording_sid=call.recording_sid, source="OutboundAPI"
            )
        call_audio.start()
        self._callee = callee = LineCallee(call, call_audio, env.voice, send_dtmf=self.send_dtmf)
        if call.persona.script is not None:
            self._spawn(call.persona.script(callee))
        self._spawn(self._enforce_time_limit())
        if request.machine_detection:
            if request.async_amd:
                self._spawn(self._detect_and_post())
            elif not await self._first(self._detect()):
                return
        self.executor = TwimlExecutor(
            call=call,
            call_audio=call_audio,
            voice=env.voice,
            session=env.session,
            auth_token=env.auth_token,
            rewrite=env.rewrite,
            dial=self._dial,
            conferences=env.conferences,
            webhooks=env.webhooks,
        )
        target: list[Verb] | str = request.twiml if request.twiml is not None else request.url or ""
        while True:
            call.redirected.clear()
            verbs = await self._load(target)
            if verbs is None:
                return
            execution = asyncio.create_task(self.executor.run(verbs), name=f"twiml-{call.sid}")
            redirected = asyncio.create_task(call.redirected.wait())
            end_requested = asyncio.create_task(call.end_requested.wait())
            await asyncio.wait(
                {execution, redirected, end_requested}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (execution, redirected, end_requested):
                task.cancel()
            await asyncio.gather(execution, redirected, end_requested, return_exceptions=True)
            if call.end_requested.is_set() or not call.redirected.is_set():
                return
            assert call.redirect_to is not None
            target = call.redirect_to

    async def _load(self, target: list[Verb] | str) -> list[Verb] | None:
        """Verbs to run: as given, or fetched from our `Url` like Twilio does (signed POST)."""
        if isinstance(target, list):
            return target
        call = self.call
        status, body = await self.env.webhooks.send_logged(
            call.log, "twiml_fetch", target, call_params(call), method=call.request.method
        )
        try:
            if status != 200:
                raise TwimlError(f"TwiML URL answered {status}")
            return parse_twiml(body)
        except TwimlError as error:
            # Twilio says "an application error has occurred" and hangs up.
            call.log.add("error", code=APPLICATION_ERROR, message=str(error))
            return None

    async def _dial(self, dial: Dial) -> list[Verb] | None:
        """`<Dial>`: ring the number's persona (the transfer targets are personas 18 and 19);
        when it answers, what it says is played to the callee, then it hangs up. The leg's
        result goes to the Dial's `action` (signed, like every webhook) and its answer is
        what the call does next."""
        call, env = self.call, self.env
        persona = persona_for(dial.number)
        leg_sid = new_sid("CA")
        call.log.add("dial", leg_sid=leg_sid, number=dial.number, persona=persona.key)
        duration = 0
        if persona.outcome not in (ANSWER, NO_ANSWER):
            await asyncio.sleep(persona.ring_seconds * env.time_scale)
            status = "busy" if persona.outcome == BUSY else "failed"
        elif persona.outcome == NO_ANSWER or persona.ring_seconds > dial.timeout:
            await asyncio.sleep(dial.timeout * env.time_scale)
            status = "no-answer"
        else:
            await asyncio.sleep(persona.ring_seconds * env.time_scale)
            call.log.add("dial_answered", leg_sid=leg_sid, number=dial.number)
            answered = time.monotonic()
            if dial.whisper_url:
                await self._whisper(dial, leg_sid)
            assert self._audio is not None
            for line in persona.lines:
                ulaw = await env.voice.synthesize(line)
                call.log.add("played", source="dial", text=line, bytes=len(ulaw))
                await self._audio.play(ulaw)
            status = "completed"
            duration = math.ceil(time.monotonic() - answered)
        call.log.add("dial_ended", leg_sid=leg_sid, status=status, duration=duration)
        if not dial.action:
            return None
        params = {
            **call_params(call),
            "DialCallSid": leg_sid,
            "DialCallStatus": status,
            "DialCallDuration": str(duration),
        }
        code, body = await env.webhooks.send_logged(
            call.log, "dial_action", dial.action, params, method=dial.method
        )
        try:
            if code != 200:
                raise TwimlError(f"Dial action URL answered {code}")
            return parse_twiml(body)
        except TwimlError as error:
            call.log.add("error", code=APPLICATION_ERROR, message=str(error))
            return []

    async def _whisper(self, dial: Dial, leg_sid: str) -> None:
        """`<Number url>`: fetch the TwiML for the person who answered (signed, like every
        webhook) and "play" its `<Say>`s to them (logged `dial_whisper`, taking their audio's
        time; the caller hears nothing meanwhile), before the two are connected."""
        call, env = self.call, self.env
        assert dial.whisper_url is not None
        params = {**call_params(call), "CallSid": leg_sid, "ParentCallSid": call.sid}
        code, body = await env.webhooks.send_logged(
            call.log, "dial_whisper_fetch", dial.whisper_url, params, method=dial.whisper_method
        )
        try:
            if code != 200:
                raise TwimlError(f"Number url answered {code}")
            verbs = parse_twiml(body)
        except TwimlError as error:
            call.log.add("error", code=APPLICATION_ERROR, message=str(error))
            return
        for verb in verbs:
            if isinstance(verb, Say):
                ulaw = await env.voice.synthesize(verb.text)
                call.log.add("dial_whisper", leg_sid=leg_sid, text=verb.text, bytes=len(ulaw))
                await asyncio.sleep(len(ulaw) / 8000)

    def start_recording(self, *, callback: str | None, method: str = "POST") -> SimulatedCall:
        """The Call Recordings resource: record what the line carries from now on (nothing
        played or said before this moment is in the file). Twilio answers 21220 for a call
        that is not in progress; the simulator keeps one recording per call."""
        call, call_audio = self.call, self._audio
        if call.status != IN_PROGRESS or call_audio is None or call.end_requested.is_set():
            raise TwilioError(
                400,
                errors.INVALID_CALL_STATE,
                "Call is not in-progress. Cannot create recording.",
            )
        if not call_audio.start_recording():
            raise TwilioError(400, errors.INVALID_PARAMETER, "The call is already being recorded.")
        call.recording_sid = new_sid("RE")
        call.recording_started_at = datetime.now(UTC)
        call.recording_source = "StartCallRecordingAPI"
        call.recording_callback, call.recording_callback_method = callback, method
        call.log.add(
            "recording_started", recording_sid=call.recording_sid, source=call.recording_source
        )
        return call

    async def _detect(self) -> None:
        assert self._audio is not None
        assert self._callee is not None
        answered_by, duration_ms = await amd.detect(
            persona=self.call.persona,
            callee=self._callee,
            call_audio=self._audio,
            request=self.call.request,
            time_scale=self.env.time_scale,
        )
        self.call.answered_by = answered_by
        self.call.log.add("amd", answered_by=answered_by, duration_ms=duration_ms)
        self._machine_detection_ms = duration_ms

    async def _detect_and_post(self) -> None:
        await self._detect()
        url = self.call.request.async_amd_status_callback
        if not url:
            return
        params = {
            "AccountSid": self.call.account_sid,
            "CallSid": self.call.sid,
            "AnsweredBy": self.call.answered_by or "unknown",
            "MachineDetectionDuration": str(self._machine_detection_ms),
        }
        # A verdict reached while the call was up reaches the app before the call's final
        # status callback (as Twilio's does): once decided, its delivery is not cancelled with
        # the call's side tasks, and `_finish` waits for it. Cancelled mid-request, the app
        # could apply it after `completed` (where a verdict no longer counts) or never.
        self._amd_post = asyncio.ensure_future(
            self.env.webhooks.send_logged(self.call.log, "amd_callback", url, params)
        )
        await asyncio.shield(self._amd_post)

    async def _enforce_time_limit(self) -> None:
        await asyncio.sleep(self.call.request.time_limit * self.env.time_scale)
        self.call.log.add("time_limit", seconds=self.call.request.time_limit)
        self.call.request_end(COMPLETED)

    async def _finish(self, status: str) -> None:
        call = self.call
        for task in self._side_tasks:
            task.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        if self._amd_post is not None:
            await asyncio.wait({self._amd_post}, timeout=CALLBACK_DRAIN_SECONDS)
        if self._audio is not None:
            await self._audio.stop()
        if self._callee is not None and (voicemail := self._callee.voicemail_summary()):
            call.log.add("persona", action="voicemail", **voicemail)
        call.end_time = datetime.now(UTC)
        call.duration = (
            math.ceil(time.monotonic() - call.answered_at) if call.answered_at is not None else 0
        )
        extra = {"CallDuration": str(call.duration)}
        recording = self._audio.recording if self._audio is not None else None
        if recording:
            call.recording_sid = call.recording_sid or new_sid("RE")
            call.recording = recording
            if call.request.record:
                # The final status callback carries the recording of `Record=true` calls.
                extra.update(self._recording_params())
        if call.request.machine_detection and call.answered_by is None and call.answered_at:
            call.answered_by = "unknown"
        call.set_status(status)
        self.callbacks.event("completed", extra)
        if recording and call.recording_callback:
            params = {
                "AccountSid": call.account_sid,
                "CallSid": call.sid,
                "RecordingStatus": "completed",
                "RecordingSource": call.recording_source,
                "RecordingChannels": "1",
                "RecordingTrack": "both",
                "ErrorCode": "0",
                **self._recording_params(),
            }
            await self.env.webhooks.send_logged(
                call.log,
                "recording_callback",
                call.recording_callback,
                params,
                method=call.recording_callback_method,
            )
        await self.callbacks.drain(CALLBACK_DRAIN_SECONDS)
        call.ended.set()

    def _recording_params(self) -> dict[str, str]:
        call = self.call
        assert call.recording is not None
        assert call.recording_sid is not None
        path = f"/2010-04-01/Accounts/{call.account_sid}/Recordings/{call.recording_sid}"
        return {
            "RecordingSid": call.recording_sid,
            "RecordingUrl": self.env.base_url() + path,
            "RecordingDuration": str(math.ceil(len(call.recording) / 8000)),
            "RecordingStartTime": (
                call.recording_started_at or call.start_time or call.date_created
            ).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        }

    # --- helpers ---------------------------------------------------------------------------
    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        self._side_tasks.append(asyncio.ensure_future(awaitable))

    async def _first(self, coroutine: Coroutine[Any, Any, Any]) -> bool:
        """Run `coroutine` unless the call is ended first; True when it completed."""
        work = asyncio.ensure_future(coroutine)
        ended = asyncio.ensure_future(self.call.end_requested.wait())
        await asyncio.wait({work, ended}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            return False
        work.result()
        return True

    async def _sleep_unless_ended(self, seconds: float) -> bool:
        """Sleep `seconds` (scaled); True when the call was ended meanwhile."""
        try:
            await asyncio.wait_for(self.call.end_requested.wait(), seconds * self.env.time_scale)
        except TimeoutError:
            return False
        return True
