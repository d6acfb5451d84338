"""The one interface both agents (scripted and LLM) implement, and a sentence chunker for TTS.

Driving a call::

    async for chunk in agent.opening():          # speak while it streams
        tts.feed(chunk)
    while not agent.finished:
        heard = await stt.next_utterance()       # None when the caller stayed silent
        async for chunk in agent.reply(heard):
            tts.feed(chunk)
    agent.outcome, agent.events, agent.actions   # persist; apply actions after commit
    await agent.aclose()

Contract:
- ``opening()`` and ``reply()`` are async generators of text chunks (anything from a token to a
  sentence). Pipe them through `speakable_chunks` to get TTS-sized pieces. They are declared
  with plain ``def`` in the protocol because calling an async generator function returns the
  iterator directly, it is not awaited.
- A reply's decision is taken while it is iterated: iterate it to the end (or ``aclose()`` it on
  barge-in). Calling ``reply()`` after ``finished`` raises `AgentFinishedError`.
- ``actions`` are what the platform must do: `EndCall` (always last, exactly once),
  `ScheduleCallback`, `MarkDoNotCall`. ``events`` are the transcript of the call, numbered by
  ``seq`` and grouped by ``turn``.
- Neither agent ever raises for a provider failure during a call: the LLM agent says a short
  apology, records an ``error`` event and ends.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from scripts.engine.types import AgentAction, EngineEvent, Outcome


@runtime_checkable
class Agent(Protocol):
    def opening(self) -> AsyncIterator[str]: ...

    def reply(self, heard: str | None) -> AsyncIterator[str]: ...

    @property
    def finished(self) -> bool: ...

    @property
    def outcome(self) -> Outcome | None: ...

    @property
    def events(self) -> list[EngineEvent]: ...

    @property
    def actions(self) -> list[AgentAction]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class HearsKeys(Protocol):
    """An agent that acts on the keys the caller presses (the scripted agent, from its script's
    keypad). The pipeline asks `answers_key` first: a key nobody maps is only transcribed."""

    def answers_key(self, digit: str) -> bool: ...

    def press(self, digit: str) -> AsyncIterator[str]:
        """The reply to a key press, streamed like `reply()`."""


@runtime_checkable
class TakesEntries(Protocol):
    """An agent that answers a number the caller typed (the script's `KeypadEntry`): the
    pipeline collects the keys and hands them over as one turn."""

    def entered(self, digits: str) -> AsyncIterator[str]:
        """The reply to the typed number, streamed like `reply()`."""


@runtime_checkable
class PromptsKeys(Protocol):
    """An agent whose opening carries the script's keypad prompt. When the call has a recording
    disclosure, the pipeline asks it to leave the prompt out of the opening and says the prompt
    itself after the disclosure: what the call records is announced before anything else."""

    def defer_keypad_prompt(self) -> bool:
        """Leave the prompt out of the opening; False (nothing changes) when there is none."""

    def keypad_prompt(self) -> AsyncIterator[str]:
        """The deferred prompt, streamed like `reply()`."""


@runtime_checkable
class SendsKeys(Protocol):
    """An agent that may press keys on the call (the `send_digits` built-in tool). The pipeline
    binds its own sender (`CallPipeline.send_digits`) when it is built."""

    def bind_digit_sender(self, sender: Callable[[str], int]) -> None: ...


@runtime_checkable
class KnowsItsLines(Protocol):
    """An agent that can list what it will say before it hears anything (both agents do)."""

    def known_lines(self) -> list[list[str]]:
        """Each line as the pieces the agent streams for it, the most urgent (the opening)
        first. Changes nothing."""


# Abbreviations whose trailing dot does not end a sentence.
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "e.g",
        "i.e",
        "approx",
        "no",
        "a.m",
        "p.m",
    }
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014]+(?=\s)")


def _sentence_boundary(buffer: str, start: int = 0) -> int | None:
    """Index just past the first real sentence end in ``buffer`` that has text after it."""
    for match in _SENTENCE_END.finditer(buffer, start):
        before = buffer[: match.start()].rsplit(None, 1)
        word = before[-1].lower() if before else ""
        if match.group(0) == "." and word.rstrip(".") in _ABBREVIATIONS:
            continue
        return match.end()
    return None


def split_speakable(text: str, *, max_chars: int = 120) -> list[str]:
    """Split finished text into sentences, and overlong sentences at clause punctuation."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        end = _sentence_boundary(rest)
        if end is None:
            end = len(rest)
        sentence, rest = rest[:end].strip(), rest[end:].strip()
        pieces.extend(_split_long(sentence, max_chars))
    return [piece for piece in pieces if piece]


def _split_long(sentence: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    while len(sentence) > max_chars:
        cut = None
        for match in _CLAUSE_END.finditer(sentence):
            if match.end() > max_chars:
                break
            cut = match.end()
        if cut is None:
            cut = sentence.rfind(" ", 0, max_chars)
        if cut <= 0:
            break
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    pieces.append(sentence)
    return pieces


async def speakable_chunks(
    stream: AsyncIterable[str], *, max_chars: int = 120
) -> AsyncIterator[str]:
    """Re-chunk a token stream into sentences as soon as each one is complete.

    The first words of a reply reach TTS after the first sentence, not after the whole reply;
    a sentence longer than ``max_chars`` is released at a clause boundary so a rambling reply
    does not hold speech back.
    """
    buffer = ""
    async for text in stream:
        buffer += text
        while True:
            end = _sentence_boundary(buffer)
            if end is None and len(buffer) > max_chars:
                clauses = [m.end() for m in _CLAUSE_END.finditer(buffer) if m.end() <= max_chars]
                end = clauses[-1] if clauses else buffer.rfind(" ", 0, max_chars)
                end = end if end and end > 0 else None
            if end is None:
                break
            piece, buffer = buffer[:end].strip(), buffer[end:].lstrip()
            if piece:
                yield piece
    if buffer.strip():
        for piece in split_speakable(buffer, max_chars=max_chars):
            yield piece
