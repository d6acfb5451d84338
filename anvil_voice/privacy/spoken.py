"""Speech-to-text output as tokens, and the digits in it however they were written.

Recognisers write a card number as "4111 1111 1111 1111", "4111-1111-…", "four one one one
…", "forty one eleven …" or "double one"; the detectors want the digits and where each came
from, so a redaction covers exactly the words that said them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_TOKEN = re.compile(r"\d+|[^\W\d_]+(?:['\u2019][^\W\d_]+)?|\S")

UNITS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
# "oh" and "o" are zero only next to other digits ("oh, I see" is not a number).
ZERO_SOUNDS = frozenset({"oh", "o"})
TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5",
    "sixty": "6", "seventy": "7", "eighty": "8", "ninety": "9",
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}
# Between two digit groups of one number: punctuation and spoken separators, hesitations.
SEPARATORS = frozenset({"-", ",", ".", "\u2013", "\u2014", "dash", "hyphen"})
FILLERS = frozenset({"uh", "um", "er", "erm", "ah", "hmm", "mm"})
# What a caller says when they go on after a pause ("…and then 1111 1111").
CONTINUATIONS = frozenset({"and", "then", "okay", "ok", "yes", "yeah", "so", "next"})
# What the agent may say between two groups of one number: a backchannel ("mm-hmm", "okay,
# go on"), not a new question.
BACKCHANNEL_WORDS = 4


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # lower case
    start: int  # character offsets in its turn's text
    end: int
    turn: int
    # Words said to the caller just before (the agent's question): read for cues only.
    context: bool = False

    @property
    def is_word(self) -> bool:
        return self.text[0].isalpha()


def tokenize(text: str, *, turn: int = 0, context: bool = False) -> list[Token]:
    return [
        Token(match.group().lower(), match.start(), match.end(), turn, context)
        for match in _TOKEN.finditer(text)
    ]


@dataclass(frozen=True, slots=True)
class Digits:
    """A group of digits as said: "4111", "four", "forty one" (41), "double one" (11)."""

    digits: str
    first: int  # token indices (inclusive)
    last: int


def digit_groups(tokens: list[Token]) -> list[Digits]:
    """Every group of digits in the caller's tokens, in order (context tokens are skipped)."""
    groups: list[Digits] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.context:
            i += 1
            continue
        group = _group_at(tokens, i, groups)
        if group is None:
            i += 1
            continue
        groups.append(group)
        i = group.last + 1
    return groups


def _next_word(tokens: list[Token], i: int) -> int | None:
    """The index of the word after `i`, across one hyphen ("forty-one")."""
    j = i + 1
    if j < len(tokens) and tokens[j].text == "-":
        j += 1
    if j < len(tokens) and not tokens[j].context:
        return j
    return None


def _group_at(tokens: list[Token], i: int, groups: list[Digits]) -> Digits | None:
    text = tokens[i].text
    if text.isdigit():
        return Digits(text, i, i)
    if text in UNITS:
        return Digits(UNITS[text], i, i)
    if text in ZERO_SOUNDS:
        follows_digits = bool(groups) and _only_glue_between(tokens, groups[-1].last, i)
        j = _next_word(tokens, i)
        precedes_digits = j is not None and (
            tokens[j].text in UNITS or tokens[j].text.isdigit() or tokens[j].text in ZERO_SOUNDS
        )
        return Digits("0", i, i) if follows_digits or precedes_digits else None
    if text in TEENS:
        return Digits(TEENS[text], i, i)
    if text in TENS:
        j = _next_word(tokens, i)
        if j is not None and tokens[j].text in UNITS and tokens[j].text != "zero":
            return Digits(TENS[text] + UNITS[tokens[j].text], i, j)
        return Digits(TENS[text] + "0", i, i)
    if text in REPEATS:
        j = _next_word(tokens, i)
        if j is None:
            return None
        following = tokens[j].text
        digit = UNITS.get(following) or ("0" if following in ZERO_SOUNDS else None)
        if digit is None and following.isdigit() and len(following) == 1:
            digit = following
        if digit is not None:
            return Digits(digit * REPEATS[text], i, j)
    return None


def _only_glue_between(tokens: list[Token], left: int, right: int) -> bool:
    """True when only separators and hesitations lie between two digit groups of one turn."""
    between = tokens[left + 1 : right]
    if any(token.turn != tokens[left].turn for token in between):
        return False
    return all(token.text in SEPARATORS or token.text in FILLERS for token in between)


def joins(
    tokens: list[Token], left: Digits, right: Digits, *, is_cue: Callable[[str], bool]
) -> bool:
    """Whether two digit groups belong to one number: only glue between them, or a pause the
    caller's turn ended on with at most a backchannel from the agent between (a question
    about something else, "and a callback number?", starts a new number)."""
    between = tokens[left.last + 1 : right.first]
    crosses_turn = tokens[left.last].turn != tokens[right.first].turn
    said_between = [t for t in between if t.context and t.is_word]
    if len(said_between) > BACKCHANNEL_WORDS or any(is_cue(t.text) for t in said_between):
        return False
    for token in between:
        if token.context or token.text in SEPARATORS or token.text in FILLERS:
            continue
        if crosses_turn and token.text in CONTINUATIONS and token.turn == tokens[right.first].turn:
            continue
        return False
    if crosses_turn:
        # Across a pause only when the earlier turn ended on the digits and the later one
        # starts with them: "…1111." / "1111 1111…", not "I'm 42." / "1 more thing".
        tail = [t for t in tokens[left.last + 1 :] if t.turn == tokens[left.last].turn]
        return all(t.text in SEPARATORS or t.text in FILLERS for t in tail)
    return True


def runs(tokens: list[Token], *, is_cue: Callable[[str], bool]) -> list[list[Digits]]:
    """Digit groups joined into the numbers they make."""
    result: list[list[Digits]] = []
    for group in digit_groups(tokens):
        if result and joins(tokens, result[-1][-1], group, is_cue=is_cue):
            result[-1].append(group)
        else:
            result.append([group])
    return result
