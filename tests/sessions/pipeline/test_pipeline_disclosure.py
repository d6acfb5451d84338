"""The recording disclosure in the pipeline: said whole right after the opening, and reported
as played only once the carrier echoed the mark after its last audio."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pipeline_support import SCRIPT, Line, make_call, piper

from sessions.pipeline import PipelineConfig, Speaker

HELLO = "Hello?"
OVER = "Wait, who is this?"
DISCLOSURE = "This call is recorded for quality."


class Reports:
    def __init__(self, line: Line | None = None) -> None:
        self.calls: list[tuple[bool, str]] = []
        self.unplayed_at_report: list[int] = []
        self.line = line

    async def __call__(self, confirmed: bool, mark: str) -> None:
        self.calls.append((confirmed, mark))
        if self.line is not None:
            # Audio still queued at the carrier when we were told: none may be left.
            self.unplayed_at_report.append(sum(isinstance(i, bytes) for i in self.line._buffer))


def disclosure_call(answers: list[str], **options: object):
    reports = Reports()
    call = make_call(
        answers,
        config=PipelineConfig(recording_disclosure=DISCLOSURE),
        on_disclosure=reports,
        **options,
    )
    reports.line = call.line
    return call, reports


def disclosure_playing(call) -> bool:
    """Audio sent after the opening's last mark (its three sentences): the disclosure's."""
    names = [m.get("mark", {}).get("name") for m in call.line.sent]
    if "turn1-3" not in names:
        return False
    return any(m["event"] == "media" for m in call.line.sent[names.index("turn1-3") + 1 :])


async def test_it_says_the_disclosure_whole_after_the_opening_and_reports_it_once_heard():
    call, reports = disclosure_call([HELLO, OVER])
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: disclosure_playing(call))

    # The caller talks over the disclosure: it goes on (no `clear`), and they are answered after.
    await call.line.run(piper(OVER), seconds=0.1)
    await call.line.until(lambda: reports.calls)
    await call.line.until(lambda: len([t for t in call.sink.turns if t.speaker == "agent"]) >= 3)

    assert reports.calls == [(True, "turn2-1")]
    assert reports.unplayed_at_report == [0]
    assert call.line.of_event("clear") == []
    agent = [t for t in call.sink.turns if t.speaker is Speaker.AGENT]
    assert [t.text for t in agent[:2]] == [SCRIPT.opening_line, DISCLOSURE]
    assert not agent[1].interrupted
    assert any(t.speaker is Speaker.CONTACT and t.text == OVER for t in call.sink.turns)
    [played] = [e for e in call.sink.events if e.kind == "disclosure_played"]
    assert played.data == {"mark": "turn2-1", "turn": 2}
    await call.pipeline.close()


async def test_a_call_that_ends_during_the_disclosure_never_reports_it():
    call, reports = disclosure_call([HELLO])
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: disclosure_playing(call))

    call.pipeline.on_stop()  # the caller hung up mid-disclosure
    result = await asyncio.wait_for(call.pipeline.wait(), 5)
    await asyncio.sleep(0)

    assert reports.calls == []
    assert not [e for e in result.events if e.kind.value.startswith("disclosure")]


@dataclass
class DeafLine(Line):
    """A carrier that plays the disclosure but never echoes its mark."""

    def _echo(self, name: str) -> None:
        if not name.startswith("turn2"):
            super()._echo(name)


async def test_a_disclosure_whose_mark_never_comes_back_is_reported_unconfirmed():
    call, reports = disclosure_call([HELLO], line_class=DeafLine)
    reports.line = None
    deaf = call.line
    call.pipeline.start("MZ1")
    await deaf.run(piper(HELLO), seconds=1.5)

    await deaf.until(lambda: reports.calls, seconds=20)

    assert reports.calls == [(False, "turn2-1")]
    assert [e.kind.value for e in call.sink.events if e.kind.value.startswith("disclosure")] == [
        "disclosure_unconfirmed"
    ]
    await call.pipeline.close()


async def test_without_a_disclosure_the_opening_is_followed_by_the_caller():
    reports = Reports()
    call = make_call([HELLO], on_disclosure=reports)
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len(call.sink.turns) >= 2)
    await call.line.run(seconds=1.0)

    assert reports.calls == []
    assert [t.text for t in call.sink.turns if t.speaker is Speaker.AGENT] == [SCRIPT.opening_line]
    await call.pipeline.close()


async def test_the_disclosure_comes_before_the_keypad_prompt():
    """Issue 16: the caller hears what is recorded before being told which keys to press."""
    from scripts.engine import ScriptSpec

    prompt = "Press 1 to talk to a person."
    script = ScriptSpec(
        opening_line=SCRIPT.opening_line,
        closing_line=SCRIPT.closing_line,
        keypad=[{"digit": "1", "action": "interested"}],
        keypad_prompt=prompt,
    )
    call, reports = disclosure_call([HELLO], script=script)
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: len([t for t in call.sink.turns if t.speaker == "agent"]) >= 3)

    agent = [t.text for t in call.sink.turns if t.speaker is Speaker.AGENT]
    assert agent[:3] == [SCRIPT.opening_line, DISCLOSURE, prompt]
    assert reports.calls == [(True, "turn2-1")]
    # The key still works after the prompt.
    call.pipeline.on_dtmf("1")
    await call.line.until(lambda: call.line.hung_up)
    said = [e.data["text"] for e in call.agent.events if e.kind == "said"]
    assert said[:2] == [SCRIPT.opening_line, prompt]
    await call.pipeline.close()


async def test_without_a_disclosure_the_keypad_prompt_follows_the_opening_in_one_turn():
    from scripts.engine import ScriptSpec

    prompt = "Press 1 to talk to a person."
    script = ScriptSpec(
        opening_line=SCRIPT.opening_line,
        closing_line=SCRIPT.closing_line,
        keypad=[{"digit": "1", "action": "interested"}],
        keypad_prompt=prompt,
    )
    call = make_call([HELLO], script=script)
    call.pipeline.start("MZ1")
    await call.line.run(piper(HELLO), seconds=1.5)
    await call.line.until(lambda: any(t.speaker is Speaker.AGENT for t in call.sink.turns))
    [first] = [t.text for t in call.sink.turns if t.speaker is Speaker.AGENT][:1]
    assert first == f"{SCRIPT.opening_line} {prompt}"
    await call.pipeline.close()
