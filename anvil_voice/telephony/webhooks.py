"""Receiving carrier webhooks: signature first, one parser, empty TwiML back.

`carrier_webhook(name, parse)` turns a handler of parsed, carrier-neutral callbacks into a view.
The view checks the signature first (403 and nothing written when it is missing or forged),
reads the form with `parse`, hands the result to the handler and answers at once with empty
TwiML: Twilio gives a webhook 15 s and logs any 4xx/5xx as an error, so the handler must leave
slow work (downloading a recording, hanging up) to tasks after commit.

Answers: 200 for everything we understood, including callbacks about calls we do not know
(Twilio must not retry them); 400 for a signed callback we cannot read (a `CallStatus` we do
not know, no `CallSid`), with nothing written, so it shows up in Twilio's debugger; never 500.

The handlers that apply callbacks to sessions live in the product (`sessions.carrier.webhooks`):
telephony never imports the product apps.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from anvil_voice.telephony.callbacks import InvalidCallback
from anvil_voice.telephony.carrier import get_carrier
from anvil_voice.telephony.twiml import EMPTY_TWIML, SESSION_QUERY

logger = logging.getLogger(__name__)

View = Callable[[HttpRequest], HttpResponse]


def carrier_webhook[Parsed](
    name: str, parse: Callable[..., Parsed]
) -> Callable[[Callable[[Parsed], object]], View]:
    """Decorate `handler(callback) -> result` into a POST-only, CSRF-exempt webhook view."""

    def decorate(handler: Callable[[Parsed], object]) -> View:
        @csrf_exempt
        @require_POST
        @functools.wraps(handler)
        def view(request: HttpRequest) -> HttpResponse:
            if not get_carrier().validate_webhook(request):
                return HttpResponse("Invalid signature", status=403, content_type="text/plain")
            params: Mapping[str, Any] = request.POST
            try:
                callback = parse(params, session_token=str(request.GET.get(SESSION_QUERY, "")))
            except InvalidCallback as error:
                logger.warning("event=twilio_webhook_unreadable webhook=%s reason=%s", name, error)
                return HttpResponse(str(error), status=400, content_type="text/plain")
            result = handler(callback)
            logger.info("event=twilio_webhook webhook=%s result=%s", name, result)
            return HttpResponse(EMPTY_TWIML, content_type="text/xml")

        return view

    return decorate
