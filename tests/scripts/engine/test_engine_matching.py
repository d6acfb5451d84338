from engine_labelled_data import TRIGGER_DEVELOPMENT, TRIGGER_HOLDOUT, TRIGGERS

from scripts.engine.matching import TriggerMatcher, best_match, similarity

KEYS = list(TRIGGERS)


def _precision_recall(table: list[tuple[str, str | None]]) -> tuple[float, float]:
    matcher = TriggerMatcher([TRIGGERS[key] for key in KEYS])
    true_positive = false_positive = false_negative = 0
    for utterance, expected in table:
        match = matcher.match(utterance)
        got = KEYS[match.index] if match else None
        if got is not None and got == expected:
            true_positive += 1
            continue
        false_positive += got is not None
        false_negative += expected is not None
    precision = true_positive / (true_positive + false_positive)
    recall = true_positive / (true_positive + false_negative)
    return precision, recall


def test_it_matches_triggers_with_high_precision_and_recall():
    assert len(TRIGGER_DEVELOPMENT) >= 60
    precision, recall = _precision_recall(TRIGGER_DEVELOPMENT)
    print(
        f"\ntrigger matching, development ({len(TRIGGER_DEVELOPMENT)} utterances): "
        f"precision={precision:.3f} recall={recall:.3f}"
    )

    assert precision >= 0.9
    assert recall >= 0.9


def test_it_generalises_to_held_out_trigger_paraphrases():
    precision, recall = _precision_recall(TRIGGER_HOLDOUT)
    print(
        f"\ntrigger matching, holdout ({len(TRIGGER_HOLDOUT)} utterances): "
        f"precision={precision:.3f} recall={recall:.3f}"
    )

    assert precision >= 0.85
    assert recall >= 0.8


def test_it_scores_noise_and_paraphrase_close_to_the_trigger():
    assert similarity("I'm not interested", "um im not intrested") > 0.9
    assert similarity("too expensive", "it's TOO expensive!!") == 1.0
    assert similarity("too expensive", "the weather is nice") == 0.0


def test_it_penalises_opposite_polarity():
    assert similarity("too expensive", "it's not too expensive") < 0.65
    assert similarity("it costs too much", "how much does it cost") < 0.65


def test_it_reads_a_standalone_no_as_an_answer_not_a_negation():
    assert similarity("too expensive", "no, it's too expensive") == 1.0
    assert similarity("we have the budget", "we have no budget") < 0.65


def test_it_prefers_the_earlier_trigger_on_a_tie():
    match = best_match("too expensive", ["too expensive", "it's too expensive"])

    assert match is not None
    assert (match.index, match.score) == (0, 1.0)


def test_it_borrows_paraphrases_for_short_triggers():
    match = best_match("we can't afford it right now", ["price"])

    assert match is not None
    assert match.trigger == "price"


def test_it_returns_nothing_below_the_threshold():
    assert best_match("tell me more", list(TRIGGERS.values())) is None
    assert best_match("", list(TRIGGERS.values())) is None
