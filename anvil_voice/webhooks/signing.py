"""The signature on every delivery (Stripe's scheme, with our header name).

`X-Anvil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
A receiver recomputes the HMAC over the exact bytes it received, compares in constant time and
refuses timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Anvil-Signature"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_valid(
    *, secret: str, header: str, body: bytes, now: int, tolerance: int = 300
) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, f"t={timestamp},v1={parts.get('v1', '')}")
