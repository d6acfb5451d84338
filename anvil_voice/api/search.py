"""`?search=` on lists that hold phone numbers: the digits of a number, written any way.

Numbers are stored in E.164 (`+12125550104`); people type `555010`, `(212) 555-0104`,
`212.555.0104` or `+1 212 555 0104`. A query made only of digits and those separators is
searched as its digits, anywhere in the stored number.
"""

from __future__ import annotations

import re

# Digits with spaces, dashes, dots or parentheses between them, and at most one leading +.
PHONE_QUERY = re.compile(r"^\+?[\d\s().-]*\d[\d\s().-]*$")


def phone_search_digits(text: str) -> str | None:
    """The digits to look for in stored numbers, or None when `text` is not a phone query."""
    text = text.strip()
    if not PHONE_QUERY.match(text):
        return None
    return re.sub(r"\D", "", text)
