"""Twilio REST errors: the codes the simulator answers with, in Twilio's JSON error shape."""

from __future__ import annotations

from typing import Any

AUTHENTICATE = 20003
NOT_FOUND = 20404
INVALID_PARAMETER = 20001
INTERNAL_ERROR = 20500
TOO_MANY_REQUESTS = 20429
TO_MISSING = 21201
URL_INVALID = 21205
TO_INVALID = 21211
FROM_INVALID = 21212
FROM_MISSING = 21213
TWIML_PARSE_FAILURE = 12100
QUEUE_FULL = 22005
INVALID_CALL_STATE = 21220  # a realtime operation (e.g. start recording) on a call not talking


class TwilioError(Exception):
    """An error answer: HTTP status plus Twilio's error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def not_found(path: str) -> TwilioError:
    return TwilioError(404, NOT_FOUND, f"The requested resource {path} was not found")
