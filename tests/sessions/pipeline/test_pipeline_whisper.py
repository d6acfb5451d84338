"""Real local speech recognition: Piper speech in, Whisper (off the loop) transcribes it."""

from __future__ import annotations

import asyncio

from pipeline_support import make_call, piper

from anvil_voice.speech.batch import BatchRecognizer
from anvil_voice.speech.local import get_local_stt
from scripts.engine import Outcome, ScriptSpec
from sessions.pipeline import PipelineConfig

SCRIPT = ScriptSpec(opening_line="Hi, want to hear more?", closing_line="Great, goodbye!")

LATENCY_ORDER = [
    "endpoint_ms",
    "stt_final_ms",
    "agent_first_token_ms",
    "tts_first_audio_ms",
    "first_frame_ms",
]


async def test_whisper_hears_the_caller_and_the_agent_answers_with_timings():
    stt = get_local_stt()
    await asyncio.to_thread(
        stt.transcribe, audio=piper("Hello?"), encoding="ulaw", sample_rate=8000
    )
    config = PipelineConfig(greeting_timeout_ms=300)
    call = make_call(recognizer=BatchRecognizer(stt), script=SCRIPT, config=config)
    call.line.realtime = True  # Whisper thinks in real time; keep stream time honest
    call.pipeline.start("MZ1")
    await call.line.run(piper("Hello?"), seconds=0.6)
    await call.line.until(lambda: len(call.sink.turns) >= 2, seconds=15)
    await call.line.run(piper("Yes, sign me up."), seconds=0.5)
    await call.line.until(lambda: call.line.hung_up, seconds=15)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    contact = [
        "".join(c for c in t.text.lower() if c.isalpha() or c == " ")
        for t in result.turns
        if t.speaker == "contact"
    ]
    assert contact == ["hello", "yes sign me up"]
    assert result.turns[-1].text == SCRIPT.closing_line
    assert result.outcome is Outcome.INTERESTED
    reply = result.turns[-1]
    assert reply.latency["since"] == "speech_end"
    figures = [reply.latency[key] for key in LATENCY_ORDER]
    assert figures == sorted(figures)
    # The turn ends on the words recognised at the 300 ms pause ("Yes, sign me up." sounds
    # finished), never before 400 ms of silence, at the latest at the 1.5 s silence cap; the
    # final is that speculative transcript, so it comes with (or just after) the end of turn.
    semantic = config.semantic
    assert semantic.min_end_silence_ms <= reply.latency["endpoint_ms"]
    assert reply.latency["endpoint_ms"] <= semantic.vad.end_silence_ms + 100
    assert reply.latency["stt_final_ms"] >= reply.latency["endpoint_ms"]
    assert reply.latency["first_frame_ms"] < 5000
    assert result.abandonment_ms is not None
