"""Pipeline benchmark: ``uv run python -m benchmarks.pipeline [--quick] [--no-local]``.

1. Added latency (instant fake STT/TTS/agent): end of speech → first agent frame sent, over
   200 turns, split into the endpointing wait (configured, 600 ms) and the pipeline's own work
   (endpoint → first frame).
2. Capacity: N simulated Twilio calls over loopback websockets at real-time frame rate (a
   media frame every 20 ms per call, speech and silence, agent audio and marks flowing back),
   ramped until the p99 frame handling time (frame due → handled) reaches 20 ms. The same
   clients against a bare `websockets` echo server give the in-process baseline; the ratio of
   the two capacities is the pipeline's cost.
3. Local speech (Piper + Whisper): end of caller speech → first agent frame, p50.

All clients and servers share one process and one event loop, as a single web worker would.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from anvil_voice.speech.batch import BatchRecognizer
from anvil_voice.speech.codec import frames_20ms, ulaw_silence
from anvil_voice.speech.protocols import (
    Emit,
    Final,
    SpeechToText,
    StreamingRecognizer,
    Utterance,
    VoiceProvider,
)
from anvil_voice.telephony.simulator import audio as sim_audio
from benchmarks.support import percentile
from scripts.engine.types import AgentAction, EngineEvent, Outcome
from sessions.pipeline.clock import Clock, ManualClock
from sessions.pipeline.config import PipelineConfig
from sessions.pipeline.pipeline import CallPipeline
from sessions.pipeline.turns import MemorySink, Turn

FRAME = 0.02
SILENCE = ulaw_silence(20)


# -- instant fakes -------------------------------------------------------------------------------

# Every pipeline the benchmark runs; `--playback` changes the queue at Twilio.
BENCH_CONFIG = PipelineConfig(greeting_timeout_ms=200, silence_timeout_ms=60_000)


class EndlessAgent:
    """Replies to everything, never ends: keeps a call talking for as long as we measure."""

    finished = False
    outcome: Outcome | None = None
    events: list[EngineEvent] = []
    actions: list[AgentAction] = []

    async def opening(self) -> AsyncIterator[str]:
        yield "Hi, this is the benchmark."

    async def reply(self, heard: str | None) -> AsyncIterator[str]:
        yield "Okay, tell me more."

    async def aclose(self) -> None:
        return None


class InstantVoice:
    """Speech-shaped audio, immediately: about 0.8 s per reply."""

    name = "instant"

    def __init__(self) -> None:
        self._audio = sim_audio.babble("x" * 15)

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        yield self._audio


class InstantRecognizer:
    """Transcribes every endpointed utterance at once."""

    name = "instant"

    def __init__(self) -> None:
        self._emit: Emit | None = None
        self.endpoints: list[float] = []  # perf_counter() of each endpointed utterance

    async def start(self, emit: Emit) -> None:
        self._emit = emit

    def feed(self, frame: bytes) -> None:
        return None

    def end_of_utterance(self, utterance: Utterance) -> None:
        self.endpoints.append(time.perf_counter())
        if self._emit is not None:
            self._emit(Final("yes please", utterance.start_ms, utterance.end_ms))

    async def finish(self) -> None:
        return None  # every utterance is answered at once

    async def aclose(self) -> None:
        return None


def caller_pattern() -> list[bytes]:
    """1 s of speech-like audio, then 2 s of silence: one caller turn every 3 s."""
    return frames_20ms(sim_audio.babble("x" * 18)[:8000] + ulaw_silence(2000))


# -- 1. added latency ----------------------------------------------------------------------------


@dataclass
class PlaybackLine:
    """Echoes marks once the audio before them "played" (one frame per fed frame)."""

    pipeline: CallPipeline | None = None
    buffer: deque[bytes | str] = field(default_factory=deque)
    media_sent_at: list[float] = field(default_factory=list)  # perf_counter() per media frame

    async def send(self, message: dict[str, Any]) -> None:
        if message["event"] == "media":
            self.media_sent_at.append(time.perf_counter())
            self.buffer.append(b"")
        elif message["event"] == "mark":
            self.buffer.append(message["mark"]["name"])
        elif message["event"] == "clear":
            marks = [m for m in self.buffer if isinstance(m, str)]
            self.buffer.clear()
            for name in marks:
                self._echo(name)

    async def hang_up(self) -> None:
        return None

    def tick(self) -> None:
        if self.buffer and isinstance(self.buffer[0], bytes):
            self.buffer.popleft()
        while self.buffer and isinstance(self.buffer[0], str):
            self._echo(self.buffer.popleft())  # type: ignore[arg-type]

    def _echo(self, name: str) -> None:
        assert self.pipeline is not None
        self.pipeline.on_mark(name)


def make_pipeline(line: PlaybackLine, **options: Any) -> CallPipeline:
    """`bench_pipeline` talking to `line` (options: recognizer, voice, sink, clock)."""
    pipeline = bench_pipeline(send=line.send, hang_up=line.hang_up, **options)
    line.pipeline = pipeline
    return pipeline


def bench_pipeline(
    *,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    hang_up: Callable[[], Awaitable[None]],
    recognizer: StreamingRecognizer | None = None,
    voice: VoiceProvider | None = None,
    sink: MemorySink | None = None,
    clock: Clock | None = None,
) -> CallPipeline:
    """A pipeline with the endless agent and (unless given) the instant fakes."""
    return CallPipeline(
        agent=EndlessAgent(),
        voice=voice or InstantVoice(),  # type: ignore[arg-type]
        voice_id="bench",
        recognizer=recognizer or InstantRecognizer(),
        send=send,
        hang_up=hang_up,
        sink=sink or MemorySink(),
        config=BENCH_CONFIG,
        clock=clock,
    )


async def added_latency(turns: int) -> dict[str, float]:
    """Wall time from the endpointer closing an utterance to the reply's first frame at `send`.

    Frames are fed as fast as the loop allows on a `ManualClock` (20 ms per frame), so the
    playback and pacing run in accelerated stream time, while `perf_counter` measures the
    pipeline's own work: recogniser event → agent → sentence → TTS → pacer → writer.
    """
    clock = ManualClock()
    line = PlaybackLine()
    recognizer = InstantRecognizer()
    pipeline = make_pipeline(line, recognizer=recognizer, clock=clock)
    pipeline.start("MZbench")
    pattern = caller_pattern()
    own: list[float] = []
    for _ in range(turns):
        for frame in pattern:
            endpoints = len(recognizer.endpoints)
            pipeline.feed_media(frame)
            if len(recognizer.endpoints) > endpoints:
                first_media = len(line.media_sent_at)
                for _ in range(10_000):
                    if len(line.media_sent_at) > first_media:
                        own.append(line.media_sent_at[first_media] - recognizer.endpoints[-1])
                        break
                    await asyncio.sleep(0)
            line.tick()
            clock.advance(FRAME)
            await asyncio.sleep(0)
    await pipeline.close()
    own_ms = [value * 1000 for value in own]
    return {
        "turns": len(own_ms),
        "p50_ms": percentile(own_ms, 50),
        "p99_ms": percentile(own_ms, 99),
    }


# -- 2. capacity -----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.recording = False
        self.turns: list[Turn] = []

    def frame(self, due: float) -> None:
        if self.recording:
            self.lateness.append(asyncio.get_running_loop().time() - due)


async def pipeline_handler(ws: ServerConnection, recorder: Recorder) -> None:
    async def send(message: dict[str, Any]) -> None:
        await ws.send(json.dumps(message))

    async def hang_up() -> None:
        await ws.close()

    class Sink(MemorySink):
        async def on_turn(self, turn: Turn) -> None:
            recorder.turns.append(turn)

    pipeline = bench_pipeline(send=send, hang_up=hang_up, sink=Sink())
    t0 = 0.0
    try:
        async for raw in _messages(ws):
            data = json.loads(raw)
            event = data["event"]
            if event == "media":
                pipeline.feed_media(data["media"]["payload"])
                recorder.frame(t0 + int(data["media"]["timestamp"]) / 1000)
            elif event == "mark":
                pipeline.on_mark(data["mark"]["name"])
            elif event == "start":
                t0 = float(data["start"]["customParameters"]["t0"])
                pipeline.start(data["streamSid"])
            elif event == "stop":
                pipeline.on_stop()
    finally:
        await pipeline.close()


async def _messages(ws: ServerConnection) -> AsyncIterator[str | bytes]:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            yield raw


async def echo_handler(ws: ServerConnection, recorder: Recorder) -> None:
    t0 = 0.0
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            data = json.loads(raw)
            if data["event"] == "start":
                t0 = float(data["start"]["customParameters"]["t0"])
            elif data["event"] == "media":
                await ws.send(raw)
                recorder.frame(t0 + int(data["media"]["timestamp"]) / 1000)


async def drop_handler(ws: ServerConnection, recorder: Recorder) -> None:
    """Parses every frame like the pipeline's consumer does, and sends nothing back."""
    t0 = 0.0
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            data = json.loads(raw)
            if data["event"] == "start":
                t0 = float(data["start"]["customParameters"]["t0"])
            elif data["event"] == "media":
                base64.b64decode(data["media"]["payload"])
                recorder.frame(t0 + int(data["media"]["timestamp"]) / 1000)


async def twilio_client(url: str, pattern: list[str], stop: asyncio.Event, sid: str) -> None:
    """One simulated Twilio call: media every 20 ms; plays our audio back and echoes marks."""
    loop = asyncio.get_running_loop()
    async with connect(url, compression=None) as ws:
        t0 = loop.time()
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {"streamSid": sid, "customParameters": {"t0": repr(t0)}}
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        playback: deque[bool | str] = deque()
        reader = asyncio.create_task(_client_read(ws, playback))
        chunk = 0
        try:
            while not stop.is_set():
                due = t0 + chunk * FRAME
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                message = pattern[chunk % len(pattern)].replace("@TS@", str(chunk * 20))
                await ws.send(message)
                chunk += 1
                # 20 ms of playback: one frame, then any marks it reached.
                if playback and playback[0] is True:
                    playback.popleft()
                while playback and isinstance(playback[0], str):
                    name = playback.popleft()
                    await ws.send(json.dumps({"event": "mark", "mark": {"name": name}}))
        finally:
            reader.cancel()
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"event": "stop", "streamSid": sid}))


async def _client_read(ws: ClientConnection, playback: deque[bool | str]) -> None:
    with contextlib.suppress(Exception):
        async for raw in ws:
            data = json.loads(raw)
            if data["event"] == "media":
                playback.append(True)
            elif data["event"] == "mark":
                playback.append(data["mark"]["name"])
            elif data["event"] == "clear":
                playback.clear()


def media_messages(sid: str) -> list[str]:
    template = {"event": "media", "streamSid": sid, "media": {"track": "inbound"}}
    messages = []
    for frame in caller_pattern():
        body = dict(
            template, media={"timestamp": "@TS@", "payload": base64.b64encode(frame).decode()}
        )
        messages.append(json.dumps(body))
    return messages


async def capacity_level(
    handler: Callable[[ServerConnection, Recorder], Any], calls: int, seconds: float
) -> tuple[float, Recorder]:
    recorder = Recorder()
    stop = asyncio.Event()
    async with serve(lambda ws: handler(ws, recorder), "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/"
        pattern = media_messages("MZbench")
        clients = []
        for index in range(calls):
            clients.append(asyncio.create_task(twilio_client(url, pattern, stop, f"MZ{index}")))
            await asyncio.sleep(min(0.005, 1.0 / max(calls, 1)))  # calls do not start in lockstep
        await asyncio.sleep(1.0)  # warm up
        recorder.recording = True
        await asyncio.sleep(seconds)
        recorder.recording = False
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    return percentile(recorder.lateness, 99) * 1000, recorder


async def capacity(
    handler: Callable[[ServerConnection, Recorder], Any], levels: list[int], seconds: float
) -> tuple[int, list[tuple[int, float]], list[Turn]]:
    best, rows, turns = 0, [], []
    for calls in levels:
        p99, recorder = await capacity_level(handler, calls, seconds)
        rows.append((calls, p99))
        print(f"    {calls:4d} calls: p99 frame handling {p99:7.1f} ms", flush=True)
        if p99 >= 20.0:
            break
        best, turns = calls, recorder.turns
    return best, rows, turns


# -- 3. local speech -------------------------------------------------------------------------------


async def local_speech(turns: int) -> dict[str, float]:
    from anvil_voice.speech.local import LocalVoiceProvider, get_local_stt, get_local_tts

    tts = get_local_tts()
    stt: SpeechToText = get_local_stt()
    lines = ["I'm not sure yet.", "What does it cost?", "Tell me more about it.", "Maybe later."]
    caller = [await asyncio.to_thread(tts.synthesize_ulaw8k, line) for line in lines]
    voice = LocalVoiceProvider()
    await asyncio.to_thread(stt.transcribe, audio=caller[0], encoding="ulaw", sample_rate=8000)
    line = PlaybackLine()
    sink = MemorySink()
    pipeline = make_pipeline(line, recognizer=BatchRecognizer(stt), voice=voice, sink=sink)
    pipeline.start("MZlocal")
    loop = asyncio.get_running_loop()
    clock_start = loop.time()
    sent = 0

    async def feed(frames: list[bytes]) -> None:
        nonlocal sent
        for frame in frames:
            delay = clock_start + sent * FRAME - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pipeline.feed_media(frame)
            line.tick()
            sent += 1

    await feed([SILENCE] * 50)
    for index in range(turns):
        replies = len([t for t in sink.turns if t.speaker == "agent"])
        await feed(frames_20ms(caller[index % len(caller)]))
        # Keep the line open (silence) until the reply has been heard.
        while len([t for t in sink.turns if t.speaker == "agent"]) <= replies:
            await feed([SILENCE] * 10)
        await feed([SILENCE] * 25)
    await pipeline.close()
    replies_ = [
        t for t in sink.turns if t.speaker == "agent" and t.latency["since"] == "speech_end"
    ]

    def p50(key: str) -> float:
        return statistics.median(t.latency[key] for t in replies_)

    return {
        "turns": len(replies_),
        "first_frame_p50_ms": p50("first_frame_ms"),
        "endpoint_p50_ms": p50("endpoint_ms"),
        "stt_final_p50_ms": p50("stt_final_ms"),
        "tts_first_audio_p50_ms": p50("tts_first_audio_ms"),
    }


# -- main ---------------------------------------------------------------------------------------


async def main(quick: bool, local: bool) -> None:
    started = time.monotonic()
    print("1. Added latency, instant fakes (endpoint -> first frame sent)", flush=True)
    latency = await added_latency(40 if quick else 200)
    print(
        f"   {latency['turns']} turns: p50 {latency['p50_ms']:.2f} ms, "
        f"p99 {latency['p99_ms']:.2f} ms (+ the configured 600 ms endpointing silence)",
        flush=True,
    )
    levels = [10, 20, 30] if quick else [10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200]
    seconds = 2.0 if quick else 4.0
    print("2. Concurrent calls at real-time frame rate (p99 frame handling < 20 ms)", flush=True)
    print("   bare websockets echo server (every frame sent back):", flush=True)
    echo_best, _, _ = await capacity(echo_handler, levels, seconds)
    print("   bare websockets server that parses frames and sends nothing:", flush=True)
    drop_best, _, _ = await capacity(drop_handler, levels, seconds)
    print("   pipeline (instant fakes; agent audio + marks flow back while it speaks):")
    pipe_best, _, turns = await capacity(pipeline_handler, levels, seconds)
    echo_ratio = pipe_best / echo_best if echo_best else float("nan")
    drop_ratio = pipe_best / drop_best if drop_best else float("nan")
    print(
        f"   calls held: echo {echo_best}, parse-only {drop_best}, pipeline {pipe_best}; "
        f"pipeline/echo {echo_ratio:.2f}, pipeline/parse-only {drop_ratio:.2f}"
    )
    loaded = [
        t.latency["first_frame_ms"]
        for t in turns
        if t.speaker == "agent" and t.latency.get("since") == "speech_end"
    ]
    if loaded:
        print(
            f"   at {pipe_best} calls: speech end -> first frame p50 "
            f"{percentile(loaded, 50):.0f} ms, p99 {percentile(loaded, 99):.0f} ms "
            f"({len(loaded)} turns; includes 600 ms endpointing)",
            flush=True,
        )
    if local:
        print("3. Local Piper + Whisper: speech end -> first agent frame", flush=True)
        result = await local_speech(4 if quick else 8)
        print(
            f"   {result['turns']} turns: p50 {result['first_frame_p50_ms']:.0f} ms "
            f"(endpoint {result['endpoint_p50_ms']:.0f}, Whisper final "
            f"{result['stt_final_p50_ms']:.0f}, Piper first audio "
            f"{result['tts_first_audio_p50_ms']:.0f})",
            flush=True,
        )
    print(f"done in {time.monotonic() - started:.0f} s")


def run() -> None:
    global BENCH_CONFIG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer turns and levels")
    parser.add_argument("--no-local", action="store_true", help="skip Piper + Whisper")
    parser.add_argument(
        "--playback",
        metavar="LEAD,LOW_WATER",
        help="audio queued at Twilio in ms (default: the product's "
        f"{BENCH_CONFIG.playback_lead_ms},{BENCH_CONFIG.playback_low_water_ms})",
    )
    args = parser.parse_args()
    if args.playback:
        lead, low_water = (int(ms) for ms in args.playback.split(","))
        BENCH_CONFIG = dataclasses.replace(
            BENCH_CONFIG, playback_lead_ms=lead, playback_low_water_ms=low_water
        )
    print(
        f"playback queue: {BENCH_CONFIG.playback_lead_ms} ms lead, "
        f"{BENCH_CONFIG.playback_low_water_ms} ms low water",
        flush=True,
    )
    asyncio.run(main(args.quick, not args.no_local))


if __name__ == "__main__":
    run()
