"""Phone-menu parsing, matching and the navigator (`scripts.engine.ivr`): pure, fast."""

from __future__ import annotations

import pytest

from scripts.engine.ivr import (
    GiveUp,
    GiveUpReason,
    Heard,
    IvrNavigator,
    IvrState,
    MenuOption,
    PersonAnswered,
    Press,
    best_option,
    classify,
    parse_options,
)


def digits(text: str) -> list[tuple[str, str]]:
    return [(o.digit, o.label) for o in parse_options(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Press 1 for sales.", [("1", "for sales")]),
        ("Press one for sales.", [("1", "for sales")]),
        ("press 1 for sales press 2 for support", [("1", "for sales"), ("2", "for support")]),
        ("for sales press 1 for support press 2", [("1", "for sales"), ("2", "for support")]),
        (
            "Press one for sales. For billing, press two. To speak to a representative, press "
            "zero.",
            [("1", "for sales"), ("2", "for billing"), ("0", "to speak to a representative")],
        ),
        (
            "Press 1 for sales, 2 for billing, or 3 for support.",
            [("1", "for sales"), ("2", "for billing"), ("3", "for support")],
        ),
        ("Sales, press 1. Accounts, press 2.", [("1", "sales"), ("2", "accounts")]),
        ("Press, 2, for support.", [("2", "for support")]),
        ("For accounts payable press two", [("2", "for accounts payable")]),
        ("Thank you for calling Acme. Press 1 for sales.", [("1", "for sales")]),
        (
            "If you are calling about an existing order, press 4.",
            [("4", "if you are calling about an existing order")],
        ),
        (
            "To repeat this menu, press star. To go back, press pound.",
            [("*", "to repeat this menu"), ("#", "to go back")],
        ),
        ("To go back press #.", [("#", "to go back")]),
        ("Please press 9 to hear these options again", [("9", "to hear these options again")]),
        ("Dial 0 for the operator.", [("0", "for the operator")]),
        # Whisper's homophones right after the verb: "two" as "to", "four" as "for".
        ("Press to for billing.", [("2", "for billing")]),
        ("Press for for support.", [("4", "for support")]),
        ("Press for sales.", []),  # no key named
        ("Press 1 or say sales.", []),
        ("To speak to an operator, please stay on the line.", [("", "to speak to an operator")]),
        ("Your call is important to us. Please hold.", []),
        ("Hello, this is Sam, how can I help?", []),
        ("I pressed one already", []),
    ],
)
def test_parse_options(text: str, expected: list[tuple[str, str]]) -> None:
    assert digits(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Press 1 for sales.", Heard.MENU),
        ("Hello, this is Sam, how can I help?", Heard.PERSON),
        ("Accounts, Jane speaking.", Heard.PERSON),
        ("Thank you for calling Acme, this is Sam speaking", Heard.PERSON),
        ("Hello?", Heard.PERSON),
        ("Hi, good morning.", Heard.PERSON),
        ("Your call is important to us. Please hold.", Heard.HOLD),
        ("Please hold while I transfer your call.", Heard.HOLD),
        ("Thank you for calling Acme Corporation.", Heard.HOLD),
        ("Welcome to Acme.", Heard.HOLD),
        ("All of our representatives are busy.", Heard.HOLD),
        ("Mmm.", Heard.UNKNOWN),
    ],
)
def test_classify(text: str, kind: Heard) -> None:
    assert classify(text)[0] is kind


MENU = "Press 1 for sales. Press 2 for billing. Press 0 to speak to a representative."


@pytest.mark.parametrize(
    ("target", "digit"),
    [
        ("a person", "0"),
        ("someone", "0"),
        ("an operator", "0"),
        ("customer service", "0"),
        ("accounts", "2"),
        ("billing", "2"),
        ("the acounts team", "2"),  # a misspelling still fits
        ("sales", "1"),
        ("buying something", "1"),
    ],
)
def test_best_option(target: str, digit: str) -> None:
    chosen = best_option(target, parse_options(MENU))
    assert chosen is not None
    assert chosen[0].digit == digit


def test_the_target_word_itself_beats_a_synonym() -> None:
    menu = parse_options("For invoices press 1. To speak to our accounts team press 2.")
    chosen = best_option("accounts", menu)
    assert chosen is not None
    assert chosen[0].digit == "2"


@pytest.mark.parametrize("target", ["a person", "the legal department"])
def test_no_option_fits(target: str) -> None:
    assert best_option(target, parse_options("Press 1 for sales. Press 9 to repeat.")) is None


def test_navigator_two_levels_then_a_person() -> None:
    nav = IvrNavigator(target="accounts", timeout_ms=60_000)
    assert nav.hear("Thank you for calling Acme.", 1000) is None
    assert nav.hear("Press 1 for sales.", 2000) is None
    decision = nav.hear("Press 2 for accounts.", 3000)
    assert decision == Press(MenuOption("2", "for accounts"), 1.0)
    # The balance is about accounts; someone in accounts is the whole target.
    decision = nav.hear("For your balance press 1. To speak to someone in accounts press 0.", 5000)
    assert isinstance(decision, Press)
    assert decision.option.digit == "0"
    assert nav.hear("Please hold.", 7000) is None
    assert nav.hear("Hi, this is Sam, how can I help?", 9000) == PersonAnswered(menu_heard=True)
    assert nav.state is IvrState.PERSON
    assert nav.pressed == "20"
    assert nav.level == 2
    assert [step.kind for step in nav.path] == [
        "hold",
        "menu",
        "menu",
        "pressed",
        "menu",
        "pressed",
        "hold",
        "person",
    ]
    assert nav.hear("Hello?", 10_000) is None  # done: nothing more


def test_a_person_answering_at_once_is_no_menu() -> None:
    nav = IvrNavigator(target="a person", timeout_ms=60_000)
    assert nav.hear("Yeah?", 500) == PersonAnswered(menu_heard=False)


def test_unknown_words_after_a_menu_are_waited_through() -> None:
    nav = IvrNavigator(target="accounts", timeout_ms=60_000)
    nav.hear("Press 1 for sales.", 1000)
    assert nav.hear("Mmm.", 2000) is None
    assert nav.state is IvrState.IN_MENU


def test_the_menu_repeating_without_a_fit_gives_up() -> None:
    nav = IvrNavigator(target="a person", timeout_ms=60_000)
    assert nav.hear("Press 1 for sales. Press 2 for opening hours.", 1000) is None
    assert nav.hear("Press 1 for sales.", 8000) == GiveUp(GiveUpReason.NO_OPTION)
    assert nav.state is IvrState.GAVE_UP
    assert nav.path[-1].data == {"reason": "no_option"}


def test_the_time_limit_gives_up() -> None:
    nav = IvrNavigator(target="a person", timeout_ms=20_000, started_ms=1000)
    nav.hear("Please hold.", 2000)
    assert nav.tick(20_999) is None
    assert nav.tick(21_000) == GiveUp(GiveUpReason.TIMEOUT)
    assert nav.tick(22_000) is None  # once
    # An utterance after the limit is not acted on.
    late = IvrNavigator(target="a person", timeout_ms=1000)
    assert late.hear("Press 0 for an operator.", 5000) == GiveUp(GiveUpReason.TIMEOUT)


def test_a_partial_match_waits_for_the_menu_to_settle():
    nav = IvrNavigator(target="a person", timeout_ms=60_000, settle_ms=2000)
    # "operator" is a synonym, not the target's own word: a better option may follow.
    assert nav.hear("For the operator, press 0.", 1000) is None
    assert not nav.due(2999)
    assert nav.tick(2999) is None
    decision = nav.hear("For a person in sales, press 3.", 2500)  # the target's own word
    assert isinstance(decision, Press)
    assert nav.state is IvrState.WAITING
    assert nav.pressed == "3"


def test_a_partial_match_is_pressed_once_the_menu_goes_quiet():
    nav = IvrNavigator(target="a person", timeout_ms=60_000, settle_ms=2000)
    assert nav.hear("For sales press 1. For the operator, press 0.", 1000) is None
    assert nav.due(3000)
    decision = nav.tick(3000)
    assert isinstance(decision, Press)
    assert decision.option.digit == "0"


def test_a_partial_match_is_pressed_when_the_menu_repeats():
    nav = IvrNavigator(target="a person", timeout_ms=60_000)
    assert nav.hear("For the operator, press 0.", 1000) is None
    decision = nav.hear("For the operator, press 0.", 2000)
    assert isinstance(decision, Press)
    assert decision.option.digit == "0"
