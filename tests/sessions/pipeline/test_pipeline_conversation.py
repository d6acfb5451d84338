"""A whole call through the pipeline with instant fake providers, in accelerated stream time."""

from __future__ import annotations

import asyncio
import base64

from pipeline_support import SCRIPT, make_call, piper

from scripts.engine import Outcome, ScriptSpec
from scripts.engine.types import EndCall
from sessions.pipeline import CallEndReason, PipelineConfig, Speaker

HELLO = "Hello?"
YES = "Yes, that sounds great, sign me up."


async def test_it_waits_for_the_greeting_then_speaks_the_opening_as_frames_and_marks():
    call = make_call()
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: call.sink.turns)

    media = call.line.of_event("media")
    marks = call.line.of_event("mark")
    assert media
    assert all(m["streamSid"] == "MZ1" for m in media)
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    # One mark per sentence of the opening, in order, each after its audio.
    assert [m["mark"]["name"] for m in marks] == ["turn1-1", "turn1-2", "turn1-3"]
    [opening] = call.sink.turns
    assert opening.speaker is Speaker.AGENT
    assert opening.text == SCRIPT.opening_line
    assert not opening.interrupted
    # Paced: never more than the lead (1 s = 50 frames) queued at Twilio.
    assert call.line.max_buffered_frames <= PipelineConfig().playback_lead_ms // 20
    # The opening starts after "Hello?" ended, not over it.
    [greeting_end] = [e for e in call.sink.events if e.kind == "speech_ended"]
    assert opening.start_ms > greeting_end.data["end_ms"]
    assert opening.latency["since"] == "greeting_end"
    await call.pipeline.close()


async def test_a_server_stall_under_the_low_water_mark_is_not_heard_as_a_gap():
    # A loaded box can keep the pipeline off the CPU for a while; a gap in the agent's audio
    # that long makes a caller think the agent has finished and start talking.
    config = PipelineConfig()
    stall_frames = config.playback_low_water_ms // 20 - 1
    call = make_call(config=config)
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: call.line.of_event("media"))
    await call.line.run(seconds=0.1)
    gaps_before = call.line.empty_ticks

    for _ in range(stall_frames):  # Twilio plays on; the pipeline gets no turn to run
        call.line.tick()
        call.clock.advance(0.02)

    assert call.line.empty_ticks == gaps_before
    await call.line.until(lambda: call.sink.turns)
    [opening] = call.sink.turns
    assert opening.text == SCRIPT.opening_line
    await call.pipeline.close()


async def test_a_caller_answer_becomes_a_turn_and_the_agent_replies_and_hangs_up():
    call = make_call(["Hello?", YES])
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)  # greeting + opening
    await call.line.run(piper(YES), seconds=1.0)
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    speakers = [(t.speaker.value, t.text) for t in result.turns]
    assert speakers == [
        ("contact", "Hello?"),
        ("agent", SCRIPT.opening_line),
        ("contact", YES),
        ("agent", SCRIPT.closing_line),
    ]
    assert result.outcome is Outcome.INTERESTED
    assert result.end_reason is CallEndReason.AGENT_ENDED
    assert result.agent_end_reason == "agreed"
    assert result.actions == [EndCall(reason="agreed", outcome=Outcome.INTERESTED)]
    assert result.hung_up
    # Hung up only once the goodbye had been heard: every mark echoed first.
    assert result.stats.marks_echoed == result.stats.marks_sent
    assert call.sink.results == [result]
    starts = [t.start_ms for t in result.turns]
    assert starts == sorted(starts)
    assert result.abandonment_ms is not None
    assert result.abandonment_ms > 0


INTERRUPTION = "Sorry to interrupt, how much does it cost?"


async def start_and_greet(call, answers_ready: bool = True) -> None:
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)


async def test_caller_speech_over_the_agent_clears_twilio_and_cuts_the_transcript():
    call = make_call(["Hello?", "How much does it cost?"])
    await start_and_greet(call)
    # Let the opening play for about a second, then talk over it.
    await call.line.until(lambda: len(call.line.of_event("media")) >= 50)
    await call.line.run(piper(INTERRUPTION), seconds=1.0)
    await call.line.until(lambda: len([t for t in call.sink.turns if t.speaker == "agent"]) >= 2)

    sent = [m["event"] for m in call.line.sent]
    assert "clear" in sent
    clear_at = sent.index("clear")
    # Nothing of the opening is sent after the clear: its remaining marks and audio are gone.
    opening_marks = [m["mark"]["name"] for m in call.line.sent[clear_at:] if m["event"] == "mark"]
    assert not any(name.startswith("turn1-") for name in opening_marks)
    _greeting, opening, heard, reply = call.sink.turns
    assert opening.interrupted
    # Only what was played: a strict word prefix of the opening line.
    assert opening.text
    assert SCRIPT.opening_line.startswith(opening.text)
    assert len(opening.text) < len(SCRIPT.opening_line)
    # The cut is at the barge-in, which comes after the caller started talking.
    [barge_in] = [e for e in call.sink.events if e.kind == "barge_in"]
    assert barge_in.data == {"source": "speech", "turn": 1}
    assert opening.end_ms == barge_in.at_ms
    assert (heard.speaker, heard.text) == ("contact", "How much does it cost?")
    assert heard.start_ms < opening.end_ms  # the caller started before the agent stopped
    assert reply.speaker == "agent"
    assert not reply.interrupted
    assert call.pipeline.stats.barge_ins == 1
    await call.pipeline.close()


async def test_the_heard_prefix_matches_the_audio_the_caller_actually_heard():
    call = make_call(["Hello?", "wait"])
    await start_and_greet(call)
    await call.line.until(lambda: call.line.of_event("mark"))  # first sentence fully sent
    await call.line.until(lambda: call.pipeline.stats.marks_echoed >= 1)
    await call.line.run(piper("Wait."), seconds=0.5)
    # "Wait." is over before the barge-in policy's 600 ms of speech: its words cut in.
    await call.line.until(lambda: any(t.speaker == "agent" for t in call.sink.turns))
    opening = next(t for t in call.sink.turns if t.speaker == "agent")
    [barge_in] = [e for e in call.sink.events if e.kind == "barge_in"]
    assert barge_in.data["source"] == "words"
    assert opening.interrupted
    # The first sentence was heard (its mark came back); the rest only in part, if at all.
    assert opening.text.startswith("Hi, this is Anvil.")
    await call.pipeline.close()


async def test_long_silence_asks_if_anyone_is_there_then_says_goodbye():
    call = make_call()
    call.pipeline.start("MZ1")
    await call.line.until(lambda: call.line.hung_up, seconds=40)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    texts = [t.text for t in result.turns]
    assert texts == [
        SCRIPT.opening_line,
        "Are you still there?",
        "It seems I've lost you. I'll let you go. Goodbye.",
    ]
    assert result.turns[1].latency["since"] == "trigger"
    silences = [e for e in result.events if e.kind == "silence_timeout"]
    assert [e.data["silent_ms"] for e in silences] == [6000, 6000]
    # The second "still there?" waits 6 s after the first one ended, not after the opening.
    assert silences[1].at_ms - result.turns[1].end_ms == 6000
    assert result.outcome is Outcome.NO_CONVERSATION
    assert result.agent_end_reason == "silence"


async def test_pressing_the_opt_out_digit_stops_the_agent_and_marks_do_not_call():
    call = make_call(["Hello?"])
    await start_and_greet(call)
    await call.line.until(lambda: len(call.line.of_event("media")) >= 30)
    call.pipeline.on_dtmf("9")
    await call.line.until(lambda: call.line.hung_up)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert "clear" in [m["event"] for m in call.line.sent]
    opening, confirmation = [t for t in result.turns if t.speaker == "agent"]
    assert opening.interrupted
    assert confirmation.text == "Understood, we won't call you again. Goodbye."
    assert not confirmation.interrupted
    assert result.outcome is Outcome.DO_NOT_CALL
    assert result.end_reason is CallEndReason.OPTED_OUT_DTMF
    assert [a.as_dict() for a in result.actions] == [
        {"action": "mark_do_not_call"},
        {"action": "end_call", "reason": "opted_out_dtmf", "outcome": "do_not_call"},
    ]
    assert result.stats.dtmf_digits == "9"


async def test_other_digits_are_recorded_and_ignored():
    call = make_call()
    call.pipeline.start("MZ1")
    await call.line.run(seconds=0.2)
    call.pipeline.on_dtmf("1")
    await call.line.run(seconds=0.2)
    assert [e.data for e in call.sink.events if e.kind == "dtmf"] == [
        {"digit": "1", "answered": False}
    ]
    assert not any(e.kind == "opt_out" for e in call.sink.events)
    result = await call.pipeline.close()
    assert result.outcome is None


NOT_INTERESTED = "No thanks, I'm not interested."


async def test_an_objection_answering_a_refusal_is_the_last_line_and_the_agent_hangs_up():
    # Issue 13: the script answers "not interested" with a line that asks nothing; it stood in
    # for the goodbye and the call then sat in silence until the silence timeout.
    script = ScriptSpec(
        opening_line=SCRIPT.opening_line,
        closing_line=SCRIPT.closing_line,
        objection_responses=[("not interested", "No problem, thanks for your time.")],
    )
    call = make_call(["Hello?", NOT_INTERESTED], script=script)
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)
    await call.line.run(piper(NOT_INTERESTED), seconds=1.0)
    # Well inside the silence timeout: the hang-up follows the last line, not a timer.
    await call.line.until(lambda: call.line.hung_up, seconds=5.0)
    result = await asyncio.wait_for(call.pipeline.wait(), 5)

    assert [(t.speaker.value, t.text) for t in result.turns][-1] == (
        "agent",
        "No problem, thanks for your time. Goodbye.",
    )
    assert (result.outcome, result.agent_end_reason) == (
        Outcome.NOT_INTERESTED,
        "objection_closed",
    )
    assert result.end_reason is CallEndReason.AGENT_ENDED
    kinds = [event.kind.value for event in result.events]
    assert "silence_timeout" not in kinds
    # Hung up once the last line was heard, with no dead air after it.
    [hang_up] = [event for event in result.events if event.kind.value == "hang_up"]
    assert hang_up.at_ms - result.turns[-1].end_ms <= PipelineConfig().mark_grace_ms
    assert result.stats.marks_echoed == result.stats.marks_sent
