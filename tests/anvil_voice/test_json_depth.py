"""json_too_deep: nesting measured without parsing, strings and malformed input included."""

from __future__ import annotations

import json

import pytest

from anvil_voice.json_depth import json_too_deep


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": [2]}]}', 4),
        ('["[[[[", "]]]]"]', 1),  # brackets inside strings do not nest
        ('["\\"[[[["]', 1),  # nor after an escaped quote
        ("[[]][[]][[]]", 2),  # siblings do not add up
        ('{"name": "Zoë [ünï]"}', 1),
        ("[" * 400_000, 400_000),
        ("[[]]]]]", 2),  # malformed but shallow: the parser says what is wrong
    ],
)
def test_it_measures_the_deepest_nesting(text, depth):
    for as_given in (text, text.encode()):
        assert json_too_deep(as_given, max_depth=depth) is False
        assert json_too_deep(as_given, max_depth=depth - 1) is True


def test_it_agrees_with_the_parser_on_real_documents():
    document = {"event": "start", "start": {"mediaFormat": {"rates": [[8000]]}, "tracks": ["x"]}}

    assert json_too_deep(json.dumps(document), max_depth=5) is False
    assert json_too_deep(json.dumps(document), max_depth=4) is True


def test_an_unterminated_string_hides_nothing_after_it():
    # The rest of the text is inside the string, as far as any parser is concerned.
    assert json_too_deep('["' + "[" * 100, max_depth=1) is False
