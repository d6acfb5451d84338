"""Wraps every API response in the standard envelope.

Views return plain resource data; pagination and the exception handler build their own
envelopes (with `meta` / `error`) and mark the response `enveloped`, so nothing is wrapped twice.
A 204 (every DELETE) has no body at all, so nothing is wrapped either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import status
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer

from anvil_voice.api.errors import ErrorCode, error_body


def envelope(data: Any, response: Any) -> Any:
    if response is not None and response.status_code == status.HTTP_204_NO_CONTENT:
        return None  # rendered as an empty body (DRF then drops the Content-Type too)
    if response is not None and getattr(response, "enveloped", False):
        return data
    if response is not None and response.status_code >= 400:
        # An error that bypassed our handler (should not happen); keep the contract anyway.
        return error_body(ErrorCode.INTERNAL_ERROR, "Request failed.")
    return {"success": True, "data": data}


class EnvelopeJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        return super().render(envelope(data, response), accepted_media_type, renderer_context)


class EnvelopeBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API shows exactly what the JSON renderer sends."""
