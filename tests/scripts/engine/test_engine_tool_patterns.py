"""A tool schema's `pattern` runs on the call's event loop: patterns that could backtrack
catastrophically are refused when the script is saved and again when a tool is called."""

from __future__ import annotations

import time

import pytest

from scripts.engine.tools import (
    MAX_PATTERN_SUBJECT,
    ToolKind,
    ToolSpec,
    argument_errors,
    pattern_errors,
    run_tool,
)
from scripts.validation import tool_errors


def _schema(pattern: str) -> dict[str, object]:
    return {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}}


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\d{5}$",
        r"^[A-Z]{2}-\d+$",
        r"^(\d{3}-){2}\d{4}$",
        r"^(?:\d{1,3}\.){3}\d{1,3}$",
        r"^[a-z]+@[a-z]+\.com$",
        r"^(cat|dog)$",
    ],
)
def test_ordinary_patterns_are_accepted(pattern):
    assert pattern_errors(_schema(pattern)) == []


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"^(a+)+$", "repeats a group that itself repeats"),
        (r"^(\w+\s?)*$", "repeats a group that itself repeats"),
        (r"^(\d{1,3})*$", "repeats a group that itself repeats"),
        (r"^(a|ab)*c$", "repeats an alternation"),
        (r"^(?=(a+)+)", "repeats a group that itself repeats"),
        (r"^(x)\1$", "uses a back-reference"),
        (r"^\d+\d+\d+$", "more than 2 open-ended repeats"),
        ("a" * 201, "longer than 200 characters"),
        ("(", "not a valid regular expression"),
    ],
)
def test_patterns_that_could_stall_a_call_are_refused(pattern, problem):
    [message] = pattern_errors(_schema(pattern))
    assert problem in message


def test_a_script_with_such_a_pattern_is_not_saved():
    tool = {
        "type": "http",
        "name": "check",
        "description": "Check a code.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string"}},
            "patternProperties": {"^(b*)*$": {"type": "string"}},
        },
        "url": "https://tools.example.com/check",
    }
    [message] = tool_errors([tool], [])["tools"]
    assert message.startswith("Tool 1 (check): The pattern '^(b*)*$' repeats a group")


def test_the_worst_pattern_allowed_on_the_longest_text_allowed_is_quick():
    schema = _schema(r"^\d+\d+$")  # quadratic on "111…1x": the worst shape still allowed
    started = time.perf_counter()
    errors = argument_errors(schema, {"code": "1" * (MAX_PATTERN_SUBJECT - 1) + "x"})
    assert time.perf_counter() - started < 0.5
    assert errors  # it does not match
    assert argument_errors(schema, {"code": "1" * (MAX_PATTERN_SUBJECT + 1)}) == [
        f"arguments: a text longer than {MAX_PATTERN_SUBJECT} characters"
    ]
    # Without a pattern a long text is fine.
    assert argument_errors({"type": "object"}, {"code": "1" * 5000}) == []


async def test_a_stored_schema_with_an_unsafe_pattern_is_an_error_result_not_a_stall():
    """A snapshot saved before patterns were checked: the call refuses to run the pattern."""
    tool = ToolSpec(ToolKind.HTTP, "check", "Check.", _schema(r"^(a+)+$"), url="https://x.test")

    class Runner:
        async def run(self, *args: object, **kwargs: object) -> object:
            raise AssertionError("never called with arguments the schema cannot check")

    started = time.perf_counter()
    result = await run_tool(Runner(), tool, {"code": "a" * 40 + "!"}, call_id="c1")
    assert time.perf_counter() - started < 0.5
    assert result.ok is False
    assert result.error.startswith("Invalid arguments: schema: The pattern '^(a+)+$'")
