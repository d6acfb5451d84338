from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from engine_labelled_data import INTENT_DEVELOPMENT, INTENT_HOLDOUT

from scripts.engine.intents import Intent, detect_intent

NEW_YORK = ZoneInfo("America/New_York")
# A Wednesday morning.
NOW = datetime(2026, 3, 4, 10, 15, tzinfo=NEW_YORK)
POSITIVE = {
    "opt_out",
    "callback",
    "agreement",
    "refusal",
    "asks_if_ai",
    "asks_who",
    "greeting",
}


def _label(utterance: str) -> str | None:
    intent = detect_intent(utterance, now=NOW, timezone=NEW_YORK).intent.value
    return intent if intent in POSITIVE else None


def _precision_recall(table: list[tuple[str, str | None]]) -> tuple[float, float]:
    true_positive = false_positive = false_negative = 0
    for utterance, expected in table:
        got = _label(utterance)
        if got is not None and got == expected:
            true_positive += 1
            continue
        false_positive += got is not None
        false_negative += expected is not None
    return (
        true_positive / (true_positive + false_positive),
        true_positive / (true_positive + false_negative),
    )


def test_it_detects_intents_with_high_precision_and_recall():
    assert len(INTENT_DEVELOPMENT) >= 60
    precision, recall = _precision_recall(INTENT_DEVELOPMENT)
    print(
        f"\nintent detection, development ({len(INTENT_DEVELOPMENT)} utterances): "
        f"precision={precision:.3f} recall={recall:.3f}"
    )

    assert precision >= 0.9
    assert recall >= 0.9


def test_it_generalises_to_held_out_intents():
    precision, recall = _precision_recall(INTENT_HOLDOUT)
    print(
        f"\nintent detection, holdout ({len(INTENT_HOLDOUT)} utterances): "
        f"precision={precision:.3f} recall={recall:.3f}"
    )

    assert precision >= 0.85
    assert recall >= 0.8


@pytest.mark.parametrize(
    ("utterance", "intent"),
    [
        # Opt-out wins over refusal; a time-qualified "don't call me" is not an opt-out.
        ("no thanks, take me off your list", Intent.OPT_OUT),
        ("don't call me tomorrow, call me friday", Intent.CALLBACK),
        # A callback wins over refusal.
        ("not now, call me tomorrow", Intent.CALLBACK),
        ("no, call me back later", Intent.CALLBACK),
        # Refusal wins over agreement when both are firm.
        ("sounds great but we're not interested", Intent.REFUSAL),
        ("no problem, go ahead", Intent.AGREEMENT),
        ("yeah, no", Intent.OTHER),
        ("yes, how much is it?", Intent.QUESTION),
        ("sorry, what?", Intent.REPEAT_REQUEST),
        ("can you say that again", Intent.REPEAT_REQUEST),
        # A hello, or confirming who they are, is not agreeing to anything.
        ("good morning", Intent.GREETING),
        ("Hello?", Intent.GREETING),
        ("Yes, speaking.", Intent.GREETING),
        ("yeah, this is she", Intent.GREETING),
        ("hello? can you hear me", Intent.QUESTION),
        # Who is calling, from where and why: not an objection, not a refusal.
        ("Sorry, who's this?", Intent.ASKS_WHO),
        ("where are you calling from?", Intent.ASKS_WHO),
        ("what is this about?", Intent.ASKS_WHO),
        ("who gave you my number", Intent.QUESTION),
        ("who is this? i'm not interested", Intent.REFUSAL),
        ("yes speaking, go ahead", Intent.AGREEMENT),
        ("i'm in a meeting", Intent.OTHER),
        ("", Intent.OTHER),
    ],
)
def test_it_applies_the_precedence_rules(utterance, intent):
    assert detect_intent(utterance, now=NOW, timezone=NEW_YORK).intent is intent


def test_it_extracts_the_callback_time_with_the_intent():
    result = detect_intent("not now, call me tomorrow at 3", now=NOW, timezone=NEW_YORK)

    assert result.intent is Intent.CALLBACK
    assert result.callback_at == datetime(2026, 3, 5, 15, 0, tzinfo=NEW_YORK)


def test_it_leaves_vague_callbacks_without_a_time():
    result = detect_intent("try me later this week", now=NOW, timezone=NEW_YORK)

    assert (result.intent, result.callback_at) == (Intent.CALLBACK, None)


def test_it_needs_no_clock_for_plain_intents():
    assert detect_intent("stop calling me").intent is Intent.OPT_OUT
    assert detect_intent("tomorrow at 3 works").intent is Intent.OTHER
