"""`X-Twilio-Signature` checks for webhooks and Media Stream handshakes.

Twilio signs the URL *it* requested. Behind a proxy or a load balancer our server sees another
scheme, host or port, so the URL is rebuilt from `PUBLIC_BASE_URL` (configuration), never from
the Host header. While the auth token is rotated, signatures made with the secondary token are
accepted too. The simulator's public token is accepted only while DEBUG is on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

from anvil_voice.telephony.twiml import public_base_url, stream_base_url

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def auth_tokens() -> list[str]:
    tokens = [str(settings.TWILIO_AUTH_TOKEN), str(settings.TWILIO_AUTH_TOKEN_SECONDARY)]
    # The simulator's token is public: with DEBUG off a signature made with it proves nothing,
    # even if a settings override or a test harness put it back.
    refused = "" if settings.DEBUG else str(settings.TWILIO_SIMULATOR_AUTH_TOKEN)
    return [token for token in tokens if token and token != refused]


def signature_is_valid(url: str, params: Mapping[str, Any], signature: str) -> bool:
    """True when `signature` was made over (`url`, `params`) with one of our auth tokens."""
    if not signature:
        return False
    return any(RequestValidator(token).validate(url, params, signature) for token in auth_tokens())


def webhook_public_url(request: HttpRequest) -> str:
    # get_full_path keeps the query string: Twilio signs it as part of the URL.
    return public_base_url() + request.get_full_path()


def webhook_is_valid(request: HttpRequest) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    # Twilio signs POST form fields; a GET webhook is signed over the URL alone.
    params = request.POST if request.method == "POST" else {}
    valid = signature_is_valid(webhook_public_url(request), params, signature)
    if not valid:
        logger.warning(
            "event=twilio_signature_refused path=%s signed=%s", request.path, bool(signature)
        )
    return valid


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def stream_public_url(scope: Mapping[str, Any]) -> str:
    """The `wss://` URL as written in our TwiML, rebuilt from the websocket scope."""
    query = scope.get("query_string", b"").decode("latin-1")
    return stream_base_url() + str(scope.get("path", "")) + (f"?{query}" if query else "")


def stream_handshake_is_valid(scope: Mapping[str, Any]) -> bool:
    signature = _header(scope.get("headers", []), SIGNATURE_HEADER.lower().encode())
    # Twilio signs the handshake like a request with no parameters.
    valid = signature_is_valid(stream_public_url(scope), {}, signature)
    if not valid:
        logger.warning("event=twilio_stream_signature_refused signed=%s", bool(signature))
    return valid
