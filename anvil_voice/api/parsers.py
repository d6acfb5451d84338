"""Request parsers: DRF's JSON parser with the nesting of the body bounded before parsing."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from anvil_voice.json_depth import json_too_deep


def _too_deep_message() -> str:
    return f"JSON parse error - nested deeper than {settings.API_MAX_JSON_DEPTH} levels."


class BoundedJSONParser(JSONParser):
    """A body of a few thousand `[` made `json.load` raise RecursionError (a 500); no request
    of ours nests more than a handful of levels, so anything deeper is refused as a parse
    error before the parser recurses into it. The body is already capped in bytes by
    `ApiEnvelopeMiddleware`, so reading it whole here costs no more than parsing did."""

    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = stream.read() if stream is not None else b""
        if json_too_deep(body, max_depth=int(settings.API_MAX_JSON_DEPTH)):
            raise ParseError(_too_deep_message())
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            # Only if the recursion limit were set below API_MAX_JSON_DEPTH.
            raise ParseError(_too_deep_message()) from None
