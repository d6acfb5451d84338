"""Twilio's REST wire format for Calls: form-encoded requests, Twilio-shaped JSON and errors."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from . import audio, errors
from .calls import API_VERSION, CANCELED, COMPLETED, QUEUED, RINGING
from .errors import TwilioError
from .rest_params import (
    as_loggable,
    int_param,
    parse_create,
    parse_redirect,
    parse_start_recording,
    parse_time,
    text_param,
    time_matches,
)

if TYPE_CHECKING:
    from .server import TwilioSimulator

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Twilio's list filters, to the attribute they compare and how.
_TIME_FILTERS = {
    "StartTime": ("start_time", "on"),
    "StartTime>": ("start_time", "after"),
    "StartTime<": ("start_time", "before"),
    "EndTime": ("end_time", "on"),
    "EndTime>": ("end_time", "after"),
    "EndTime<": ("end_time", "before"),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, content_type="application/json")


def error_response(error: TwilioError) -> web.Response:
    response = json_response(error.body(), status=error.status)
    if error.code == errors.AUTHENTICATE:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


class RestApi:
    def __init__(self, simulator: TwilioSimulator) -> None:
        self._sim = simulator

    def routes(self) -> list[web.RouteDef]:
        base = f"/{API_VERSION}/Accounts/{{account}}"
        call = base + "/Calls/{sid:[^/.]+}.json"
        return [
            web.post(base + "/Calls.json", self._guarded(self.create_call)),
            web.get(base + "/Calls.json", self._guarded(self.list_calls)),
            web.get(call, self._guarded(self.fetch_call)),
            web.post(call, self._guarded(self.update_call)),
            web.post(
                base + "/Calls/{sid:[^/.]+}/Recordings.json",
                self._guarded(self.start_recording),
            ),
            # Twilio serves recordings without auth by default; `.wav` is the explicit form.
            web.get(base + "/Recordings/{sid:RE[0-9a-f]{32}}", self.recording),
            web.get(base + "/Recordings/{sid:RE[0-9a-f]{32}}.wav", self.recording),
        ]

    # --- plumbing --------------------------------------------------------------------------
    def _guarded(self, handler: Handler) -> Handler:
        """Authenticate, log and turn TwilioError into Twilio's JSON error answer."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            params = await request.post() if request.method == "POST" else request.query
            entry: dict[str, Any] = {
                "method": request.method,
                "path": request.path,
                "params": as_loggable(params),
            }
            self._sim.requests.append(entry)
            try:
                self._authenticate(request)
                response = await handler(request)
            except TwilioError as error:
                response = error_response(error)
            entry["status"] = response.status
            return response

        return guarded

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        username = password = ""
        if header.startswith("Basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                username, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        valid = hmac.compare_digest(username, self._sim.account_sid) and hmac.compare_digest(
            password, self._sim.auth_token
        )
        if not valid:
            raise TwilioError(401, errors.AUTHENTICATE, "Authenticate")
        if request.match_info["account"] != self._sim.account_sid:
            raise errors.not_found(request.path)

    def _call_or_404(self, request: web.Request) -> Any:
        call = self._sim.get_call(request.match_info["sid"])
        if call is None:
            raise errors.not_found(request.path)
        return call

    # --- handlers --------------------------------------------------------------------------
    async def create_call(self, request: web.Request) -> web.Response:
        failure = self._sim.faults.take_failure()
        if failure is not None:
            raise failure
        params = await request.post()
        call_request = parse_create(params)
        call = self._sim.create_call(call_request)
        call.log.add(
            "rest",
            method="POST",
            path=request.path,
            params=as_loggable(params),
            status=201,
        )
        body = call.to_json()
        stall = self._sim.faults.take_stall()
        if stall:
            # The call exists and proceeds; only the answer is late (client timeouts).
            call.log.add("rest_stalled", seconds=stall)
            await self._sim.sleep_unless_stopping(stall)
        return json_response(body, status=201)

    async def fetch_call(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        call.log.add("rest", method="GET", path=request.path, status=200)
        return json_response(call.to_json())

    async def update_call(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        params = await request.post()
        entry = call.log.add("rest", method="POST", path=request.path, params=as_loggable(params))
        if call.is_final:
            entry["status"] = 404
            # Twilio answers 404 for updates to a call that already ended.
            raise errors.not_found(request.path)
        status = text_param(params, "Status") or None
        if status is not None and status not in (COMPLETED, CANCELED):
            entry["status"] = 400
            raise TwilioError(
                400, errors.INVALID_PARAMETER, f"Status must be completed or canceled, not {status}"
            )
        redirect = parse_redirect(params)
        if status == CANCELED and call.status in (QUEUED, RINGING, "initiated"):
            call.request_end(CANCELED)
        elif status == COMPLETED:
            call.request_end(COMPLETED)
        elif status is None and redirect is not None:
            if call.answered_at is not None:
                call.request_redirect(redirect)
            elif isinstance(redirect, list):
                call.request.twiml, call.request.url = redirect, None
            else:
                call.request.twiml, call.request.url = None, redirect
        # Like Twilio, answer with the call's state after the change where it is immediate.
        if call.end_requested.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), 1.0)
        entry["status"] = 200
        return json_response(call.to_json())

    async def start_recording(self, request: web.Request) -> web.Response:
        """The Call Recordings resource: start recording a call in progress."""
        call = self._call_or_404(request)
        params = await request.post()
        entry = call.log.add("rest", method="POST", path=request.path, params=as_loggable(params))
        try:
            callback, method = parse_start_recording(params)
            self._sim.start_recording(call.sid, callback=callback, method=method)
        except TwilioError as error:
            entry["status"] = error.status
            raise
        entry["status"] = 201
        return json_response(call.recording_json(), status=201)

    async def list_calls(self, request: web.Request) -> web.Response:
        query = request.query
        calls = sorted(self._sim.calls, key=lambda call: call.date_created, reverse=True)
        for name, attribute in (("To", "to"), ("From", "from_")):
            if name in query:
                calls = [c for c in calls if getattr(c.request, attribute) == query[name]]
        if "Status" in query:
            calls = [c for c in calls if c.status == query["Status"]]
        for name, (attribute, relation) in _TIME_FILTERS.items():
            if name in query:
                bound, is_date = parse_time(name, query[name])
                calls = [
                    c
                    for c in calls
                    if time_matches(getattr(c, attribute), bound, is_date, relation)
                ]
        page_size = int_param(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = int_param(query, "Page", 0, 0, 10**6)
        start = page * page_size
        records = calls[start : start + page_size]
        path = request.path

        def page_uri(number: int) -> str:
            filters = [(k, v) for k, v in query.items() if k not in {"Page", "PageSize"}]
            filters += [("PageSize", str(page_size)), ("Page", str(number))]
            return f"{path}?{urlencode(filters)}"

        has_next = start + page_size < len(calls)
        return json_response(
            {
                "calls": [call.to_json() for call in records],
                "end": start + len(records) - 1 if records else start,
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if has_next else None,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "page": page,
                "page_size": page_size,
                "start": start,
                "uri": page_uri(page),
            }
        )

    async def recording(self, request: web.Request) -> web.Response:
        for call in self._sim.calls:
            if call.recording_sid == request.match_info["sid"] and call.recording is not None:
                return web.Response(
                    body=audio.ulaw_to_wav(bytes(call.recording)), content_type="audio/x-wav"
                )
        return error_response(errors.not_found(request.path))
