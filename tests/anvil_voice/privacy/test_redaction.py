"""`anvil_voice.privacy.redaction`: personal data as speech-to-text writes it becomes a typed
placeholder; the numbers of ordinary call chatter stay."""

from __future__ import annotations

import pytest

from anvil_voice.privacy.redaction import SpokenTurn, redact_text, redact_turns, redact_value


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("my card number is 4111 1111 1111 1111", "my card number is [CARD_NUMBER]"),
        ("it's 5555-5555-5555-4444 thanks", "it's [CARD_NUMBER] thanks"),
        (
            "four one one one one one one one one one one one one one one one",
            "[CARD_NUMBER]",
        ),
        ("forty one eleven eleven eleven eleven eleven eleven eleven", "[CARD_NUMBER]"),
        ("the code on the back is 737", "the code on the back is [CARD_NUMBER]"),
        ("my social is 123-45-6789", "my social is [NATIONAL_ID]"),
        ("a b one two three four five six c", "[NATIONAL_ID]"),
        ("my ni number is ab 12 34 56 c ok", "my ni number is [NATIONAL_ID] ok"),
        ("iban gb82 west 1234 5698 7654 32", "iban [BANK_ACCOUNT]"),
        (
            "routing 021000021 account number 12345678",
            "routing [BANK_ACCOUNT] account number [BANK_ACCOUNT]",
        ),
        ("sort code 40 47 84", "sort code [BANK_ACCOUNT]"),
        (
            "my routing and account are 021000021 44556677889",
            "my routing and account are [BANK_ACCOUNT]",
        ),
        ("john dot smith at gmail dot com", "[EMAIL]"),
        ("mail me at jane.doe@example.org please", "mail me at [EMAIL] please"),
    ],
)
def test_it_replaces_personal_data_with_a_typed_placeholder(said, stored):
    assert redact_text(said) == stored


@pytest.mark.parametrize(
    "chatter",
    [
        "call me back at 555 123 4567",
        "my cell is five five five eight six seven five three oh nine",
        "i need two boxes by 3 pm",
        "one or two",
        "it costs 49.99 a month",
        "my order number is 4111111111111111",  # Luhn-valid, but an order number
        "the reference is 4111 1111 1111 1112",
        "i work at amazon dot com",
        "i'll be at home after 6",
        "the account was closed in 2019",
        "we're at 1234 main street zip 90210",
    ],
)
def test_it_keeps_the_numbers_of_ordinary_chatter(chatter):
    assert redact_text(chatter) == chatter


def test_the_agents_question_cues_the_answer():
    assert redact_text("it's 12345678", context="what is your account number") == (
        "it's [BANK_ACCOUNT]"
    )
    assert redact_text("it's 12345678") == "it's 12345678"


def test_a_card_number_given_over_several_turns_is_redacted_in_each():
    turns = [
        SpokenTurn("agent", "Can I take the card number?"),
        SpokenTurn("contact", "sure 4111 1111"),
        SpokenTurn("agent", "Mm-hmm."),
        SpokenTurn("contact", "1111 1111"),
        SpokenTurn("agent", "Thanks. And a callback number?"),
        SpokenTurn("contact", "555 123 4567"),
    ]

    assert redact_turns(turns) == [
        "Can I take the card number?",
        "sure [CARD_NUMBER]",
        "Mm-hmm.",
        "[CARD_NUMBER]",
        "Thanks. And a callback number?",
        "555 123 4567",
    ]


def test_a_turn_that_does_not_end_on_digits_does_not_join_the_next():
    turns = [SpokenTurn("contact", "4111 1111 is what i said"), SpokenTurn("contact", "1111 1111")]

    assert redact_turns(turns) == ["4111 1111 is what i said", "1111 1111"]


def test_json_values_are_redacted_string_by_string():
    value = {"stats": {"dtmf_digits": "4111111111111111", "frames_in": 10}, "notes": ["ok"]}

    assert redact_value(value) == {
        "stats": {"dtmf_digits": "[CARD_NUMBER]", "frames_in": 10},
        "notes": ["ok"],
    }
