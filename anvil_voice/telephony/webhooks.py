"""Twilio's webhooks: status callbacks, async AMD verdicts, recording status.

Each view checks the signature first (403 and nothing written when it is missing or forged),
reads the form with one parser, hands it to one service in `sessions.carrier.status` and answers at
once with empty TwiML: Twilio gives a webhook 15 s and logs any 4xx/5xx as an error, so slow
work (downloading a recording, hanging up) runs in tasks after commit.

Answers: 200 for everything we understood, including callbacks about calls we do not know
(Twilio must not retry them); 400 for a signed callback we cannot read (a `CallStatus` we do
not know, no `CallSid`), with nothing written, so it shows up in Twilio's debugger; never 500.
These URLs live outside `/api/`: no envelope, no API rate limit (Twilio ignores 429 anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from anvil_voice.telephony.carrier import get_carrier
from anvil_voice.telephony.twiml import EMPTY_TWIML, SESSION_QUERY
from sessions.carrier import status

logger = logging.getLogger(__name__)

# (form fields, our session token from the callback URL's query or "")
Apply = Callable[[Mapping[str, Any], str], status.ApplyResult]


def _handle(request: HttpRequest, name: str, apply: Apply) -> HttpResponse:
    if not get_carrier().validate_webhook(request):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    try:
        result = apply(request.POST, str(request.GET.get(SESSION_QUERY, "")))
    except status.InvalidCallback as error:
        logger.warning("event=twilio_webhook_unreadable webhook=%s reason=%s", name, error)
        return HttpResponse(str(error), status=400, content_type="text/plain")
    logger.info("event=twilio_webhook webhook=%s result=%s", name, result)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _apply_status(params: Mapping[str, Any], token: str) -> status.ApplyResult:
    callback = status.parse_status_callback(params, session_token=token)
    return status.session_apply_status_callback(callback=callback)


def _apply_amd(params: Mapping[str, Any], token: str) -> status.ApplyResult:
    callback = status.parse_amd_callback(params, session_token=token)
    return status.session_apply_amd_result(callback=callback)


def _apply_recording(params: Mapping[str, Any], token: str) -> status.ApplyResult:
    callback = status.parse_recording_callback(params)
    return status.session_apply_recording_callback(callback=callback)


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    return _handle(request, "status", _apply_status)


@csrf_exempt
@require_POST
def amd_callback(request: HttpRequest) -> HttpResponse:
    return _handle(request, "amd", _apply_amd)


@csrf_exempt
@require_POST
def recording_callback(request: HttpRequest) -> HttpResponse:
    return _handle(request, "recording", _apply_recording)
