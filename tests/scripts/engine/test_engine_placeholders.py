import pytest

from scripts.engine.placeholders import (
    PlaceholderError,
    PlaceholderErrorCode,
    find_placeholders,
    placeholder_names,
    render,
    validate_placeholders,
)

ALLOWED = {"first_name", "last_name", "company"}


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("Hi {{first_name}}!", {"first_name": "Jane"}, "Hi Jane!"),
        ("Hi {{ first_name | there }}!", {}, "Hi there!"),
        ("Hi {{first_name|there}}!", {"first_name": "  "}, "Hi there!"),
        ("Hi {{first_name|there}}!", {"first_name": None}, "Hi there!"),
        ("Hi {{first_name}}, this is Anna.", {}, "Hi, this is Anna."),
        ("Hello {{first_name}}!", {}, "Hello!"),
        ("Wonderful, {{first_name}}! Bye.", {}, "Wonderful! Bye."),
        ("{{first_name}}, this is Anna.", {}, "This is Anna."),
        ("Thanks. {{first_name}}, one more thing.", {}, "Thanks. One more thing."),
        ("Hi {{title}} {{last_name}}, welcome", {}, "Hi, welcome"),
        (
            "Calling {{company}} about {{topic|your account}}",
            {"company": "Acme"},
            "Calling Acme about your account",
        ),
        ("We have {{count}} offers", {"count": 3}, "We have 3 offers"),
        ("Braces {like this} stay", {}, "Braces {like this} stay"),
        ("No placeholders at all.", {}, "No placeholders at all."),
        ("{{a}}{{b}}", {"a": "x", "b": "y"}, "xy"),
    ],
)
def test_it_renders_placeholders(text, variables, expected):
    assert render(text, variables) == expected


@pytest.mark.parametrize(
    ("text", "code", "placeholder"),
    [
        ("Hi {{first name}}!", PlaceholderErrorCode.MALFORMED, "{{first name}}"),
        ("Hi {{}}!", PlaceholderErrorCode.EMPTY, "{{}}"),
        ("Hi {{ | there}}!", PlaceholderErrorCode.EMPTY, "{{ | there}}"),
        ("Hi {{first_name!", PlaceholderErrorCode.UNBALANCED, "{{first_name"),
        ("Hi first_name}} there", PlaceholderErrorCode.UNBALANCED, "first_name}}"),
        ("Hi {{outer {{first_name}} }}", PlaceholderErrorCode.NESTED, "{{outer {{first_name}} }}"),
        ("Hi {{First_Name}}", PlaceholderErrorCode.MALFORMED, "{{First_Name}}"),
        ("Hi {{1name}}", PlaceholderErrorCode.MALFORMED, "{{1name}}"),
        ("Hi {{frist_name}}", PlaceholderErrorCode.UNKNOWN, "{{frist_name}}"),
    ],
)
def test_it_names_the_offending_placeholder(text, code, placeholder):
    errors = validate_placeholders(text, ALLOWED)

    assert [(error.code, error.placeholder) for error in errors] == [(code, placeholder)]
    assert placeholder in errors[0].message


def test_it_suggests_the_closest_known_name():
    [error] = validate_placeholders("Hi {{frist_name}}", ALLOWED)

    assert error.name == "frist_name"
    assert "Did you mean {{first_name}}?" in error.message


def test_it_reports_every_error_in_order():
    errors = validate_placeholders("{{bad name}} and {{nope}} and {{first_name", ALLOWED)

    assert [error.placeholder for error in errors] == ["{{bad name}}", "{{nope}}", "{{first_name"]


def test_it_accepts_any_well_formed_name_without_an_allow_list():
    assert validate_placeholders("{{anything_at_all}} {{x|y}}") == []


def test_it_finds_placeholders_with_defaults_and_positions():
    [first, second] = find_placeholders("Hi {{ first_name | there }}, from {{company}}")

    assert (first.name, first.default, first.start) == ("first_name", "there", 3)
    assert (second.name, second.default) == ("company", None)
    assert placeholder_names("{{a}} {{b|c}} {{a}}") == {"a", "b"}


def test_it_raises_a_typed_error_when_rendering_bad_syntax():
    with pytest.raises(PlaceholderError) as caught:
        render("Hi {{first name}}", {"first name": "Jane"})

    assert caught.value.placeholder == "{{first name}}"


def test_it_raises_on_missing_values_in_strict_mode():
    with pytest.raises(PlaceholderError) as caught:
        render("Hi {{first_name}}", {}, strict=True)

    assert caught.value.code is PlaceholderErrorCode.MISSING
    assert render("Hi {{first_name|there}}", {}, strict=True) == "Hi there"
