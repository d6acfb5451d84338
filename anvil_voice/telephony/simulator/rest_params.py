"""Parsing and validating the Calls API's form parameters, with Twilio's error codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from multidict import MultiMapping

from . import errors
from .calls import CallRequest
from .errors import TwilioError
from .twiml import TWIML_MAX_CHARS, TwimlError, Verb, parse_twiml

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
STATUS_CALLBACK_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MACHINE_DETECTION_MODES = frozenset({"Enable", "DetectMessageEnd"})
MAX_TIMEOUT_SECONDS = 600
MAX_TIME_LIMIT_SECONDS = 86400


def parse_create(params: MultiMapping[Any]) -> CallRequest:
    """Validate `Calls.json` parameters the way Twilio does, in Twilio's error codes."""
    to = text_param(params, "To")
    from_ = text_param(params, "From")
    if not to:
        raise TwilioError(400, errors.TO_MISSING, "A 'To' phone number is required.")
    if not from_:
        raise TwilioError(400, errors.FROM_MISSING, "A 'From' phone number is required.")
    if not E164.match(to):
        raise TwilioError(400, errors.TO_INVALID, f"Invalid 'To' Phone Number: {to}")
    if not E164.match(from_):
        raise TwilioError(400, errors.FROM_INVALID, f"Invalid 'From' Phone Number: {from_}")
    twiml_text, url = text_param(params, "Twiml"), text_param(params, "Url")
    twiml: list[Verb] | None = None
    if twiml_text:
        twiml = _parse_twiml_param(twiml_text)
    elif url:
        _require_url(url, "Url", errors.URL_INVALID)
    else:
        raise TwilioError(400, errors.URL_INVALID, "Either Url or Twiml is required.")
    events: set[str] = set()
    for value in params.getall("StatusCallbackEvent", []):
        # The SDK repeats the parameter; a space-separated list is accepted too.
        events.update(str(value).split())
    if not events <= STATUS_CALLBACK_EVENTS:
        unknown = ", ".join(sorted(events - STATUS_CALLBACK_EVENTS))
        raise TwilioError(400, errors.INVALID_PARAMETER, f"Invalid StatusCallbackEvent: {unknown}")
    status_callback = text_param(params, "StatusCallback") or None
    if status_callback:
        _require_url(status_callback, "StatusCallback", errors.INVALID_PARAMETER)
    machine_detection = text_param(params, "MachineDetection") or None
    if machine_detection and machine_detection not in MACHINE_DETECTION_MODES:
        raise TwilioError(
            400, errors.INVALID_PARAMETER, f"Invalid MachineDetection: {machine_detection}"
        )
    amd_callback = text_param(params, "AsyncAmdStatusCallback") or None
    recording_callback = text_param(params, "RecordingStatusCallback") or None
    for name, value in (
        ("AsyncAmdStatusCallback", amd_callback),
        ("RecordingStatusCallback", recording_callback),
    ):
        if value:
            _require_url(value, name, errors.INVALID_PARAMETER)
    return CallRequest(
        to=to,
        from_=from_,
        twiml=twiml,
        url=url or None,
        method=_method(params, "Method"),
        status_callback=status_callback,
        status_callback_events=frozenset(events | {"completed"}),
        status_callback_method=_method(params, "StatusCallbackMethod"),
        machine_detection=machine_detection,
        machine_detection_timeout=int_param(params, "MachineDetectionTimeout", 30, 3, 59),
        async_amd=_bool(params, "AsyncAmd"),
        async_amd_status_callback=amd_callback,
        record=_bool(params, "Record"),
        recording_status_callback=recording_callback,
        # Twilio silently caps the ring timeout at 600 s.
        timeout=min(int_param(params, "Timeout", 60, 1, 10**6), MAX_TIMEOUT_SECONDS),
        time_limit=int_param(params, "TimeLimit", 14400, 1, MAX_TIME_LIMIT_SECONDS),
    )


def parse_start_recording(params: MultiMapping[Any]) -> tuple[str | None, str]:
    """The Call Recordings resource's create: (RecordingStatusCallback, its method). Channels,
    track and trim are accepted and ignored: the simulator records one mixed channel."""
    callback = text_param(params, "RecordingStatusCallback") or None
    if callback:
        _require_url(callback, "RecordingStatusCallback", errors.INVALID_PARAMETER)
    return callback, _method(params, "RecordingStatusCallbackMethod")


def parse_redirect(params: MultiMapping[Any]) -> list[Verb] | str | None:
    twiml_text, url = text_param(params, "Twiml"), text_param(params, "Url")
    if twiml_text:
        return _parse_twiml_param(twiml_text)
    if url:
        _require_url(url, "Url", errors.URL_INVALID)
        return url
    return None


def _parse_twiml_param(text: str) -> list[Verb]:
    if len(text) > TWIML_MAX_CHARS:
        raise TwilioError(
            400,
            errors.INVALID_PARAMETER,
            f"Twiml must be at most {TWIML_MAX_CHARS} characters, got {len(text)}",
        )
    try:
        return parse_twiml(text)
    except TwimlError as error:
        raise TwilioError(400, errors.TWIML_PARSE_FAILURE, f"Invalid Twiml: {error}") from error


def text_param(params: MultiMapping[Any], name: str) -> str:
    value = params.get(name)
    return str(value).strip() if value is not None else ""


def _require_url(value: str, name: str, code: int) -> None:
    if not value.startswith(("http://", "https://")):
        raise TwilioError(400, code, f"{name} is not a valid URL: {value}")


def _method(params: MultiMapping[Any], name: str) -> str:
    method = text_param(params, name).upper() or "POST"
    if method not in {"GET", "POST"}:
        raise TwilioError(400, errors.INVALID_PARAMETER, f"{name} must be GET or POST")
    return method


def _bool(params: MultiMapping[Any], name: str) -> bool:
    return text_param(params, name).lower() == "true"


def int_param(
    params: MultiMapping[Any], name: str, default: int, minimum: int, maximum: int
) -> int:
    raw = text_param(params, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioError(400, errors.INVALID_PARAMETER, f"{name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise TwilioError(
            400, errors.INVALID_PARAMETER, f"{name} must be between {minimum} and {maximum}"
        )
    return value


def parse_time(name: str, raw: str) -> tuple[datetime, bool]:
    """A list filter's bound: `YYYY-MM-DD` (a whole UTC day) or the SDK's `...THH:MM:SSZ`."""
    for pattern, is_date in (("%Y-%m-%d", True), ("%Y-%m-%dT%H:%M:%SZ", False)):
        try:
            return datetime.strptime(raw, pattern).replace(tzinfo=UTC), is_date
        except ValueError:
            continue
    raise TwilioError(400, errors.INVALID_PARAMETER, f"{name} must be a date or date-time")


def time_matches(value: datetime | None, bound: datetime, is_date: bool, relation: str) -> bool:
    # Queued calls have no start_time yet and match no StartTime filter, as at Twilio.
    if value is None:
        return False
    if relation == "on":
        return value.date() == bound.date() if is_date else value == bound
    if relation == "after":
        return value.date() >= bound.date() if is_date else value >= bound
    return value.date() <= bound.date() if is_date else value <= bound


def as_loggable(params: MultiMapping[Any]) -> dict[str, Any]:
    """Parameters for the log; repeated ones (StatusCallbackEvent) become lists."""
    result: dict[str, Any] = {}
    for key in params:
        if key in result:
            continue
        values = [str(value) for value in params.getall(key)]
        result[key] = values if len(values) > 1 else values[0]
    return result
