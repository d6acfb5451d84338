"""Match a caller's utterance to one of a script's objection triggers.

Each phrase (a trigger, or a paraphrase it borrowed from `paraphrases.OBJECTION_FAMILIES`) and
the utterance become sets of canonical content words: normalised, stopwords dropped, stemmed,
synonyms folded. Words pair up exactly (1.0) or fuzzily (``difflib`` ratio ≥ 0.8 for words of
four letters or more, which absorbs transcription noise like "intrested"/"expencive").

    coverage  = how much of the phrase the utterance contains      (weight 0.7)
    precision = how much of the utterance the phrase explains      (weight 0.3)

Coverage dominates because callers pad objections with small talk. Two polarity checks guard
against the classic false positives of word overlap: a negation on one side only ("it's *not*
too expensive") and a question on one side only ("*how much* does it cost?" against "it costs too
much") each multiply the score by 0.7. The best trigger at or above ``threshold`` wins; ties go
to the trigger listed first.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from scripts.engine.normalize import STOPWORDS, normalize, stem
from scripts.engine.paraphrases import IRREGULAR_WORDS, OBJECTION_FAMILIES, SYNONYMS

DEFAULT_THRESHOLD = 0.65
# A trigger borrows a paraphrase family when it is this close to one of the family's phrases.
FAMILY_THRESHOLD = 0.8
FUZZY_CUTOFF = 0.8
POLARITY_PENALTY = 0.7

NEGATIONS = frozenset({"not", "no", "never", "nothing", "none", "nobody"})
QUESTION_WORDS = frozenset({"how", "what", "why", "where", "who", "when", "which"})
# Transcripts rarely carry a "?": a leading auxiliary verb marks a yes/no question instead.
QUESTION_OPENERS = frozenset(
    {"is", "are", "do", "does", "did", "can", "could", "will", "would", "have", "has", "am"}
)
# Intensifiers and hedges count for less than the words that name the objection.
LIGHT_WORDS = frozenset({"too", "much", "way", "so", "more", "less", "lot"})
LIGHT_WEIGHT = 0.4


@dataclass(frozen=True, slots=True)
class Phrase:
    words: frozenset[str]
    negated: bool
    question: bool


@dataclass(frozen=True, slots=True)
class TriggerMatch:
    index: int
    trigger: str
    score: float
    matched_phrase: str


@lru_cache(maxsize=4096)
def phrase(text: str) -> Phrase:
    raw_tokens = normalize(text).split()
    # A "no" standing alone ("no, it's too expensive") answers the question and is dropped;
    # only a "no" that governs a word ("no budget") negates the phrase.
    tokens = [
        token
        for index, token in enumerate(raw_tokens)
        if token not in {",", "."}
        and not (
            token == "no" and (index + 1 == len(raw_tokens) or not raw_tokens[index + 1].isalnum())
        )
    ]
    negated = any(token in NEGATIONS for token in tokens)
    canonical: set[str] = set()
    for token in tokens:
        if token == "?" or token in STOPWORDS:
            continue
        token = IRREGULAR_WORDS.get(token, token)
        if not token:
            continue
        stemmed = stem(token)
        canonical.add(SYNONYMS.get(stemmed, SYNONYMS.get(token, stemmed)))
    return Phrase(
        words=frozenset(canonical),
        negated=negated,
        question=(
            "?" in tokens
            or any(token in QUESTION_WORDS for token in tokens)
            or bool(tokens and tokens[0] in QUESTION_OPENERS)
        ),
    )


@lru_cache(maxsize=65536)
def word_similarity(left: str, right: str) -> float:
    if left == right:
        return 1.0
    if len(left) < 4 or len(right) < 4 or not left.isalpha() or not right.isalpha():
        return 0.0
    ratio = difflib.SequenceMatcher(None, left, right).ratio()
    return ratio if ratio >= FUZZY_CUTOFF else 0.0


def _weight(word: str) -> float:
    return LIGHT_WEIGHT if word in LIGHT_WORDS else 1.0


def _covered(source: frozenset[str], target: frozenset[str]) -> float:
    """Weighted share of ``source`` words that have a partner in ``target``."""
    total_weight = sum(_weight(word) for word in source)
    if not total_weight:
        return 0.0
    covered = sum(
        _weight(word) * max((word_similarity(word, other) for other in target), default=0.0)
        for word in source
    )
    return covered / total_weight


def phrase_score(trigger: Phrase, utterance: Phrase) -> float:
    if not trigger.words or not utterance.words:
        return 0.0
    score = 0.7 * _covered(trigger.words, utterance.words) + 0.3 * _covered(
        utterance.words, trigger.words
    )
    if trigger.negated != utterance.negated:
        score *= POLARITY_PENALTY
    if trigger.question != utterance.question:
        score *= POLARITY_PENALTY
    return score


def similarity(trigger: str, utterance: str) -> float:
    """Score of ``utterance`` against one phrase, without paraphrase families."""
    return phrase_score(phrase(trigger), phrase(utterance))


def _family_phrases(trigger: str) -> tuple[str, ...]:
    """Paraphrases a trigger borrows: every family with a phrase that covers the trigger."""
    trigger_phrase = phrase(trigger)
    borrowed: list[str] = []
    for family in OBJECTION_FAMILIES.values():
        closeness = max(phrase_score(trigger_phrase, phrase(text)) for text in family)
        if closeness >= FAMILY_THRESHOLD:
            borrowed.extend(family)
    return tuple(borrowed)


class TriggerMatcher:
    """Best-trigger lookup for one script; build once per call and reuse."""

    def __init__(self, triggers: Sequence[str], *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.triggers = list(triggers)
        self.threshold = threshold
        self._phrases = [(trigger, *_family_phrases(trigger)) for trigger in self.triggers]

    def scores(self, utterance: str) -> list[tuple[float, str]]:
        """Per trigger: best score and the phrase (trigger or paraphrase) that produced it."""
        heard = phrase(utterance)
        results: list[tuple[float, str]] = []
        for phrases in self._phrases:
            best = max((phrase_score(phrase(text), heard), text) for text in phrases)
            results.append(best)
        return results

    def match(self, utterance: str) -> TriggerMatch | None:
        best: TriggerMatch | None = None
        for index, (score, text) in enumerate(self.scores(utterance)):
            if score >= self.threshold and (best is None or score > best.score):
                best = TriggerMatch(
                    index=index,
                    trigger=self.triggers[index],
                    score=round(score, 3),
                    matched_phrase=text,
                )
        return best


def best_match(
    utterance: str, triggers: Sequence[str], *, threshold: float = DEFAULT_THRESHOLD
) -> TriggerMatch | None:
    return TriggerMatcher(triggers, threshold=threshold).match(utterance)
