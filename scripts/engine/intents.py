"""What the caller means: opt-out, callback, agreement, refusal, "are you a robot?", "who is
this?", a greeting, other.

Rules run on `normalize`d text after near-miss spelling correction, in a fixed precedence that
encodes the compliance and courtesy decisions:

1. **opt-out** beats everything ("not interested, and stop calling me" is an opt-out; a missed
   opt-out is a legal problem, a false one only ends a call early).
2. **callback** — an explicit callback phrase ("call me back", "try me later", "not a good
   time"), or a firm time with a deferral ("busy now, tomorrow morning works"), or a firm time
   on its own. A callback beats refusal: "not now, call me tomorrow" asks for a callback.
3. **refusal** beats agreement when both are strong ("sounds good but I'm not interested").
4. **agreement**, then the weak yes/no words ("yes", "nah") when only one kind is present.
5. **asks_if_ai**, **asks_who** ("who is this?", "what is this about?", "where are you calling
   from?"), **greeting** ("Hello?", "Yes, speaking.": a hello or a confirmation of who they are,
   never a yes to the offer), **repeat_request**, **question**, **other**.

"Don't call me at work, call me tonight" is a callback, not an opt-out: a "do not call" followed
by a time or place qualifies *when*, it does not forbid calling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from scripts.engine.normalize import normalize, spell_correct
from scripts.engine.timeparse import WEEKDAYS, find_callback_time


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    CALLBACK = "callback"
    AGREEMENT = "agreement"
    REFUSAL = "refusal"
    ASKS_IF_AI = "asks_if_ai"
    ASKS_WHO = "asks_who"  # who is calling, from where, and why
    GREETING = "greeting"  # "hello?", "yes, speaking": nothing about the offer yet
    REPEAT_REQUEST = "repeat_request"
    QUESTION = "question"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: Intent
    # Only for CALLBACK: the requested time when one was said, in the contact's zone.
    callback_at: datetime | None = None


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


_CONTACT_VERBS = (
    r"(?:call|calling|ring|ringing|phone|phoning|contact|contacting|bother|bothering"
    r"|text|texting)"
)
_QUALIFIER = (
    r"(?:today|tomorrow|tonight|this|next|on|at|in|before|after|until|till|during|between|"
    r"right now|now|around|" + "|".join(WEEKDAYS) + ")"
)
_OPT_OUT = _any(
    rf"\b(?:stop|quit|cease|no more) {_CONTACT_VERBS}\b",
    # Possessive "?+" so the qualifier check cannot be dodged by backtracking over "me".
    rf"\b(?:do not|never) (?:ever )?{_CONTACT_VERBS}(?: me| us| here| this number| my number)?+"
    rf"(?: (?:again|anymore|any more|ever again|back))?+(?! {_QUALIFIER}\b)(?: |$)",
    r"\b(?:take|get|put) (?:me|us|my number|my name|this number|my info|my details) off\b",
    r"\boff (?:of )?(?:your|the|this|ur) (?:\w+ )?(?:list|database|system|records)\b",
    r"\bremov(?:e|ed|ing)? (?:me|us|my|this)\b",
    r"\b(?:be|get|been) removed\b",
    r"\b(?:delete|lose|erase|forget) (?:my|this) (?:number|phone number|details|info)\b",
    r"\bunsubscribe\b",
    r"\bopt(?:ing)? (?:me )?out\b",
    r"\bdo not call (?:list|registry)\b",
    r"\bleave me alone\b",
    r"\b(?:do not|dont) want (?:any )?(?:more |your )?calls\b",
    r"\b(?:do not|dont) want you (?:to )?(?:call|calling)\b",
)
_CALLBACK = _any(
    r"\b(?:call|ring|phone|try|reach|catch|contact|buzz) (?:me |us )?(?:back|again|later)\b",
    r"\b(?:call|ring|phone|try|reach|catch|contact) (?:me|us) (?:"
    + _QUALIFIER.strip("(?:)")
    + r"|another|some other|a bit|in a bit)\b",
    r"\b(?:call|ring|phone) (?:me )?(?:next|this|tomorrow|tonight|" + "|".join(WEEKDAYS) + r")\b",
    r"\bgive (?:me|us) a (?:call|ring|buzz)\b",
    r"\b(?:another|some other|a better|a different|other) time\b",
    r"\bbad time\b",
    r"\bnot (?:a )?(?:good|great|convenient) (?:time|moment)\b",
    r"\bmaybe later\b",
)
_DEFERRAL = _any(
    r"\bnot (?:right )?now\b",
    r"\bbusy\b",
    r"\bdriving\b",
    r"\bin a meeting\b",
    r"\bat work\b",
    r"\bworks? better\b",
    r"\bbetter\b",
)
_STRONG_REFUSAL = _any(
    r"\bnot (?:really |very |at all |even )?interested\b",
    r"\bno,? thank(?:s| you)\b",
    r"\bnot for (?:me|us)\b",
    r"\bi will pass\b",
    r"\bpass on\b",
    r"\b(?:i|we) am good\b",
    r"\b(?:i|we) are good\b",
    r"\b(?:we|i) (?:are|am) (?:all set|fine|ok|okay)\b",
    r"\ball set\b",
    r"\b(?:do not|dont) (?:want|need) (?:it|that|this|any|one|them)?\b",
    r"\bno way\b",
    r"\bnot at this time\b",
    r"\bnot (?:right )?now\b",
    r"\bnot really\b",
    r"\bnot today\b",
    r"\bhang(?:ing)? up\b",
    r"\bgo away\b",
)
_STRONG_AGREEMENT = _any(
    r"\bsounds? (?:good|great|fine|perfect|interesting|awesome|like a plan|good to me)\b",
    r"\blet us (?:do|go|book|try|set|get|start)\b",
    r"\b(?:book|schedule|sign) (?:it|me|us|that)\b",
    r"\bcount me in\b",
    r"\b(?:i|we) (?:am|are) in(?: for it)?(?: ,| \.|$)",
    r"\bgo ahead\b",
    r"\bthat works\b",
    r"\bworks for (?:me|us)\b",
    r"\bwhy not\b",
    r"\bof course\b",
    r"\babsolutely\b",
    r"\bdefinitely\b",
    r"\bfor sure\b",
    r"\b(?:i am|we are|i would be|very) interested\b",
    r"\b(?:i|we) would (?:like|love) (?:that|to|it)\b",
    r"\b(?:i|we) will take it\b",
    r"\bdeal\b",
    r"\b(?:perfect|great|awesome|excellent|wonderful|fantastic)\b",
)
_WEAK_AGREEMENT = re.compile(
    r"\b(?:yes|yeah|yep|yup|ya|sure|ok|okay|alright|all right|certainly|fine)\b"
)
_WEAK_REFUSAL = re.compile(r"\b(?:no|nope|nah|never)\b")
# Phrases whose words would otherwise read as yes or no.
_NEUTRAL = _any(
    r"\bno (?:problem|worries|doubt)\b",
    r"\bnot sure\b",
    r"\bno one\b",
    r"\bi do not know\b",
    # "Yes, speaking." answers "is this Sam?": it confirms who they are, not that they agree.
    r"\b(?:(?:yes|yeah|yep) (?:, )?)?(?:(?:this|it) is (?:he|she|him|her|me) )?speaking\b",
    r"\b(?:(?:yes|yeah) (?:, )?)?(?:this|it) is (?:he|she|him|her|me)\b",
)
_ASKS_IF_AI = _any(
    r"\b(?:are|is) (?:you|this|it) (?:a |an )?(?:real |actual |live )?"
    r"(?:robot|bot|machine|computer|ai|a i|artificial|automated|recording|recorded|human|person"
    r"|real person)\b",
    r"\b(?:am i|are we) (?:talking|speaking) (?:to|with) (?:a |an )?(?:real |actual |live )?"
    r"(?:person|human|robot|machine|computer|bot|ai)\b",
    r"\b(?:robot|automated|recorded) (?:call|message|voice)\b",
)
_ASKS_WHO = _any(
    r"\bwho (?:is|was) (?:this|that|it|calling|speaking|on the (?:line|phone))\b",
    r"\bwho are (?:you|u|ya|you guys|you people)\b",
    r"\bwho (?:am i|are we) (?:speaking|talking) (?:to|with)\b",
    r"\bwho (?:do you|does this) (?:work for|represent|call for)\b",
    r"\bwhat (?:is|was) (?:this|that|it|the call|this call) (?:about|regarding|concerning|for)\b",
    r"\bwhat (?:are you|is this|is it) (?:calling|ringing) (?:about|for|regarding)\b",
    r"\bwhy (?:are you|are u|is someone|did you|do you keep) (?:calling|ringing|phoning)\b",
    r"\bwhere (?:are you|is this|is it|is this call) (?:calling |ringing |phoning )?from\b",
    r"\bwhat (?:company|business|organi[sz]ation|firm) (?:is this|are you|is it|did you say)\b",
    r"\bwhat is (?:your|the) (?:name|company)\b",
    r"\bwhat do you want\b",
)
_GREETING_WORDS = r"(?:hello|hallo|hi|hey|hiya|good (?:morning|afternoon|evening|day))"
# The whole utterance is a hello and/or "this is me": nothing about the offer.
_GREETING = re.compile(
    r"^(?:(?:yes|yeah|yep|oh|um|uh|hm+|well|,|\.|\?|!)\s*)*"
    rf"(?:{_GREETING_WORDS}(?: there)?|speaking|(?:yes|yeah|yep) ,? speaking"
    r"|(?:this|it) is (?:he|she|him|her|me)(?: speaking)?|that is me)"
    rf"(?:\s*(?:,|\.|\?|!|{_GREETING_WORDS}|speaking|(?:this|it) is (?:he|she|him|her|me)))*$"
)
_CONFIRMS_IDENTITY = re.compile(
    r"\bspeaking\b|\b(?:this|it|that) is (?:he|she|him|her|me)\b|\byou got (?:him|her|me)\b"
)
_REPEAT = _any(
    r"\b(?:say|repeat) (?:that|it|this)(?: again)?\b",
    r"\bcome again\b",
    r"\bpardon\b",
    r"\bwhat did you (?:just )?say\b",
    r"\bdid not (?:catch|hear|get) (?:that|you)\b",
    r"^(?:sorry ,? )?(?:what|sorry|huh|excuse me)(?: \?)?$",
)
_QUESTION_OPENERS = re.compile(
    r"^(?:who|what|when|where|why|how|which|is|are|do|does|did|can|could|will|would|may)\b"
)
_VOCABULARY = (
    "interested",
    "interesting",
    "thanks",
    "absolutely",
    "definitely",
    "tomorrow",
    "unsubscribe",
    "remove",
    "removed",
    "calling",
    "number",
    "robot",
    "automated",
    "recording",
    "person",
    "later",
    "another",
    "afternoon",
    "morning",
    "evening",
    "tonight",
    "perfect",
    "sounds",
    "meeting",
    "driving",
    "contact",
    *WEEKDAYS,
)


def _clean(text: str) -> str:
    return " ".join(spell_correct(normalize(text).split(), _VOCABULARY))


def confirms_identity(text: str) -> bool:
    """ "Yes, speaking.", "this is she": the caller says they are who we asked for."""
    return bool(_CONFIRMS_IDENTITY.search(_clean(text)))


def detect_intent(
    text: str | None, *, now: datetime | None = None, timezone: str | ZoneInfo = "UTC"
) -> IntentResult:
    """Classify one caller utterance. ``now`` (aware) enables callback time extraction."""
    cleaned = _clean(text or "")
    if not cleaned:
        return IntentResult(Intent.OTHER)
    if _OPT_OUT.search(cleaned):
        return IntentResult(Intent.OPT_OUT)

    found = find_callback_time(cleaned, now=now, timezone=timezone) if now else None
    neutral = _NEUTRAL.sub(" ", cleaned)
    strong_refusal = bool(_STRONG_REFUSAL.search(neutral))
    strong_agreement = bool(_STRONG_AGREEMENT.search(neutral))
    if _CALLBACK.search(cleaned):
        return IntentResult(Intent.CALLBACK, found.at if found else None)
    if found and found.explicit and (_DEFERRAL.search(cleaned) or not strong_agreement):
        # A firm time with no "yes": "tomorrow morning works better", "Friday at 4".
        return IntentResult(Intent.CALLBACK, found.at)

    if strong_refusal:
        return IntentResult(Intent.REFUSAL)
    if strong_agreement:
        return IntentResult(Intent.AGREEMENT)
    if _ASKS_IF_AI.search(cleaned):
        return IntentResult(Intent.ASKS_IF_AI)
    if _ASKS_WHO.search(cleaned):
        return IntentResult(Intent.ASKS_WHO)
    if _GREETING.match(cleaned):
        return IntentResult(Intent.GREETING)
    if _REPEAT.search(cleaned):
        return IntentResult(Intent.REPEAT_REQUEST)
    is_question = "?" in cleaned or bool(_QUESTION_OPENERS.search(cleaned))
    weak_yes = bool(_WEAK_AGREEMENT.search(neutral))
    weak_no = bool(_WEAK_REFUSAL.search(neutral))
    if weak_no and not weak_yes:
        return IntentResult(Intent.REFUSAL)
    if weak_yes and not weak_no and not is_question:
        return IntentResult(Intent.AGREEMENT)
    return IntentResult(Intent.QUESTION if is_question else Intent.OTHER)
