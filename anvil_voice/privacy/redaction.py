"""Find and replace personal data in transcripts: card numbers, national ids, bank numbers and
e-mail addresses, written or spoken, with typed placeholders ("[CARD_NUMBER]").

What makes a redaction (docs/decisions.md, issue 15 item 17):

- a checksum that chatter rarely passes: Luhn and a card's first digit for 13-19 digits, mod-97
  and the country's length for an IBAN, HMRC's letter rules for a National Insurance number,
  the SSA's rules plus the written 3-2-4 grouping for a social security number;
- or a cue said just before ("card number", "social", "routing", "account number", "sort
  code", "security code"), in the caller's words or in the agent's question, for digits the
  checksum alone cannot tell apart (a routing number is nine digits like many others);
- never when the nearest cue says what else the digits are: a phone or callback number, an
  order, tracking or reference number, a zip code, a price, a time.

`redact_turns` reads a whole conversation: a number the caller gives in groups over several
turns ("4111 1111" … pause … "1111 1111") is found across them, and every piece replaced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from anvil_voice.privacy.checksums import (
    aba_routing_valid,
    card_number_valid,
    iban_valid,
    nino_valid,
    ssn_valid,
)
from anvil_voice.privacy.spoken import (
    FILLERS,
    SEPARATORS,
    Digits,
    Token,
    digit_groups,
    runs,
    tokenize,
)


class PiiKind(StrEnum):
    CARD_NUMBER = "CARD_NUMBER"
    NATIONAL_ID = "NATIONAL_ID"
    BANK_ACCOUNT = "BANK_ACCOUNT"
    EMAIL = "EMAIL"


def placeholder(kind: PiiKind) -> str:
    return f"[{kind.value}]"


# A stored text holds these where something was redacted (the recording mutes those turns).
PLACEHOLDER = re.compile(r"\[(?:CARD_NUMBER|NATIONAL_ID|BANK_ACCOUNT|EMAIL)\]")


@dataclass(frozen=True, slots=True)
class Span:
    kind: PiiKind
    start: int
    end: int


# --- cues ---------------------------------------------------------------------------------
class Cue(StrEnum):
    CARD = "card"
    CARD_CODE = "card_code"  # the security code on the back
    SSN = "ssn"
    ROUTING = "routing"
    ACCOUNT = "account"
    SORT_CODE = "sort_code"
    OTHER = "other"  # the digits are something else: a phone number, an order, a price


_BIGRAM_CUES = {
    ("security", "code"): Cue.CARD_CODE,
    ("security", "number"): Cue.SSN,
    ("social", "security"): Cue.SSN,
    ("sort", "code"): Cue.SORT_CODE,
    ("zip", "code"): Cue.OTHER,
    ("post", "code"): Cue.OTHER,
    ("area", "code"): Cue.OTHER,
    ("american", "express"): Cue.CARD,
    ("the", "back"): Cue.CARD_CODE,  # "the code on the back is 737"
    (
        "digit",
        "code",
    ): Cue.CARD_CODE,  # "the three digit code is 456"  # "the code on the back is 737"
}
_WORD_CUES = {
    **dict.fromkeys(
        ["card", "credit", "debit", "visa", "mastercard", "amex"], Cue.CARD
    ),
    **dict.fromkeys(["cvv", "cvc", "cvv2", "csc"], Cue.CARD_CODE),
    **dict.fromkeys(["social", "ssn", "socials"], Cue.SSN),
    **dict.fromkeys(["routing", "aba", "transit"], Cue.ROUTING),
    **dict.fromkeys(["account", "acct", "checking", "savings", "iban"], Cue.ACCOUNT),
    **dict.fromkeys(
        [
            "phone", "cell", "mobile", "telephone", "landline", "callback", "call", "reach",
            "text", "extension", "ext", "dial", "fax", "order", "tracking", "confirmation",
            "reference", "ref", "invoice", "ticket", "case", "claim", "policy", "zip",
            "postcode", "room", "apartment", "apt", "suite", "unit", "flight", "model",
            "serial", "born", "birthday", "price", "cost", "costs", "dollars", "bucks",
            "pounds", "euros", "cents", "o'clock", "am", "pm", "minutes", "hours", "days",
            "weeks", "months", "years", "items", "boxes", "units", "pieces", "people",
            "street", "avenue", "road", "lane", "drive", "route", "highway", "pin", "passcode",
            # Without the card number (redacted), an expiry date tells nobody anything.
            "expiry", "expires", "expiration", "expiring",
        ],
        Cue.OTHER,
    ),
}  # fmt: skip
# How far back (in tokens) a cue still speaks for the digits that follow.
CUE_REACH = 12


def _is_cue(word: str) -> bool:
    return word in _WORD_CUES


def _cue_before(tokens: list[Token], index: int) -> Cue | None:
    """The nearest cue in the tokens before `index` (the caller's, or the agent's question)."""
    seen = 0
    j = index - 1
    while j >= 0 and seen < CUE_REACH:
        word = tokens[j].text
        if j > 0 and (tokens[j - 1].text, word) in _BIGRAM_CUES:
            return _BIGRAM_CUES[(tokens[j - 1].text, word)]
        if word in _WORD_CUES:
            return _WORD_CUES[word]
        if word not in SEPARATORS:
            seen += 1
        j -= 1
    return None


_UNITS_AFTER = frozenset(
    {
        "o'clock", "am", "pm", "minutes", "hours", "days", "weeks", "months", "years",
        "items", "boxes", "units", "pieces", "people", "dollars", "bucks", "pounds", "euros",
        "cents", "percent", "times",
    }
)  # fmt: skip


def _cue_after(tokens: list[Token], index: int) -> Cue | None:
    """A unit right after the digits ("2 boxes", "5 o'clock", "20 dollars") says what they are."""
    j = index + 1
    while j < len(tokens) and tokens[j].text in FILLERS:
        j += 1
    if j < len(tokens) and not tokens[j].context and tokens[j].text in _UNITS_AFTER:
        return Cue.OTHER
    return None


# --- detectors ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Found:
    kind: PiiKind
    first: int  # token indices (inclusive)
    last: int


def _digit_runs(tokens: list[Token]) -> list[_Found]:
    found: list[_Found] = []
    for run in runs(tokens, is_cue=_is_cue):
        found.extend(_classify_run(tokens, run))
    return found


def _classify_run(tokens: list[Token], run: list[Digits]) -> list[_Found]:
    digits = "".join(group.digits for group in run)
    first, last = run[0].first, run[-1].last
    cue = _cue_before(tokens, first)
    if cue is Cue.OTHER or _cue_after(tokens, last) is Cue.OTHER:
        return []
    whole = [_Found(PiiKind.CARD_NUMBER, first, last)]
    if cue is Cue.CARD and len(digits) >= 4:
        # After "card number": a first group given before a pause (live, the monitor shows
        # the turn before the rest is said), a number with its expiry and code in one breath,
        # a digit the recogniser got wrong: all of it is card data.
        return whole
    if cue is Cue.CARD_CODE and 3 <= len(digits) <= 4:
        return whole
    if cue is Cue.SSN and 3 <= len(digits) <= 9:  # whole, its last four, or a first group
        return [_Found(PiiKind.NATIONAL_ID, first, last)]
    if cue is Cue.ROUTING and len(digits) == 9:
        return [_Found(PiiKind.BANK_ACCOUNT, first, last)]
    if (
        cue in (Cue.ROUTING, Cue.ACCOUNT)
        and 9 < len(digits) <= 26
        and aba_routing_valid(digits[:9])
    ):
        # Routing and account number in one breath ("021000021 12345678").
        return [_Found(PiiKind.BANK_ACCOUNT, first, last)]
    if cue is Cue.SORT_CODE and len(digits) == 6:
        return [_Found(PiiKind.BANK_ACCOUNT, first, last)]
    if cue is Cue.ACCOUNT and 6 <= len(digits) <= 17:
        # Six digits or more: "the account was closed in 2019" keeps its year.
        return [_Found(PiiKind.BANK_ACCOUNT, first, last)]
    if [len(group.digits) for group in run] == [3, 2, 4] and ssn_valid(digits):
        # Written the way only social security numbers are ("123-45-6789").
        return [_Found(PiiKind.NATIONAL_ID, first, last)]
    return _card_windows(run)


def _card_windows(run: list[Digits]) -> list[_Found]:
    """Luhn-valid card numbers inside a run, longest first, on group boundaries."""
    found: list[_Found] = []
    i = 0
    while i < len(run):
        best: int | None = None
        digits = ""
        for j in range(i, len(run)):
            digits += run[j].digits
            if len(digits) > 19:
                break
            if card_number_valid(digits):
                best = j
        if best is None:
            i += 1
            continue
        found.append(_Found(PiiKind.CARD_NUMBER, run[i].first, run[best].last))
        i = best + 1
    return found


def _compact(tokens: list[Token], start: int, limit: int) -> list[tuple[str, int]]:
    """Letters and digits from `start` on, one entry per token: (its characters, its index);
    separators and hesitations skipped, stopped by anything longer than a spelled group."""
    groups = {group.first: group for group in digit_groups(tokens[start : start + limit * 2])}
    pieces: list[tuple[str, int]] = []
    j = start
    length = 0
    while j < len(tokens) and length < limit:
        token = tokens[j]
        if token.context:
            break
        group = groups.get(j - start)
        if group is not None and not (token.text.isalpha() and len(token.text) == 1):
            pieces.append((group.digits, start + group.last))
            length += len(group.digits)
            j = start + group.last + 1
            continue
        if token.text in SEPARATORS or token.text in FILLERS:
            j += 1
            continue
        if token.text.isalpha() and len(token.text) <= 4:
            pieces.append((token.text.upper(), j))
            length += len(token.text)
            j += 1
            continue
        break
    return pieces


def _spelled_ids(tokens: list[Token]) -> list[_Found]:
    """IBANs and National Insurance numbers, written ("GB82 WEST 1234…", "AB 12 34 56 C") or
    spelled out ("a b one two three four five six c")."""
    found: list[_Found] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.context or not token.text.isalpha() or len(token.text) > 2:
            i += 1
            continue
        pieces = _compact(tokens, i, 34)
        text, match = "", None
        for characters, last in pieces:
            text += characters
            if len(text) == 9 and nino_valid(text):
                match = _Found(PiiKind.NATIONAL_ID, i, last)
                break
            if len(text) >= 15 and iban_valid(text):
                match = _Found(PiiKind.BANK_ACCOUNT, i, last)
                break
        if match is None:
            i += 1
            continue
        found.append(match)
        i = match.last + 1
    return found


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# E-mail: the written form, then the spoken one ("john dot smith at gmail dot com").
_WRITTEN_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_TLDS = _words(
    "com net org edu gov mil io co uk us ca au de fr es it nl ie info biz me tv app dev ai "
    "uk org.uk"
)
_PROVIDERS = _words(
    "gmail googlemail yahoo hotmail outlook live msn aol icloud me mac protonmail proton "
    "gmx zoho comcast verizon att sbcglobal btinternet"
)
_DOT = frozenset({"dot", "."})
_LOCAL_CONNECTORS = frozenset(
    {"dot", ".", "underscore", "_", "dash", "hyphen", "-", "plus", "+", "period"}
)
_LOCAL_STOPS = _words(
    "is was it's its my email e mail address to me send the it that's and uh um so yeah your "
    "our you can use try or i i'm just please that this write reach contact me at us on "
    "okay ok sure yes no well like be"
)
# Words that say an address follows ("send it to …", "my email is …"), the agent's included.
_EMAIL_CUES = frozenset(
    {"email", "mail", "address", "inbox", "emails", "send", "sent", "forward", "write", "cc"}
)


def _spoken_emails(tokens: list[Token]) -> list[_Found]:
    found: list[_Found] = []
    for at, token in enumerate(tokens):
        if token.context or token.text not in {"at", "@"}:
            continue
        domain_end, provider = _domain_after(tokens, at)
        if domain_end is None:
            continue
        local_start, shaped = _local_before(tokens, at)
        if local_start is None:
            continue
        cued = any(t.text in _EMAIL_CUES for t in tokens[max(0, local_start - 10) : local_start])
        # "…is kevin at kevinsroofing dot com": the thing named *is* the address.
        named = local_start > 0 and tokens[local_start - 1].text in _COPULAS
        if token.text == "@" or cued or provider or shaped or named:
            found.append(_Found(PiiKind.EMAIL, local_start, domain_end))
    return found


def _domain_after(tokens: list[Token], at: int) -> tuple[int | None, bool]:
    j = at + 1
    if j >= len(tokens) or not tokens[j].is_word or tokens[j].context:
        return None, False
    provider = tokens[j].text in _PROVIDERS
    end: int | None = j if provider else None
    while j + 2 < len(tokens) and tokens[j + 1].text in _DOT and tokens[j + 2].is_word:
        j += 2
        if tokens[j].text in _TLDS:
            end = j
    return end, provider


def _local_before(tokens: list[Token], at: int) -> tuple[int | None, bool]:
    """The local part's first token, and whether it is shaped like one (dots, digits)."""
    j = at - 1
    start: int | None = None
    shaped = False
    words = 0
    while j >= 0 and not tokens[j].context and words < 4:
        text = tokens[j].text
        if text in _LOCAL_CONNECTORS and start is not None:
            shaped = True
            j -= 1
            continue
        if text in _LOCAL_STOPS or not (text.isalnum() or text.replace("'", "").isalnum()):
            break
        start = j
        shaped = shaped or text.isdigit()
        words += 1
        j -= 1
    return start, shaped


_COPULAS = frozenset({"is", "it's", "its", "was", "that's"})


# --- the public functions -----------------------------------------------------------------
def _find(tokens: list[Token]) -> list[_Found]:
    """Every detection, the earlier detector winning where two overlap."""
    taken: set[int] = set()
    result: list[_Found] = []
    for detector in (_spoken_emails, _spelled_ids, _digit_runs):
        for found in detector(tokens):
            indices = set(range(found.first, found.last + 1))
            if indices & taken:
                continue
            taken |= indices
            result.append(found)
    return result


def _spans(tokens: list[Token], found: list[_Found]) -> dict[int, list[Span]]:
    """Each detection as one character span per turn it touches (context tokens excluded)."""
    spans: dict[int, list[Span]] = {}
    for item in found:
        by_turn: dict[int, tuple[int, int]] = {}
        for token in tokens[item.first : item.last + 1]:
            if token.context:
                continue
            start, end = by_turn.get(token.turn, (token.start, token.end))
            by_turn[token.turn] = (min(start, token.start), max(end, token.end))
        for turn, (start, end) in by_turn.items():
            spans.setdefault(turn, []).append(Span(item.kind, start, end))
    return spans


def find_spans(text: str, *, context: str = "") -> list[Span]:
    """Personal data in one utterance; `context` is what was said just before (for cues)."""
    tokens = [*tokenize(context, turn=-1, context=True), *tokenize(text, turn=0)]
    spans = _spans(tokens, _find(tokens)).get(0, [])
    written = [Span(PiiKind.EMAIL, m.start(), m.end()) for m in _WRITTEN_EMAIL.finditer(text)]
    return _merge([*written, *spans])


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.kind, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


def apply_spans(text: str, spans: Sequence[Span]) -> str:
    pieces: list[str] = []
    position = 0
    for span in _merge(list(spans)):
        pieces.append(text[position : span.start])
        pieces.append(placeholder(span.kind))
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_text(text: str, *, context: str = "") -> str:
    return apply_spans(text, find_spans(text, context=context)) if text else text


@dataclass(frozen=True, slots=True)
class SpokenTurn:
    speaker: str  # "contact" or "agent"
    text: str


CONTACT = "contact"


def redact_turns(turns: Sequence[SpokenTurn]) -> list[str]:
    """Every turn's text redacted, the caller's turns read as one stream: what the agent said
    in between is context (its questions cue the answers), and a number given in groups over
    several turns is found across them. The agent's turns are redacted one by one."""
    tokens: list[Token] = []
    previous_agent: list[int] = []
    for index, turn in enumerate(turns):
        if turn.speaker != CONTACT:
            previous_agent.append(index)
            continue
        for agent_index in previous_agent[-1:]:
            tokens.extend(tokenize(turns[agent_index].text, turn=agent_index, context=True))
        previous_agent = []
        tokens.extend(tokenize(turn.text, turn=index))
    contact_spans = _spans(tokens, _find(tokens))
    redacted: list[str] = []
    for index, turn in enumerate(turns):
        if turn.speaker != CONTACT:
            redacted.append(redact_text(turn.text))
            continue
        written = [
            Span(PiiKind.EMAIL, m.start(), m.end()) for m in _WRITTEN_EMAIL.finditer(turn.text)
        ]
        redacted.append(apply_spans(turn.text, [*written, *contact_spans.get(index, [])]))
    return redacted


def redact_value(value: Any) -> Any:
    """A JSON value with every string in it redacted (summaries, extracted data, event data)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    return value
