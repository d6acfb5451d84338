"""Vocabulary the trigger matcher leans on: word synonyms and common objection paraphrases.

Managers write one trigger per objection ("It's too expensive"); callers say it a dozen ways
("we can't afford that", "out of our budget"). Word synonyms bridge single-word swaps; the
objection families bridge whole rephrasings. A trigger that resembles any phrase of a family
borrows the whole family (see `matching.TriggerMatcher`), so "price" or "Too pricey" written by a
manager still catches "we can't afford it".

Entries are stems as produced by `normalize.stem` (``"provid"``, ``"expens"``) except where noted.
English only, like the rest of the rule-based engine.
"""

from __future__ import annotations

# Irregular forms the suffix stripper cannot reach, mapped before stemming.
IRREGULAR_WORDS = {
    "got": "get",
    "gotten": "get",
    "gave": "give",
    "given": "give",
    "found": "find",
    "bought": "buy",
    "told": "tell",
    "thought": "think",
    "said": "say",
    "paid": "pay",
    "spent": "spend",
    "somebody": "someone",
    "cellphone": "phone",
    "e": "",  # "e-mail" arrives as "e mail"
}

# stem → canonical stem. Groups are small and conservative: a wrong synonym makes unrelated
# utterances match, which is worse than missing a paraphrase (the agent then just steers back).
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("get", "obtain", "find", "give", "grab", "acquir"),
    ("how", "where"),
    ("email", "mail", "emails", "mails"),
    ("info", "information", "detail", "brochur", "literatur", "writ", "paperwork"),
    ("send", "forward", "shoot", "drop", "put"),
    ("provid", "company", "vendor", "supplier", "contractor", "carrier", "someon", "firm"),
    ("spous", "wife", "husband", "partner", "boss", "manager", "owner", "family"),
    ("scam", "fraud", "fake", "spam", "legit", "legitimat", "scammer", "con"),
    ("expens", "pricey", "costly", "overpric", "steep"),
    ("current", "existing", "present"),
    ("number", "phon", "cell"),
    ("happy", "satisfy", "satisfi", "content"),
    ("contract", "agreement", "locked"),
    ("think", "consider", "mull"),
    ("talk", "speak", "discuss", "ask", "check", "run"),
    ("decid", "decision", "decisions"),
    ("budget", "fund", "money", "cash"),
)

SYNONYMS: dict[str, str] = {word: group[0] for group in _GROUPS for word in group}

# Families of common objections. Each phrase is plain text; it is normalised like a trigger.
OBJECTION_FAMILIES: dict[str, tuple[str, ...]] = {
    "price": (
        "it is too expensive",
        "that costs too much",
        "we can not afford it",
        "the price is too high",
        "it is out of our budget",
        "we do not have the budget",
        "that is a lot of money",
        "too pricey for us",
        "it is cheaper elsewhere",
    ),
    "incumbent": (
        "we already have a provider",
        "we already have one",
        "we already use another company",
        "i am happy with my current provider",
        "we are under contract with someone else",
        "we are locked into a contract",
        "we are already taken care of",
    ),
    "number_source": (
        "how did you get my number",
        "who gave you my number",
        "how do you have my number",
        "where did you find my number",
    ),
    "send_information": (
        "send me an email",
        "email me the details",
        "send me some information",
        "put it in writing",
        "can you send me something",
    ),
    "decision_maker": (
        "i need to talk to my spouse",
        "i have to ask my wife",
        "let me check with my husband",
        "i am not the decision maker",
        "i do not make those decisions",
        "my boss decides that",
    ),
    "think_about_it": (
        "i need to think about it",
        "let me think it over",
        "i will consider it",
        "give me some time to decide",
    ),
    "trust": (
        "is this a scam",
        "this sounds like a scam",
        "how do i know this is legit",
        "are you legitimate",
        "this is spam",
    ),
    "no_time": (
        "i do not have time for this",
        "i am too busy",
        "i am busy",
    ),
}
