"""Text normalisation shared by trigger matching, intent detection and time parsing.

Speech-to-text output is lowercase or oddly cased, loses or keeps apostrophes at random, writes
numbers as words or digits, and is sprinkled with fillers. `normalize` maps all of that onto one
canonical form so the rules downstream stay small:

    "Um, I'm NOT intrested... call me in two hours!"  →  "i am not intrested , call me in 2 hours"

Clause punctuation survives as standalone ``,`` / ``.`` tokens because intent rules need clause
boundaries ("I'm in, let's go" vs "I'm in a meeting"); ``?`` survives as its own token because
questions matter; a ``:`` survives only inside clock times.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable

_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\bcannot\b", "can not"),
    (r"\bshan't\b", "shall not"),
    (r"\bain't\b", "is not"),
    (r"\blet's\b", "let us"),
    (r"\by'all\b", "you all"),
    (r"\b(how|where|what|why|who)'d\b", r"\1 did"),
    (r"n't\b", " not"),
    (r"\bi'm\b", "i am"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"'d\b", " would"),
    (r"\b(it|that|what|there|here|he|she|who|where|how|this)'s\b", r"\1 is"),
    (r"'s\b", ""),  # possessive: "company's" → "company"
)

# Transcripts often drop apostrophes; only forms that are not also ordinary words are listed
# ("ill", "were", "id", "wed" are left alone).
_BARE_CONTRACTIONS = {
    "im": "i am",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "wont": "will not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "couldnt": "could not",
    "youre": "you are",
    "theyre": "they are",
    "ive": "i have",
    "youve": "you have",
    "weve": "we have",
    "youll": "you will",
    "thats": "that is",
    "whats": "what is",
    "lets": "let us",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
    "kinda": "kind of",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
}

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}

# Sounds that carry no meaning. "uh huh" and "mhm" are NOT here: they mean yes.
FILLERS = frozenset({"um", "umm", "uhm", "uh", "uhh", "er", "erm", "ah", "ahh", "hmm", "hm"})
_FILLER_PHRASES = (r"\byou know\b", r"\bi mean\b")
_AFFIRMATIVE_SOUNDS = (r"\buh[- ]huh\b", r"\bmm[- ]?hmm\b", r"\bmhm+\b")

# Words that say nothing about *which* objection was raised. Negations, question words and
# "already"/"other" are deliberately kept: they change the meaning of a phrase.
_STOPWORD_TEXT = """
    a an the i me my mine myself we us our ours you your yours he him his she her it its they
    them their this that these those is am are was were be been being do does did doing have
    has had having will would shall should can could may might must to of in on at by for
    with from as into onto so and or but if then than just really very well oh okay ok yeah
    yes yep sure please sir maam mam actually honestly basically literally right like kind sort
    quite pretty super totally thing things stuff anyway also now there here going want
    wanted let sound sounds seem seems guy guys folks people
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _numbers_to_digits(tokens: list[str]) -> list[str]:
    out: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _TENS:
            value = _TENS[token]
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if following in _UNITS and 0 < _UNITS[following] < 10:
                value += _UNITS[following]
                index += 1
            out.append(str(value))
        elif token in _UNITS:
            out.append(str(_UNITS[token]))
        else:
            out.append(token)
        index += 1
    return out


def normalize(text: str) -> str:
    """Canonical lowercase form; see the module docstring."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    for pattern in _AFFIRMATIVE_SOUNDS:
        text = re.sub(pattern, " yes ", text)
    # "p.m." / "a.m." before punctuation is stripped; "3.30" (UK style) is a clock time.
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)
    text = re.sub(r"(\d)\.(\d\d)\b", r"\1:\2", text)
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    text = text.replace("'", "").replace("-", " ")
    text = re.sub(r"(?<!\d):|:(?!\d)", " , ", text)
    text = re.sub(r"[?]", " ? ", text)
    text = re.sub(r"[!;]|\.{2,}|\u2026", " . ", text)
    text = re.sub(r"\.(?!\d)", " . ", text)
    text = re.sub(r",", " , ", text)
    text = re.sub(r"[^a-z0-9:,.?\s]", " ", text)
    for pattern in _FILLER_PHRASES:
        text = re.sub(pattern, " ", text)
    tokens: list[str] = []
    for token in text.split():
        if token in FILLERS:
            continue
        tokens.extend(_BARE_CONTRACTIONS.get(token, token).split())
    tokens = _numbers_to_digits(tokens)
    # Collapse runs of punctuation left behind by removed fillers ("um, , yes").
    collapsed: list[str] = []
    for token in tokens:
        if token in {",", "."} and (not collapsed or collapsed[-1] in {",", ".", "?"}):
            continue
        collapsed.append(token)
    while collapsed and collapsed[-1] in {",", "."}:
        collapsed.pop()
    return " ".join(collapsed)


def words(text: str) -> list[str]:
    """Normalised word tokens without punctuation tokens."""
    return [token for token in normalize(text).split() if token not in {",", ".", "?"}]


def _undouble(word: str) -> str:
    if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        return word[:-1]
    return word


def stem(word: str) -> str:
    """A deliberately small suffix stripper (not Porter): it only has to be *consistent*.

    ``interested/interesting/interest`` → ``interest``, ``calling/called/calls`` → ``call``,
    ``pricing/priced/price`` → ``pric``. Short words and numbers are left alone.
    """
    if len(word) <= 2 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ied") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ing") and len(word) >= 5:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 5:
        word = _undouble(word[:-2])
    elif word.endswith("ly") and len(word) >= 6:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) >= 4:
        word = word[:-1]
    if word.endswith("e") and len(word) >= 3:
        word = word[:-1]
    return word


def spell_correct(tokens: Iterable[str], vocabulary: Collection[str]) -> list[str]:
    """Snap near-miss transcriptions ("intrested") onto known words ("interested").

    Only words of five letters or more are touched and the cut-off is high, because a short
    word is easily one edit away from a different word ("now"/"not").
    """
    known = list(vocabulary)
    corrected: list[str] = []
    for token in tokens:
        if len(token) >= 5 and token.isalpha() and token not in vocabulary:
            close = difflib.get_close_matches(token, known, n=1, cutoff=0.84)
            corrected.append(close[0] if close else token)
        else:
            corrected.append(token)
    return corrected
