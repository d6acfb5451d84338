"""The live call: `MediaStreamConsumer` plus the speech pipeline, the database and the monitor.

`LiveCallConsumer` is what the `/ws/twilio/media/<token>/` route serves. On Twilio's `start`
it loads the session's setup (script snapshot, variables, voice), builds a `CallPipeline`
(agent, recogniser, voice) and feeds it every frame; `DatabaseSink` stores each transcript turn
as it happens and broadcasts it to the session's, campaign's and organization's groups. The
call's voice sits behind the process's TTS cache, and as the stream starts the sentences the
call is likely to say (the opening first) are synthesised into it (`warm_voice`), so the
opening and the scripted replies start without waiting for TTS.

With `settings.CALL_PIPELINE` off (or a session without a script version) the consumer only
records the stream's start and stop, as the telephony layer alone does.

Ordering that matters (see `sessions.live.conversation`): the agent's outcome is written before we
ask the carrier to hang up, and `session_finished` waits for the conversation's close.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import logging
from typing import Any, Literal

import orjson
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from anvil_voice import usage
from anvil_voice.privacy.redaction import redact_value
from anvil_voice.speech.cache import CachingVoiceProvider
from anvil_voice.speech.protocols import VoiceProvider
from anvil_voice.speech.registry import get_streaming_stt, get_voice_provider
from anvil_voice.telephony.carrier import get_carrier
from scripts.engine import (
    Agent,
    CallContext,
    EngineEvent,
    EventKind,
    LLMAgent,
    LLMConfig,
    Outcome,
    ScheduleCallback,
    ScriptedAgent,
    ScriptSpec,
    TransferCall,
    TransferReturnAgent,
    contact_stance,
)
from scripts.tool_http import HttpToolRunner
from sessions.carrier.recording import session_disclosure_played
from sessions.carrier.status import session_hang_up
from sessions.live import groups
from sessions.live.conversation import (
    CallSetup,
    ConversationResult,
    session_conversation_close,
    session_conversation_note,
    session_conversation_open,
    session_conversation_resume,
    session_note_no_voicemail_message,
)
from sessions.live.listen import INBOUND, OUTBOUND, ListenTap
from sessions.live.media_stream import MediaStreamConsumer
from sessions.live.stream import StreamStart
from sessions.models import CallEvent, TranscriptTurn
from sessions.pipeline import (
    CallEndReason,
    CallPipeline,
    PipelineConfig,
    PipelineEvent,
    PipelineEventKind,
    PipelineResult,
    StreamingRecognizer,
    Turn,
)
from sessions.pipeline.warm_up import call_sentences
from sessions.privacy import LiveRedactor
from sessions.transfers import (
    RETURN_PARAMETER,
    session_transfer_resume_refused,
    session_transfer_start,
)

logger = logging.getLogger(__name__)

# A caller back from a transfer: how long to wait for the first conversation to finish closing.
RESUME_WAIT_SECONDS = 5.0
RESUME_RETRY_SECONDS = 0.25

# Pipeline events worth a row in the session's event log (speech starts/ends are not).
_LOGGED_EVENTS = frozenset(
    {
        PipelineEventKind.BARGE_IN,
        PipelineEventKind.DTMF,
        PipelineEventKind.DIGITS_SENT,
        PipelineEventKind.OPT_OUT,
        PipelineEventKind.SILENCE_TIMEOUT,
        PipelineEventKind.MAX_DURATION,
        PipelineEventKind.STT_ERROR,
        PipelineEventKind.TTS_ERROR,
        PipelineEventKind.AGENT_ERROR,
        PipelineEventKind.MARK_TIMEOUT,
        PipelineEventKind.HANG_UP,
        PipelineEventKind.HANG_UP_FAILED,
        PipelineEventKind.HEARD_AFTER_END,
        PipelineEventKind.RECOGNITION_CUT,
        PipelineEventKind.DISCLOSURE_PLAYED,
        PipelineEventKind.DISCLOSURE_UNCONFIRMED,
    }
)


# --- building the call ------------------------------------------------------------------------
def build_agent(setup: CallSetup) -> Agent:
    script = ScriptSpec.from_dict(setup.script)
    context = CallContext(variables=setup.variables, timezone=setup.time_zone)
    if setup.transfer_return_reason is not None:
        # Back from a transfer nobody took: say so and offer a callback, whatever the agent.
        return TransferReturnAgent(context, reason=setup.transfer_return_reason)
    tools = HttpToolRunner(secret=setup.tool_secret, session_id=setup.session_id)
    if settings.AGENT_PROVIDER == "llm" and settings.LLM_API_KEY:
        config = LLMConfig(
            base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, model=settings.LLM_MODEL
        )
        return LLMAgent(script, context, config, tools=tools)
    return ScriptedAgent(script, context, tools=tools)


def build_recognizer() -> StreamingRecognizer:
    return get_streaming_stt()


def build_voice(setup: CallSetup) -> tuple[CachingVoiceProvider, CachingVoiceProvider | None]:
    """The campaign voice, and the local voice to say goodbye with if it fails mid-call; both
    behind the process's TTS cache (`anvil_voice.speech.cache`)."""
    local = CachingVoiceProvider(get_voice_provider("local"))
    if setup.voice_provider == local.name:
        return local, None
    try:
        return CachingVoiceProvider(get_voice_provider(setup.voice_provider)), local
    except Exception:
        logger.exception("event=voice_provider_unavailable session=%s", setup.session_id)
        return local, None


async def warm_voice(
    voice: VoiceProvider, *, voice_id: str, agent: Agent, config: PipelineConfig
) -> int:
    """Synthesise the call's likely sentences into the TTS cache, one at a time, in the
    background; started with the stream, so the opening is ready before "Hello?" ends."""
    if not isinstance(voice, CachingVoiceProvider):
        return 0
    try:
        return await voice.warm(voice_id, await call_sentences(agent, config))
    except Exception:
        # A warm-up is an optimisation: the call speaks without it, only later.
        logger.exception("event=tts_warm_failed provider=%s", voice.name)
        return 0


# The setting is checked at start-up; this gives mypy its literal type.
TURN_DETECTIONS: dict[str, Literal["semantic", "neural", "energy"]] = {
    "semantic": "semantic",
    "neural": "neural",
    "energy": "energy",
}


def pipeline_config(setup: CallSetup | None = None) -> PipelineConfig:
    script = ScriptSpec.from_dict(setup.script) if setup is not None else None
    if setup is not None and setup.transfer_return_reason is not None:
        script = None  # a person is on the line already: no phone menu to get through
    return PipelineConfig(
        max_call_ms=int(settings.CALL_MAX_DURATION_SECONDS) * 1000,
        tts_first_audio_timeout=float(settings.CALL_TTS_TIMEOUT_SECONDS),
        hangup_grace=float(settings.CALL_HANGUP_GRACE_SECONDS),
        turn_detection=TURN_DETECTIONS[settings.CALL_TURN_DETECTION],
        opening_interruptible=script.opening_interruptible if script else True,
        closing_interruptible=script.closing_interruptible if script else False,
        recording_disclosure=(setup.recording_disclosure or None) if setup is not None else None,
        ivr_target=(script.ivr_target.strip() or None) if script else None,
        ivr_timeout_ms=(script.ivr_timeout_seconds * 1000) if script else 120_000,
        keypad_entry=script.keypad_entry if script else None,
    )


# --- what the call leaves behind --------------------------------------------------------------
def _objections(events: list[EngineEvent]) -> list[dict[str, Any]]:
    return [
        {"trigger": str(e.data.get("trigger", "")), "score": e.data.get("score"), "turn": e.turn}
        for e in events
        if e.kind is EventKind.OBJECTION_MATCHED
    ]


def summarize(result: PipelineResult) -> str:
    """One plain sentence for the session page and the API: what happened, from the events."""
    outcome = result.outcome.value.replace("_", " ") if result.outcome else "no decision"
    spoke = sum(1 for turn in result.turns if turn.speaker == "contact")
    parts = [f"{outcome.capitalize()} after {spoke} contact turn{'s' if spoke != 1 else ''}"]
    objections = [item["trigger"] for item in _objections(result.engine_events)]
    if objections:
        parts.append("objections: " + ", ".join(dict.fromkeys(objections)))
    callback = next((a for a in result.actions if isinstance(a, ScheduleCallback)), None)
    if callback is not None:
        parts.append(f"callback at {callback.at.isoformat() if callback.at else 'an open time'}")
    tools = [
        str(event.data.get("name", ""))
        for event in result.engine_events
        if event.kind is EventKind.TOOL_CALLED and event.data.get("tool_kind") == "http"
    ]
    if tools:
        parts.append("tools: " + ", ".join(tools))
    if result.stats.barge_ins:
        parts.append(f"{result.stats.barge_ins} interruption(s)")
    return "; ".join(parts) + f" (ended: {result.end_reason.value.replace('_', ' ')})."


def conversation_result(result: PipelineResult) -> ConversationResult:
    extracted: dict[str, Any] = {
        "objections": _objections(result.engine_events),
        "agent_end_reason": result.agent_end_reason,
        "pipeline_end_reason": result.end_reason.value,
        "abandonment_ms": result.abandonment_ms,
        "stream_ms": result.duration_ms,
        "stats": result.as_dict()["stats"],
    }
    callback = next((a for a in result.actions if isinstance(a, ScheduleCallback)), None)
    if callback is not None:
        extracted["callback_at"] = callback.at.isoformat() if callback.at else None
    if result.outcome is Outcome.DO_NOT_CALL:
        dtmf = result.end_reason is CallEndReason.OPTED_OUT_DTMF
        extracted["opt_out_via"] = "dtmf" if dtmf else "speech"
    if result.answered_by == "ivr":
        extracted["ivr_pressed"] = result.ivr_pressed  # the path: the session's ivr_* events
    entries = {
        str(event.data["name"]): str(event.data["digits"])
        for event in result.engine_events
        if event.kind is EventKind.KEYPAD_ENTRY
    }
    if entries:
        extracted["keypad"] = entries  # the numbers the caller typed, by the script's names
    if result.errors:
        extracted["errors"] = [event.as_dict() for event in result.errors]
    end_reason = result.agent_end_reason or result.end_reason.value
    if not result.hung_up and result.end_reason is CallEndReason.STREAM_STOPPED:
        end_reason = "contact_hung_up"  # Twilio's `stop` without our hang-up
    elif not result.hung_up and result.end_reason is CallEndReason.DISCONNECTED:
        end_reason = "stream_disconnected"  # no `stop`: a hang-up or a network failure
    return ConversationResult(
        outcome=result.outcome.value if result.outcome else None,
        end_reason=end_reason,
        contact_spoke=any(turn.speaker == "contact" for turn in result.turns),
        contact_stance=contact_stance(result.engine_events).value,
        hung_up_by_us=result.hung_up,
        extracted=extracted,
        summary=summarize(result),
        events=[
            {**event.as_dict(), "kind": f"engine.{event.kind.value}"}
            for event in result.engine_events
        ],
        turns=[turn.as_dict() for turn in result.turns],
        answered_by=result.answered_by,
    )


def turn_message(turn: Turn) -> dict[str, Any]:
    return {
        "type": "turn",
        "index": turn.index,
        "speaker": turn.speaker.value,
        "text": turn.text,
        "startMs": turn.start_ms,
        "endMs": turn.end_ms,
        "interrupted": turn.interrupted,
        "recognized": turn.recognized,
        "keypad": turn.keypad,
        "latency": turn.latency,
    }


async def tell_monitors(setup: CallSetup, event: dict[str, Any]) -> None:
    """Send a live event to the session's, campaign's and organization's groups."""
    try:
        await groups.abroadcast(
            organization_id=setup.organization_id,
            session_id=setup.session_id,
            campaign_id=setup.campaign_id,
            event=event,
        )
    except Exception:
        # The monitor is a nicety; a full channel layer must not cost us the transcript.
        logger.exception("event=live_broadcast_failed session=%s", setup.session_id)


class DatabaseSink:
    """Stores turns and notable events as they happen and tells the monitors.

    When the organization redacts personal data, a turn is redacted before either: the raw
    words stay in this process's memory (`LiveRedactor`), and a turn that completes a number
    begun in earlier turns rewrites those rows and the monitor's lines too.
    """

    def __init__(self, setup: CallSetup) -> None:
        self.setup = setup
        self.closed = False  # the conversation's result is stored
        self.redactor = LiveRedactor() if setup.redact_pii else None
        self.sent: dict[int, Turn] = {}  # index → the turn as stored (redacted)

    async def on_turn(self, turn: Turn) -> None:
        earlier: dict[int, str] = {}
        if self.setup.turn_offset:
            turn = dataclasses.replace(turn, index=turn.index + self.setup.turn_offset)
        if self.redactor is not None:
            text, earlier = self.redactor.add(turn.as_dict())
            turn = dataclasses.replace(turn, text=text)
            self.sent[turn.index] = turn
        # database_sync_to_async, not the async ORM: it closes stale connections around the
        # call, so a long call survives a database restart and leaves no connection behind.
        await database_sync_to_async(_store_turn)(self.setup.session_id, turn, earlier)
        await tell_monitors(self.setup, turn_message(turn))
        for index, text in earlier.items():
            if index in self.sent:
                # Same index: the monitor page replaces the line it showed.
                self.sent[index] = dataclasses.replace(self.sent[index], text=text)
                await tell_monitors(self.setup, turn_message(self.sent[index]))

    async def on_event(self, event: PipelineEvent) -> None:
        if event.kind in _LOGGED_EVENTS:
            if self.setup.redact_pii:
                # Words heard after the hang-up, an error quoting the caller: never raw.
                event = dataclasses.replace(event, data=redact_value(event.data))
            await database_sync_to_async(_log_event)(self.setup.session_id, event)
        if event.kind is PipelineEventKind.BARGE_IN:
            await tell_monitors(self.setup, {"type": "barge_in", "atMs": event.at_ms})

    async def on_end(self, result: PipelineResult) -> None:
        await close_conversation(self.setup, result)
        self.closed = True


async def close_conversation(setup: CallSetup, result: PipelineResult) -> None:
    """Store the call's result once (the sink's `on_end`, or the consumer if the sink ran out
    of time) and tell the monitors."""
    summary = conversation_result(result)
    meter = usage.current()  # set by `on_start` in this task, or inherited by the sink's
    if meter is not None:
        summary = dataclasses.replace(summary, usage=meter.as_dict())
    if setup.turn_offset:
        # A resumed conversation: its turns follow the first one's in the same transcript.
        turns = [{**turn, "index": turn["index"] + setup.turn_offset} for turn in summary.turns]
        summary = dataclasses.replace(summary, turns=turns)
    closed = await database_sync_to_async(session_conversation_close)(
        session_id=setup.session_id, result=summary
    )
    if closed:
        await tell_monitors(
            setup, {"type": "status", "status": "ended", "outcome": summary.outcome or ""}
        )


def _store_turn(session_id: int, turn: Turn, earlier: dict[int, str]) -> None:
    TranscriptTurn.objects.create(session_id=session_id, **turn.as_dict())
    for index, text in earlier.items():
        TranscriptTurn.objects.filter(session_id=session_id, index=index).update(text=text)


def _log_event(session_id: int, event: PipelineEvent) -> None:
    CallEvent.objects.create(
        session_id=session_id, kind=f"pipeline.{event.kind.value}", data=event.as_dict()
    )


# --- the consumer -----------------------------------------------------------------------------
class LiveCallConsumer(MediaStreamConsumer):
    pipeline: CallPipeline | None = None
    setup: CallSetup | None = None
    sink: DatabaseSink | None = None
    warming: asyncio.Task[int] | None = None
    tap: ListenTap | None = None  # listen-in (`sessions.live.listen`)

    async def on_start(self, start: StreamStart) -> None:
        if not settings.CALL_PIPELINE:
            return
        assert self.session_id is not None
        returning = start.custom_parameters.get(RETURN_PARAMETER)
        if returning is not None:
            setup = await self._resume(returning)
            if setup is None:
                # Not a return we sent (or a second one): the caller is not left in silence.
                await database_sync_to_async(session_transfer_resume_refused)(
                    session_id=self.session_id
                )
                return
        else:
            setup = await database_sync_to_async(session_conversation_open)(
                session_id=self.session_id
            )
        if setup is None:
            return
        self.setup = setup
        # The call's usage meter: every task and inference job below inherits it.
        usage.call_usage.set(usage.CallUsage())
        try:
            agent = build_agent(setup)
            voice, fallback = build_voice(setup)
            sink = DatabaseSink(setup)
            config = pipeline_config(setup)
            pipeline = CallPipeline(
                agent=agent,
                voice=voice,
                voice_id=setup.voice_id,
                fallback_voice=fallback,
                recognizer=build_recognizer(),
                send=self._send_message,
                hang_up=self._hang_up,
                sink=sink,
                config=config,
                on_disclosure=self._disclosure_heard,
                send_digits=get_carrier().send_digits,
            )
        except Exception:
            # A script that no longer renders, a provider that cannot be built: the call goes
            # on silent and the carrier ends it; the close records why.
            logger.exception("event=pipeline_build_failed session=%s", self.session_id)
            await database_sync_to_async(session_conversation_close)(
                session_id=self.session_id,
                result=ConversationResult(
                    outcome=Outcome.NO_CONVERSATION.value,
                    end_reason="pipeline_build_failed",
                    contact_spoke=False,
                    hung_up_by_us=False,
                    extracted={},
                    summary="The agent could not be prepared for this call.",
                ),
            )
            await database_sync_to_async(session_hang_up)(session_id=self.session_id)
            return
        self.pipeline, self.sink = pipeline, sink
        await self.channel_layer.group_add(
            groups.control_group(setup.session_id), self.channel_name
        )
        self.tap = ListenTap(layer=self.channel_layer, session_id=setup.session_id)
        await self.tap.probe()
        # Before the pipeline: the opening's synthesis is under way when it asks for it.
        self.warming = asyncio.create_task(
            warm_voice(voice, voice_id=setup.voice_id, agent=agent, config=config),
            name=f"tts-warm-{setup.session_id}",
        )
        pipeline.start(start.stream_sid)
        await tell_monitors(setup, {"type": "status", "status": "in_progress"})

    async def _resume(self, transfer_id: str) -> CallSetup | None:
        """Reopen the conversation for a caller back from a transfer. The first stream's
        conversation may still be closing (a leg that was busy at once): its close is bounded
        by the hang-up grace, so the claim is tried again for a few seconds before giving up."""
        assert self.session_id is not None
        deadline = asyncio.get_running_loop().time() + RESUME_WAIT_SECONDS
        while True:
            setup = await database_sync_to_async(session_conversation_resume)(
                session_id=self.session_id, transfer_id=transfer_id
            )
            if setup is not None or asyncio.get_running_loop().time() >= deadline:
                return setup
            await asyncio.sleep(RESUME_RETRY_SECONDS)

    async def on_media(self, payload: bytes, media: dict[str, Any]) -> None:
        if self.pipeline is not None:
            self.pipeline.feed_media(payload)
        if self.tap is not None and self.tap.listeners:
            await self.tap.feed(INBOUND, payload)

    async def on_mark(self, name: str) -> None:
        if self.pipeline is not None:
            self.pipeline.on_mark(name)

    async def on_dtmf(self, digit: str) -> None:
        if self.pipeline is not None:
            self.pipeline.on_dtmf(digit)

    async def on_stop(self) -> None:
        if self.pipeline is not None:
            self.pipeline.on_stop()

    async def on_disconnect(self, code: int) -> None:
        if self.warming is not None:
            self.warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.warming
        if self.tap is not None:
            await self.tap.close()
        # Always: cancels the pipeline's tasks and stores its result (no leaked tasks).
        if self.pipeline is not None and self.setup is not None:
            await self.channel_layer.group_discard(
                groups.control_group(self.setup.session_id), self.channel_name
            )
            result = await self.pipeline.close()
            if self.sink is None or not self.sink.closed:
                # The sink's `on_end` ran out of time (or failed): store the result here.
                await close_conversation(self.setup, result)

    async def call_machine(self, message: dict[str, Any]) -> None:
        """AMD says a machine answered and the campaign leaves a message (after the beep)."""
        if self.pipeline is None or self.setup is None:
            return
        text = ScriptSpec.from_dict(self.setup.script).voicemail_text(self.setup.variables)
        if text:
            self.pipeline.leave_voicemail(text)
        else:
            # The script has no voicemail message (the start refuses that, but the script may
            # have been edited since): say why on the session, then do not linger.
            await database_sync_to_async(session_note_no_voicemail_message)(
                session_id=self.setup.session_id
            )
            await database_sync_to_async(session_hang_up)(session_id=self.setup.session_id)

    async def _disclosure_heard(self, confirmed: bool, mark: str) -> None:
        """The recording disclosure's turn ended: recording starts if the carrier confirmed
        it played in full (`sessions.carrier.recording`)."""
        assert self.session_id is not None
        await database_sync_to_async(session_disclosure_played)(
            session_id=self.session_id, confirmed=confirmed, mark=mark, played_at=timezone.now()
        )

    async def listen_join(self, message: dict[str, Any]) -> None:
        if self.tap is not None:
            self.tap.join(str(message["channel"]))

    async def listen_leave(self, message: dict[str, Any]) -> None:
        if self.tap is not None:
            self.tap.leave(str(message["channel"]))

    async def _send_message(self, message: dict[str, Any]) -> None:
        await self.send(text_data=orjson.dumps(message).decode())
        if self.tap is not None and self.tap.listeners and message.get("event") == "media":
            # What the agent says, as Twilio is sent it; decoded only while someone listens.
            try:
                payload = base64.b64decode(message["media"]["payload"])
            except (KeyError, TypeError, binascii.Error):
                return
            await self.tap.feed(OUTBOUND, payload)

    async def _hang_up(self) -> None:
        assert self.session_id is not None
        assert self.pipeline is not None
        # The agent has decided: put it on the row before the carrier's `completed` arrives.
        snapshot = conversation_result(self.pipeline.snapshot())
        await database_sync_to_async(session_conversation_note)(
            session_id=self.session_id, result=snapshot
        )
        transfer = next(
            (a for a in self.pipeline.agent_actions if isinstance(a, TransferCall)), None
        )
        if transfer is not None:
            # The agent hands the caller to a person instead: the carrier moves the call and
            # the stream stops (`sessions.transfers`).
            await database_sync_to_async(session_transfer_start)(
                session_id=self.session_id, action=transfer
            )
            return
        await database_sync_to_async(session_hang_up)(session_id=self.session_id)
