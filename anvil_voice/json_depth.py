"""How deeply a JSON text nests, measured without parsing it.

Python's `json` module parses recursively: a few thousand `[` in a row raise RecursionError
(which is not a ValueError, so code that handles bad JSON does not expect it) and a document
just under the recursion limit still makes every recursive consumer after it (serializers, the
error renderer) deep in the stack. Checking the depth first turns both into an ordinary
"this is not JSON we accept". Framework-free: the API's parsers and the Media Stream consumer
use it alike.
"""

from __future__ import annotations

import re
from itertools import accumulate

# A JSON string, whose brackets do not count. The closing quote is optional so an unterminated
# string is consumed once rather than rescanned from every quote inside it (linear, not
# quadratic, on hostile input).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
# +1 for an opening bracket, -1 for a closing one, indexed by byte value.
_STEP = [0] * 256
for _opening in b"[{":
    _STEP[_opening] = 1
for _closing in b"]}":
    _STEP[_closing] = -1


def json_too_deep(text: str | bytes, *, max_depth: int) -> bool:
    """True when arrays and objects in `text` nest more than `max_depth` levels.

    Linear in the length of `text` and done in C but for one pass over the brackets. Not a
    validator: malformed JSON that is shallow enough passes, and the parser then says what is
    wrong with it.
    """
    if isinstance(text, str):
        # Every byte of a multi-byte UTF-8 character is >= 0x80, so it can never be taken for
        # a quote, a backslash or a bracket.
        text = text.encode("utf-8", "surrogatepass")
    if text.count(b"[") + text.count(b"{") <= max_depth:
        return False  # the common case, decided without looking at the structure
    brackets = _STRING.sub(b"", text).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth
