"""Does the caller sound finished? A judgement on the words recognised so far at a pause.

Used by the `"semantic"` turn detection (`semantic_turn`): at a short pause the utterance so far
is recognised speculatively, and these rules say whether its words can end a turn. They look
only at the end of the text, which is where an unfinished sentence shows:

* a trailing word that cannot end an English sentence: a conjunction ("and", "because"), a
  preposition ("to", "at"), an article or possessive ("the", "my"), an auxiliary or copula
  ("is", "was", "will"), a filler ("um", "uh"), a subject pronoun ("I");
* trailing punctuation a recogniser uses for a break, not an end (",", "...", "-", ":");
* a number being given in groups (a phone number "555 …", a card, a code): the digits said so
  far, in a context that names a number, are fewer than a whole one (7 for a local phone
  number; fewer than 4 for anything else numbered).

It errs on the side of "finished": an unfinished verdict only costs the caller a longer wait
(the detector's silence cap), a wrong "finished" makes the agent talk into their pause, so the
rules name only what is clearly unfinished. Pure text, no Django, no model.
"""

from __future__ import annotations

import re

_UNFINISHED_WORDS = """
    and but or nor because cause cuz if whereas although unless until than whether
    to of at for with from by into onto between during as per via
    a an the my your our their its
    is are was were
    i i'm i've i'd i'll
    um uh er erm
"""
_TRAILING_UNFINISHED = frozenset(_UNFINISHED_WORDS.split())
# Left out on purpose, because a sentence can end on them: "so" (I think so), "that" (I like
# that), "no", "you" (thank you), "this" (who is this?), "in"/"on"/"over"/"about", "do"/"will"/
# "am"/"can" (yes I do), "maybe", "really".

# Said for a number: words Whisper may leave spelled out rather than as digits.
_NUMBER_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "double": "",
    "triple": "",
}
_NUMBER_CONTEXT = re.compile(
    r"\b(number|phone|cell|mobile|digits?|code|zip|postcode|card|account|extension|ext|call me"
    r" (?:at|on)|reach me (?:at|on))\b"
)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")
_BREAK_PUNCTUATION = (",", "...", "\u2026", "-", "\u2013", "\u2014", ":", ";")
_LOCAL_PHONE_DIGITS = 7


def looks_unfinished(text: str) -> bool:
    """True when `text` (what the caller said up to a pause) clearly goes on."""
    stripped = text.strip()
    if not stripped:
        return False  # no words: nothing to wait for (noise, or a recogniser that heard none)
    if stripped.endswith(_BREAK_PUNCTUATION):
        return True
    lowered = stripped.lower()
    tokens = _TOKEN.findall(lowered)
    if not tokens:
        return False
    if tokens[-1] in _TRAILING_UNFINISHED:
        return True
    return _number_in_progress(lowered, tokens)


def _number_in_progress(lowered: str, tokens: list[str]) -> bool:
    """A number given in groups, stopped short: "my number is 555" / "five five five"."""
    digits = ""
    for token in reversed(tokens):
        if token.isdigit():
            digits = token + digits
        elif token in _NUMBER_WORDS:
            digits = _NUMBER_WORDS[token] + digits
        else:
            break
    if not digits:
        return False
    if _NUMBER_CONTEXT.search(lowered) is None:
        return False
    if re.search(r"\b(phone|cell|mobile|number|call me|reach me)\b", lowered):
        return len(digits) < _LOCAL_PHONE_DIGITS
    return len(digits) < 4
