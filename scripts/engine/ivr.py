"""Phone menus (IVR): read menu options from what the callee said, match them to the script's
target, and navigate (issue 16 item 3). Pure Python, no clock, no audio: the pipeline feeds
recognised utterances and the stream time, and acts on the decisions.

Menus come through the recogniser the way Whisper writes them: digits or number words, with
or without punctuation, the key first ("Press one for sales") or last ("For billing, press
2"), several options in one utterance or one per utterance::

    parse_options("For sales, press 1. To speak to a representative, press zero.")
    → [MenuOption("1", "sales"), MenuOption("0", "speak to a representative")]

`IvrNavigator` is the state machine: every utterance is a menu (options), a hold message
("please hold", "your call is important"), a person ("Hi, this is Sam, how can I help?") or
noise; it presses the option that best fits the target as soon as one is heard, waits through
holds, hands over to the script when a person answers, and gives up on the time limit or when
the menu repeats without an option that fits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from scripts.engine.matching import word_similarity
from scripts.engine.normalize import STOPWORDS, normalize, stem

_VERBS = frozenset({"press", "dial", "push", "select", "enter", "hit", "pressing"})
_KEY_WORDS = {"star": "*", "pound": "#", "hash": "#", "oh": "0", "zero": "0"}
_LABEL_LEADERS = ("for", "to", "if")
_PUNCT = frozenset({",", ".", "?"})
# Words that say nothing about where an option leads ("to speak to a ...", "please").
_LABEL_NOISE = frozenset(
    {
        "please",
        "now",
        "speak",
        "talk",
        "reach",
        "connect",
        "connected",
        "get",
        "through",
        "our",
        "department",
        "team",
        "line",
        "option",
        "key",
        "would",
        "like",
        "want",
        "wish",
        "need",
        "calling",
        "about",
        "regarding",
        "question",
        "questions",
        "inquiry",
        "inquiries",
    }
)

# Targets a manager writes and the words menus use for them. A target that uses any word of a
# family matches every word of it ("a person" reaches "an operator").
SYNONYM_FAMILIES: tuple[frozenset[str], ...] = tuple(
    frozenset(stem(word) for word in family.split())
    for family in (
        "person human someone somebody operator representative rep agent associate "
        "receptionist attendant live advisor adviser specialist staff member people "
        "customer service care",
        "account accounts billing bill payment payments invoice invoices accounting balance",
        "sales sale buy purchase purchasing order pricing quote new",
        "support technical tech help troubleshooting repair problem",
    )
)

# Said by a person who has picked up ("Accounts, Jane speaking, how can I help?").
_PERSON_STRONG = (
    r"\bhow (can|may|could) i (help|assist)",
    r"\bwhat can i do for you\b",
    r"\bhow can we help\b",
    r"\bspeaking\b",
    r"\bthis is [a-z]+\b(?! (a|an|the|our)\b)",
    r"\bmy name is\b",
    r"\bwho am i (speaking|talking) (to|with)\b",
)
# A recording: the menu's preamble, hold messages, "connecting you".
_HOLD = (
    r"\bplease (hold|wait|stay on the line|remain on the line)\b",
    r"\byour call is (important|valuable)\b",
    r"\bthank you for (calling|holding|waiting|your patience)\b",
    r"\bwelcome to\b",
    r"\b(all )?(of )?our (agents|representatives|operators|staff|team members) are\b",
    r"\bnext available\b",
    r"\b(connect|transfer)(ing)? you(r call)?\b",
    r"\bmenu options have changed\b",
    r"\blisten carefully\b",
    r"\bcall (may|will) be recorded\b",
    r"\bestimated wait\b",
    r"\bin the queue\b",
    r"\bhold music\b",
    r"\bmusic\b",
)
_PERSON_WEAK = (r"^(hello|hi|hey|yes|yeah|good (morning|afternoon|evening))\b",)
_STAY_ON_LINE = re.compile(r"\b(stay|remain) on the line\b|\bhold\b")


@dataclass(frozen=True, slots=True)
class MenuOption:
    digit: str  # "0"-"9", "*", "#"; "" means "stay on the line" (no key to press)
    label: str  # normalised words: "sales", "speak to a representative"


# Whisper hears "press two for billing" as "press to for billing" (and "four" as "for"): right
# after a verb and before a label, these are keys.
_HOMOPHONE_KEYS = {"to": "2", "too": "2", "for": "4"}


def _key(token: str) -> str | None:
    if len(token) == 1 and token.isdigit():
        return token
    return _KEY_WORDS.get(token)


def _prepare(text: str) -> list[str]:
    # `normalize` drops "#" and "*": name them first, map the names back in `_key`.
    text = text.replace("#", " pound ").replace("*", " star ")
    return normalize(text).split()


def _trim(tokens: list[str]) -> list[str]:
    """The words of a label: the last clause before the key, no edge punctuation."""
    while tokens and tokens[0] in _PUNCT:
        tokens = tokens[1:]
    while tokens and tokens[-1] in _PUNCT:
        tokens = tokens[:-1]
    for index in range(len(tokens) - 1, -1, -1):
        if tokens[index] in _PUNCT:
            tokens = tokens[index + 1 :]
            break
    while tokens and tokens[0] in {"and", "or", "please", "now", "then", "you", "can", "may"}:
        tokens = tokens[1:]
    return tokens


def _meaningful(tokens: list[str]) -> bool:
    return any(t not in STOPWORDS and t not in _LABEL_NOISE and t not in _PUNCT for t in tokens)


def _key_at(tokens: list[str], index: int, seen_verb: bool) -> int | None:
    """Where the key is when a key press is named at `index` ("press 1", "press, 1"), or a bare
    key after a list separator once a verb was heard ("…, 2 for billing")."""
    token = tokens[index]
    if token in _VERBS:
        for offset in (1, 2):
            if index + offset < len(tokens):
                candidate = tokens[index + offset]
                if _key(candidate) is not None:
                    return index + offset
                if candidate != ",":
                    return None
        return None
    if (
        seen_verb
        and _key(token) is not None
        and index > 0
        and tokens[index - 1] in {",", "or", "and"}
        and index + 1 < len(tokens)
        and tokens[index + 1] in {"for", "to"}
    ):
        return index
    return None


def parse_options(text: str) -> list[MenuOption]:
    """Every "press N for X" (in any of its phrasings) in one utterance, in order."""
    tokens = _prepare(text)
    for index in range(len(tokens) - 2):
        # "press to for billing": the homophone is the key (see `_HOMOPHONE_KEYS`).
        if (
            tokens[index] in _VERBS
            and tokens[index + 1] in _HOMOPHONE_KEYS
            and tokens[index + 2] in _LABEL_LEADERS
        ):
            tokens[index + 1] = _HOMOPHONE_KEYS[tokens[index + 1]]
    options: list[MenuOption] = []
    consumed = 0  # tokens before this belong to an option already
    seen_verb = False
    index = 0
    while index < len(tokens):
        key_index = _key_at(tokens, index, seen_verb)
        if key_index is None:
            index += 1
            continue
        seen_verb = True
        digit = _key(tokens[key_index])
        assert digit is not None
        before = _trim(tokens[consumed:index])
        start = key_index + 1
        if start < len(tokens) and tokens[start] == "," and start + 1 < len(tokens):
            start += 1  # "press 2, for support"
        end = start
        while end < len(tokens) and tokens[end] not in _PUNCT:
            if _key_at(tokens, end, True) is not None:
                break
            end += 1
        after = tokens[start:end]
        after_leads = bool(after) and after[0] in _LABEL_LEADERS
        before_leads = bool(before) and before[0] in _LABEL_LEADERS
        if before_leads or (_meaningful(before) and not after_leads):
            label, consumed = before, key_index + 1
        elif after_leads and _meaningful(after):
            label, consumed = after, end
        else:
            label, consumed = [], key_index + 1
        if label:
            options.append(MenuOption(digit, " ".join(label)))
        index = consumed if consumed > index else index + 1
    if not options:
        # "To speak to an operator, please stay on the line": an option with no key.
        for sentence in re.split(r" [.?] ", " ".join(tokens)):
            found = _STAY_ON_LINE.search(sentence)
            if found is None:
                continue
            label = [t for t in sentence[: found.start()].split() if t not in {",", "please"}]
            if label and label[0] in _LABEL_LEADERS and _meaningful(label):
                options.append(MenuOption("", " ".join(label)))
                break
    return options


def _content(text: str) -> set[str]:
    return {
        stem(t)
        for t in normalize(text).split()
        if t not in _PUNCT and t not in STOPWORDS and t not in _LABEL_NOISE
    }


def _concepts(target: str) -> list[tuple[str, frozenset[str]]]:
    """The target's content stems, each with the synonym family it belongs to (if any)."""
    words = sorted(_content(target)) or [stem("person")]  # "someone" is a stop word
    concepts = []
    for word in words:
        family = next(
            (f for f in SYNONYM_FAMILIES if any(word_similarity(word, w) for w in f)),
            frozenset(),
        )
        concepts.append((word, family))
    return concepts


def option_score(target: str, option: MenuOption) -> float:
    """How much of the target an option's words reach: each target word counts 1.0 when the
    label says it, 0.9 for a synonym ("accounts" → "billing"), its spelling similarity times 0.9
    for a near miss; averaged over the target's words ("a person in accounts" is two)."""
    label = _content(option.label)
    concepts = _concepts(target)
    total = 0.0
    for word, family in concepts:
        best = 0.0
        for said in label:
            if said == word:
                best = 1.0
                break
            best = max(best, 0.9 * word_similarity(said, word))
            if said in family:
                best = max(best, 0.9)
        total += best
    return total / len(concepts)


# Below this nothing of the target is in the option (a synonym scores 0.9 of one word).
MATCH_THRESHOLD = 0.3
# Every target word said as written: pressed at once. Anything less (a synonym, part of the
# target) is pressed only once the menu has gone quiet or repeats: a better option may follow
# ("for your balance" comes before "to speak to someone in accounts").
FULL_MATCH = 1.0
# Stream time after the last option heard before a partial match is pressed.
SETTLE_MS = 2500


def best_option(target: str, options: list[MenuOption]) -> tuple[MenuOption, float] | None:
    """The option that reaches the target, or None when none fits."""
    scored = [(option_score(target, option), option) for option in options]
    scored = [item for item in scored if item[0] >= MATCH_THRESHOLD]
    if not scored:
        return None
    score, option = max(scored, key=lambda item: item[0])
    return option, score


class Heard(StrEnum):
    MENU = "menu"
    HOLD = "hold"
    PERSON = "person"
    UNKNOWN = "unknown"


def classify(text: str) -> tuple[Heard, list[MenuOption]]:
    """What one utterance is: menu options, a recording, a person, or neither."""
    options = parse_options(text)
    if options:
        return Heard.MENU, options
    flat = normalize(text)
    if any(re.search(pattern, flat) for pattern in _PERSON_STRONG):
        return Heard.PERSON, []
    if any(re.search(pattern, flat) for pattern in _HOLD):
        return Heard.HOLD, []
    if any(re.search(pattern, flat) for pattern in _PERSON_WEAK):
        return Heard.PERSON, []
    return Heard.UNKNOWN, []


# -- the navigator ---------------------------------------------------------------------------


class IvrState(StrEnum):
    LISTENING = "listening"  # nothing heard yet
    IN_MENU = "in_menu"  # a menu level is playing
    WAITING = "waiting"  # pressed a key / on hold: waiting for the next menu or a person
    PERSON = "person"  # done: a person answered
    GAVE_UP = "gave_up"  # done: ivr_unresolved


class GiveUpReason(StrEnum):
    TIMEOUT = "timeout"  # the script's time limit passed
    NO_OPTION = "no_option"  # the menu repeated and no option fits the target


@dataclass(frozen=True, slots=True)
class Press:
    option: MenuOption
    score: float


@dataclass(frozen=True, slots=True)
class PersonAnswered:
    menu_heard: bool  # False: a person answered straight away (no menu)


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: GiveUpReason


Decision = Press | PersonAnswered | GiveUp | None


@dataclass(slots=True)
class IvrStep:
    """One entry of the path taken, for the session's events."""

    at_ms: int
    kind: str  # "menu" | "pressed" | "hold" | "person" | "gave_up"
    data: dict[str, object] = field(default_factory=dict)


class IvrNavigator:
    """The menu-walking state machine; `hear` per utterance, `tick` with the stream time."""

    def __init__(
        self, *, target: str, timeout_ms: int, started_ms: int = 0, settle_ms: int = SETTLE_MS
    ) -> None:
        self.settle_ms = settle_ms
        self.target = target
        self.timeout_ms = timeout_ms
        self.started_ms = started_ms
        self.state = IvrState.LISTENING
        self.level = 0  # menu levels passed (keys pressed)
        self.menu_heard = False
        self.path: list[IvrStep] = []
        self._options: dict[str, str] = {}  # this level's options: digit → label
        self._candidate: tuple[MenuOption, float] | None = None  # a partial match, waiting
        self._last_option_ms = 0

    @property
    def done(self) -> bool:
        return self.state in (IvrState.PERSON, IvrState.GAVE_UP)

    @property
    def pressed(self) -> str:
        return "".join(str(s.data["digit"]) for s in self.path if s.kind == "pressed")

    def expired(self, now_ms: int) -> bool:
        """The time limit passed and the navigator has not finished (no state change)."""
        return not self.done and now_ms - self.started_ms >= self.timeout_ms

    def due(self, now_ms: int) -> bool:
        """`tick` would act now: the limit passed, or a partial match has settled."""
        return self.expired(now_ms) or self._settled(now_ms)

    def _settled(self, now_ms: int) -> bool:
        return (
            not self.done
            and self._candidate is not None
            and now_ms - self._last_option_ms >= self.settle_ms
        )

    def tick(self, now_ms: int) -> Decision:
        if self.expired(now_ms):
            return self._give_up(GiveUpReason.TIMEOUT, now_ms)
        if self._settled(now_ms):
            return self._press(now_ms)
        return None

    def hear(self, text: str, now_ms: int) -> Decision:
        if self.done:
            return None
        if self.expired(now_ms):
            return self._give_up(GiveUpReason.TIMEOUT, now_ms)
        kind, options = classify(text)
        if kind is Heard.PERSON or (kind is Heard.UNKNOWN and self.state is IvrState.LISTENING):
            # Words that are no recording, first thing on the line: a person ("Hello?").
            self.state = IvrState.PERSON
            self.path.append(IvrStep(now_ms, "person", {"text": text}))
            return PersonAnswered(menu_heard=self.menu_heard)
        if kind is Heard.HOLD:
            self.path.append(IvrStep(now_ms, "hold", {"text": text}))
            if self.state is IvrState.LISTENING:
                self.state = IvrState.WAITING
            return None
        if kind is Heard.UNKNOWN:
            return None  # music or a mis-heard recording: keep waiting
        return self._menu(options, now_ms)

    def _menu(self, options: list[MenuOption], now_ms: int) -> Decision:
        self.menu_heard = True
        if self.state is not IvrState.IN_MENU:
            self.state = IvrState.IN_MENU
            self._options = {}
            self._candidate = None
        self._last_option_ms = now_ms
        repeated = any(self._options.get(o.digit) == o.label for o in options)
        for option in options:
            self._options[option.digit] = option.label
        self.path.append(
            IvrStep(
                now_ms,
                "menu",
                {"level": self.level, "options": [[o.digit, o.label] for o in options]},
            )
        )
        every = [MenuOption(digit, label) for digit, label in self._options.items()]
        self._candidate = best_option(self.target, every)
        if self._candidate is not None and self._candidate[1] >= FULL_MATCH:
            return self._press(now_ms)
        if repeated:
            # The whole menu has been heard: the best partial match, or nothing fits.
            if self._candidate is not None:
                return self._press(now_ms)
            return self._give_up(GiveUpReason.NO_OPTION, now_ms)
        return None

    def _press(self, now_ms: int) -> Press:
        assert self._candidate is not None
        option, score = self._candidate
        self._candidate = None
        self.path.append(
            IvrStep(
                now_ms,
                "pressed",
                {
                    "level": self.level,
                    "digit": option.digit,
                    "label": option.label,
                    "score": round(score, 2),
                },
            )
        )
        self.level += 1
        self.state = IvrState.WAITING
        self._options = {}
        return Press(option, score)

    def _give_up(self, reason: GiveUpReason, now_ms: int) -> GiveUp:
        self.state = IvrState.GAVE_UP
        self.path.append(IvrStep(now_ms, "gave_up", {"reason": reason.value}))
        return GiveUp(reason)
