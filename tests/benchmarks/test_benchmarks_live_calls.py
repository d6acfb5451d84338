"""The live-calls benchmark reads a call as the caller heard it (the calls themselves run in
`python -m benchmarks.live_calls`: too heavy for the suite)."""

from __future__ import annotations

from typing import Any

from benchmarks.live_calls import LevelResult, caller_view, verdicts


def said(t: float, speech_end_t: float, text: str = "line") -> dict[str, Any]:
    return {
        "kind": "persona_said",
        "t": t,
        "text": text,
        "done_t": round(speech_end_t + 0.2, 3),
        "speech_end_t": speech_end_t,
    }


def heard(start_t: float, duration_ms: int = 1500) -> dict[str, Any]:
    return {"kind": "agent_utterance", "start_t": start_t, "duration_ms": duration_ms}


STREAM_START = {"kind": "ws_sent", "event": "start", "t": 10.0}


def test_it_times_the_greeting_and_each_reply_from_the_end_of_the_callers_speech() -> None:
    log = [
        STREAM_START,
        said(10.3, 10.8, "Hello?"),
        heard(12.0),  # the opening
        said(14.2, 16.0),
        heard(17.1),  # the reply, sent at stream time 7 000 ms (sim time 17.0)
        said(19.2, 21.0),
        heard(22.5),  # the closing, sent at 12 400 ms
    ]

    view = caller_view(log, [7000, 12400])

    assert view.greeting_ms == 1200.0
    assert view.replies_ms == [1100.0, 1500.0]
    assert view.first_audio_ms == [1100.0, 1500.0]
    assert (view.unanswered, view.talked_over, view.estimated) == (0, 0, 0)


def test_a_trigger_line_heard_first_is_not_the_reply() -> None:
    log = [
        STREAM_START,
        said(10.3, 10.8, "Hello?"),
        heard(12.0),
        said(14.2, 16.0),
        heard(16.9, 900),  # "Sorry, I didn't catch that" (no speech_end turn on the server)
        heard(19.0),  # the real reply, sent at stream time 8 950 ms
    ]

    view = caller_view(log, [8950])

    assert view.first_audio_ms == [900.0]
    assert view.replies_ms == [3000.0]


def test_agent_speech_over_the_caller_and_lines_nobody_answered_are_counted() -> None:
    log = [
        STREAM_START,
        said(10.3, 10.8, "Hello?"),
        heard(12.0),
        said(14.2, 16.0),
        heard(15.0, 600),  # the agent started talking while the caller still was
        said(18.0, 19.5),  # the call ended before any reply to this one
    ]

    view = caller_view(log, [])

    assert (view.unanswered, view.talked_over) == (2, 1)
    assert view.replies_ms == []


def test_a_reply_running_on_from_earlier_agent_audio_is_timed_by_the_stream_clock() -> None:
    log = [
        STREAM_START,
        said(10.3, 10.8, "Hello?"),
        heard(12.0),
        said(14.2, 16.0),
        heard(16.5, 4000),  # a trigger line, and the reply right after it with no pause
    ]

    view = caller_view(log, [8000])

    assert view.replies_ms == [2000.0]
    assert view.estimated == 1


def test_the_verdicts_name_each_target_met_or_not() -> None:
    one = LevelResult(concurrency=1, samples={"heard_ms": [700.0, 750.0, 1300.0]})
    five = LevelResult(
        concurrency=5,
        samples={"heard_ms": [1500.0] * 20},
        counts={"stt_timeout": 0, "tts_timeout": 1, "ended_by_pipeline_error": 0},
    )

    assert verdicts([one, five]) == [
        "target, 1 call(s): p50 750 ms (≤ 800: met); p95 1 300 ms (≤ 1200: NOT met)",
        "target, 5 call(s): p95 1 500 ms (≤ 2000: met); "
        "timeouts + pipeline-error ends 1 (0: NOT met)",
    ]
