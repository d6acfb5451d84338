"""Signed webhooks: status callbacks, async AMD, recording status, and TwiML `Url` fetches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from .calls import API_VERSION, SimulatedCall, rfc2822
from .log import CallLog

# Twilio gives a webhook 15 s before it logs error 11205 and moves on.
WEBHOOK_TIMEOUT_SECONDS = 15.0


class UrlRewriter:
    """Maps public URLs (as written in our TwiML and callbacks) to where they really listen.

    Signatures are always computed over the URL as written: that is what our server validates
    against, since behind a proxy it only knows its public URL.
    """

    def __init__(self, rules: Sequence[tuple[str, str]] = ()) -> None:
        self._rules = list(rules)

    def __call__(self, url: str) -> str:
        for public, local in self._rules:
            if url.startswith(public):
                return local + url[len(public) :]
        return url


class Webhooks:
    def __init__(
        self, session: aiohttp.ClientSession, auth_token: str, rewrite: UrlRewriter
    ) -> None:
        self._session = session
        self._validator = RequestValidator(auth_token)
        self._rewrite = rewrite

    async def send(
        self, url: str, params: dict[str, str], *, method: str = "POST"
    ) -> tuple[int | None, str]:
        """Deliver a signed webhook: (HTTP status or None on a network error, body or error)."""
        if method.upper() == "GET":
            # Twilio signs a GET over the full URL with its query string and no body params.
            separator = "&" if "?" in url else "?"
            url, body = url + separator + urlencode(params), None
            signature = self._validator.compute_signature(url, {})
        else:
            body = params
            signature = self._validator.compute_signature(url, params)
        try:
            async with self._session.request(
                method.upper(),
                self._rewrite(url),
                data=body,
                headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS),
            ) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            return None, f"{type(error).__name__}: {error}"

    async def send_logged(
        self,
        log: CallLog,
        kind: str,
        url: str,
        params: dict[str, str],
        *,
        method: str = "POST",
        event: str | None = None,
    ) -> tuple[int | None, str]:
        status, body = await self.send(url, params, method=method)
        fields: dict[str, object] = {"url": url, "params": params, "http_status": status}
        if event is not None:
            fields["event"] = event
        if status is None:
            fields["error"] = body
        log.add(kind, **fields)
        return status, body


def call_params(call: SimulatedCall) -> dict[str, str]:
    """The parameters Twilio sends about a call on every call webhook."""
    request = call.request
    params = {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": call.status,
        "Called": request.to,
        "Caller": request.from_,
        "Direction": "outbound-api",
        "From": request.from_,
        "To": request.to,
    }
    if call.answered_by is not None:
        params["AnsweredBy"] = call.answered_by
    return params


class StatusCallbacks:
    """One call's status callbacks, delivered one after another in Twilio's order."""

    def __init__(self, webhooks: Webhooks, call: SimulatedCall) -> None:
        self._webhooks = webhooks
        self._call = call
        self._sequence = 0
        self._queue: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def event(self, event: str, extra: dict[str, str] | None = None) -> None:
        """Queue the callback for `event` if the call asked for it (`completed` always)."""
        request = self._call.request
        if not request.status_callback:
            return
        if event != "completed" and event not in request.status_callback_events:
            return
        params = call_params(self._call)
        params.update(
            CallbackSource="call-progress-events",
            SequenceNumber=str(self._sequence),
            Timestamp=rfc2822(datetime.now(UTC)) or "",
        )
        params.update(extra or {})
        self._sequence += 1
        self._queue.put_nowait((event, params))
        if self._worker is None:
            self._worker = asyncio.create_task(self._deliver(), name=f"callbacks-{self._call.sid}")

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) until every queued callback has been delivered or has failed."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)

    async def _deliver(self) -> None:
        request = self._call.request
        assert request.status_callback is not None
        while True:
            event, params = await self._queue.get()
            try:
                await self._webhooks.send_logged(
                    self._call.log,
                    "callback",
                    request.status_callback,
                    params,
                    method=request.status_callback_method,
                    event=event,
                )
            finally:
                self._queue.task_done()
