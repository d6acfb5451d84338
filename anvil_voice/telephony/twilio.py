"""`TwilioCarrier`: the carrier protocol over the official `twilio` SDK.

Pointed at api.twilio.com, or at the Twilio simulator when `TWILIO_API_BASE_URL` is set
(`client.api.base_url`, a plain attribute of the SDK's `api` domain). Twilio's quirks stay here:
its error codes become `PlaceCallErrorKind`s, and since `calls.create` is not idempotent a
timeout or a 5xx is reported as UNKNOWN so the caller reconciles (`find_call`) before anything
else.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
import requests
from django.conf import settings
from django.http import HttpRequest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.telephony import dtmf, signatures, twiml
from anvil_voice.telephony.carrier import (
    CarrierCall,
    ColdTransfer,
    HeldElsewhere,
    OutboundCall,
    PlaceCallError,
    PlaceCallErrorKind,
    RecordingError,
    RecordingErrorKind,
    ReturnToAgent,
    StartedRecording,
    TransferError,
    WarmTransfer,
)
from anvil_voice.telephony.twilio_callbacks import call_status

logger = logging.getLogger(__name__)

TWILIO_API_URL = "https://api.twilio.com"
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Twilio says keep the ring timeout at 15 s or more (shorter ones end before voicemail).
MIN_RING_TIMEOUT_SECONDS = 15

# Twilio error codes, grouped by what we do about them.
TOO_MANY_REQUESTS = 20429  # never processed: safe to send again after a backoff
CALL_NOT_FOUND = 20404  # updating a call that already ended
# "You attempted a realtime operation on a Call that was not in-progress" (recording it).
INVALID_CALL_STATE = 21220
# The only list: the rest of the system sees PlaceCallErrorKind.INVALID_NUMBER.
INVALID_NUMBER_CODES = frozenset(
    {
        13223,  # invalid phone number format
        13224,  # invalid phone number
        21211,  # invalid 'To' phone number
        21214,  # 'To' phone number cannot be reached
        21217,  # phone number does not appear to be valid
        21401,  # invalid phone number
        21407,  # this phone number type does not support voice
    }
)
BACK_PRESSURE_CODES = frozenset(
    {
        10004,  # account concurrency limit reached
        22005,  # the account's CPS queue is full
    }
)
# The webhook URLs we give Twilio (anvil_voice/urls.py mounts sessions.carrier.urls there).
# Constants: a test resolves each one to its view.
STATUS_CALLBACK_PATH = "/telephony/twilio/status/"
AMD_CALLBACK_PATH = "/telephony/twilio/amd/"
RECORDING_CALLBACK_PATH = "/telephony/twilio/recording/"
# How many recent calls to the same number we look through when reconciling.
RECONCILE_SCAN_LIMIT = 200


def classify_rest_error(error: TwilioRestException) -> PlaceCallError:
    code = int(error.code) if error.code is not None else None
    message = f"Twilio {error.status} {code}: {error.msg}"
    carrier_code = str(code or error.status)
    if code == TOO_MANY_REQUESTS or error.status == 429:
        kind = PlaceCallErrorKind.RETRY
    elif code in INVALID_NUMBER_CODES:
        kind = PlaceCallErrorKind.INVALID_NUMBER
    elif code in BACK_PRESSURE_CODES:
        kind = PlaceCallErrorKind.BACK_PRESSURE
    elif error.status >= 500:
        # Twilio may have created the call before failing: only a lookup can tell.
        kind = PlaceCallErrorKind.UNKNOWN
    else:
        kind = PlaceCallErrorKind.PERMANENT
    return PlaceCallError(kind, message, carrier_code=carrier_code)


class TwilioCarrier:
    name = "twilio"

    def __init__(self, client: Client | None = None) -> None:
        if client is not None:
            self.__dict__["client"] = client

    @cached_property
    def client(self) -> Client:
        http_client = TwilioHttpClient(timeout=float(settings.TWILIO_HTTP_TIMEOUT_SECONDS))
        client = Client(
            str(settings.TWILIO_ACCOUNT_SID),
            str(settings.TWILIO_AUTH_TOKEN),
            http_client=http_client,
        )
        base_url = str(settings.TWILIO_API_BASE_URL)
        if base_url:
            client.api.base_url = base_url.rstrip("/")
            # TWILIO_EDGE / TWILIO_REGION would rewrite the simulator's host name.
            client.edge = None
            client.region = None
        return client

    @property
    def api_base_url(self) -> str:
        return str(settings.TWILIO_API_BASE_URL or TWILIO_API_URL).rstrip("/")

    # --- placing -------------------------------------------------------------------------
    def build_twiml(self, call: OutboundCall) -> str:
        return twiml.session_twiml(call.token)

    def call_parameters(self, call: OutboundCall) -> dict[str, Any]:
        """Everything `calls.create` receives for this call."""
        params: dict[str, Any] = {
            "to": call.to_number,
            "from_": call.from_number,
            "twiml": self.build_twiml(call),
            "status_callback": twiml.public_url(STATUS_CALLBACK_PATH, session_token=call.token),
            "status_callback_event": STATUS_CALLBACK_EVENTS,
            "status_callback_method": "POST",
            "timeout": max(MIN_RING_TIMEOUT_SECONDS, int(settings.TWILIO_CALL_TIMEOUT_SECONDS)),
            "time_limit": int(settings.TWILIO_TIME_LIMIT_SECONDS),
        }
        if settings.TWILIO_MACHINE_DETECTION:
            # DetectMessageEnd waits for the beep, so a message lands after the greeting.
            params["machine_detection"] = (
                "DetectMessageEnd" if call.leave_voicemail_message else "Enable"
            )
            # Async: the TwiML (our stream) starts at once; the verdict arrives on its own.
            params["async_amd"] = "true"
            params["async_amd_status_callback"] = twiml.public_url(
                AMD_CALLBACK_PATH, session_token=call.token
            )
        if call.record:
            params["record"] = True
            params["recording_status_callback"] = twiml.public_url(RECORDING_CALLBACK_PATH)
        return params

    def place_call(self, call: OutboundCall) -> str:
        try:
            params = self.call_parameters(call)
        except twiml.TwimlTooLong as error:
            raise PlaceCallError(PlaceCallErrorKind.PERMANENT, str(error)) from error
        try:
            created = self.client.calls.create(**params)
        except TwilioRestException as error:
            raise classify_rest_error(error) from error
        except requests.RequestException as error:
            # A timeout or a dropped connection: the call may exist. Reconcile, never resend.
            raise PlaceCallError(
                PlaceCallErrorKind.UNKNOWN,
                f"Twilio did not answer: {type(error).__name__}",
                carrier_code=type(error).__name__,
            ) from error
        except TwilioException as error:
            raise PlaceCallError(
                PlaceCallErrorKind.UNKNOWN, f"Unexpected answer from Twilio: {error}"
            ) from error
        logger.info("event=twilio_call_created session=%s call_sid=%s", call.reference, created.sid)
        return str(created.sid)

    # --- reconciliation ------------------------------------------------------------------
    def find_call(
        self, call: OutboundCall, *, held_elsewhere: HeldElsewhere | None = None
    ) -> CarrierCall | None:
        """The call `call` created, when its `calls.create` answer was lost.

        Twilio's Call resource exposes neither our TwiML nor its `<Parameter>`s, so the session
        token cannot be matched. The rule instead: among calls with the call's To and From,
        created within [placed_at - skew, placed_at + HTTP timeout + skew] (our request went out
        right after `placed_at` and Twilio creates the call when it receives it), and not
        already held by another of our calls (`held_elsewhere`), take the earliest. Calls are
        filtered by `date_created`, not `StartTime`: a call waiting in Twilio's CPS queue has no
        start time yet and would be missed.
        """
        if call.placed_at is None:
            return None
        skew = timedelta(seconds=int(settings.TWILIO_RECONCILE_SKEW_SECONDS))
        earliest = call.placed_at - skew
        latest = (
            call.placed_at + timedelta(seconds=float(settings.TWILIO_HTTP_TIMEOUT_SECONDS)) + skew
        )
        candidates: list[CarrierCall] = []
        created: dict[str, datetime] = {}
        try:
            # Newest first: stop reading once we are past the window.
            for resource in self.client.calls.stream(
                to=call.to_number,
                from_=call.from_number,
                page_size=50,
                limit=RECONCILE_SCAN_LIMIT,
            ):
                date_created = resource.date_created
                if date_created is None:
                    continue
                if date_created < earliest:
                    break
                if date_created <= latest:
                    candidates.append(_carrier_call(resource))
                    created[str(resource.sid)] = date_created
        except TwilioRestException as error:
            raise classify_rest_error(error) from error
        except (requests.RequestException, TwilioException) as error:
            raise PlaceCallError(
                PlaceCallErrorKind.UNKNOWN, f"Twilio lookup failed: {type(error).__name__}"
            ) from error
        if not candidates:
            return None
        held = (
            set(held_elsewhere([found.call_sid for found in candidates]))
            if held_elsewhere
            else set()
        )
        free = [found for found in candidates if found.call_sid not in held]
        if not free:
            return None
        return min(free, key=lambda found: (created[found.call_sid], found.call_sid))

    # --- ending --------------------------------------------------------------------------
    def hang_up(self, call: OutboundCall) -> None:
        self._end(call, "completed")

    def cancel(self, call: OutboundCall) -> None:
        self._end(call, "canceled")

    def _end(self, call: OutboundCall, status: str) -> None:
        if not call.call_sid:
            logger.info("event=twilio_end_skipped session=%s reason=no_call_sid", call.reference)
            return
        try:
            self.client.calls(call.call_sid).update(status=status)
        except TwilioRestException as error:
            if error.code == CALL_NOT_FOUND or error.status == 404:
                # The call already ended: that is what we wanted.
                return
            raise

    # --- transfers ---------------------------------------------------------------------------
    def transfer_cold(self, call: OutboundCall, transfer: ColdTransfer) -> None:
        # "Modify a live call" with new TwiML: the `<Connect><Stream>` ends (the stream's
        # `stop`) and the `<Dial>` runs; its `action` hears how the leg went.
        document = twiml.dial_twiml(
            target=transfer.target,
            caller_id=transfer.caller_id,
            timeout_seconds=transfer.timeout_seconds,
            action_url=transfer.action_url,
            briefing_url=transfer.briefing_url,
        )
        if not call.call_sid:
            raise TransferError("The call has no carrier id yet.", call_ended=True)
        self._update_for_transfer(call, document)

    def transfer_warm(self, call: OutboundCall, transfer: WarmTransfer) -> str:
        # The caller first: on hold in the conference (our stream ends, as for a cold
        # transfer). Then the person's leg, a call of its own (Calls API): its TwiML (the
        # briefing, then the conference) runs when they answer, and its status callbacks tell
        # us ringing / answered / completed or why it never was.
        if not call.call_sid:
            raise TransferError("The call has no carrier id yet.", call_ended=True)
        document = twiml.conference_wait_twiml(
            conference=transfer.conference, hold_url=transfer.hold_url, line=transfer.hold_line
        )
        self._update_for_transfer(call, document)
        try:
            created = self.client.calls.create(
                to=transfer.target,
                from_=transfer.caller_id,
                url=transfer.briefing_url,
                method="POST",
                timeout=transfer.timeout_seconds,
                status_callback=transfer.leg_status_url,
                status_callback_event=STATUS_CALLBACK_EVENTS,
                status_callback_method="POST",
            )
        except TwilioRestException as error:
            raise TransferError(str(error.msg), carrier_code=str(error.code or "")) from error
        except (TwilioException, requests.RequestException) as error:
            raise TransferError(str(error)) from error
        logger.info(
            "event=twilio_transfer_leg_created session=%s leg_sid=%s", call.reference, created.sid
        )
        return str(created.sid)

    def return_to_stream(self, call: OutboundCall, back: ReturnToAgent) -> None:
        # A new `<Connect><Stream>` to the same session's stream URL: the call leaves the
        # conference (which ends: `endConferenceOnExit`) and the agent speaks again.
        document = twiml.connect_stream_twiml(
            stream_url=twiml.media_stream_url(call.token),
            parameters={twiml.SESSION_PARAMETER: call.token, **back.parameters},
        )
        if not call.call_sid:
            raise TransferError("The call has no carrier id yet.", call_ended=True)
        self._update_for_transfer(call, document)

    def cancel_leg(self, leg_sid: str) -> None:
        if not leg_sid:
            return
        # Twilio's `canceled` ends a queued or ringing call and leaves an answered one alone;
        # `completed` hangs up an answered one. We may not know which the leg is: ask for both,
        # the second finding the call gone (404) when the first ended it.
        for status in ("canceled", "completed"):
            try:
                self.client.calls(leg_sid).update(status=status)
            except TwilioRestException as error:
                if error.code == CALL_NOT_FOUND or error.status == 404:
                    return
                raise

    def _update_for_transfer(self, call: OutboundCall, document: str) -> None:
        try:
            self.client.calls(call.call_sid).update(twiml=document)
        except TwilioRestException as error:
            ended = error.code == CALL_NOT_FOUND or error.status == 404
            raise TransferError(
                str(error.msg), carrier_code=str(error.code or ""), call_ended=ended
            ) from error
        except (TwilioException, requests.RequestException) as error:
            raise TransferError(str(error)) from error

    def end_with_message(self, call: OutboundCall, text: str) -> None:
        if not call.call_sid:
            return
        try:
            self.client.calls(call.call_sid).update(twiml=twiml.say_and_hang_up_twiml(text))
        except TwilioRestException as error:
            if error.code == CALL_NOT_FOUND or error.status == 404:
                return  # the caller already left
            raise

    # --- recording a live call ------------------------------------------------------------
    def start_recording(self, call: OutboundCall) -> StartedRecording:
        """Twilio's Call Recordings resource (`POST /Calls/{Sid}/Recordings.json`): records
        from now on, both tracks mixed into one channel like `Record=true` does, and posts the
        same recording status callback when the recording is ready."""
        if not call.call_sid:
            raise RecordingError(RecordingErrorKind.CALL_NOT_IN_PROGRESS, "no call id yet")
        try:
            created = self.client.calls(call.call_sid).recordings.create(
                recording_status_callback=twiml.public_url(RECORDING_CALLBACK_PATH),
                recording_status_callback_event=["completed"],
                recording_status_callback_method="POST",
                recording_channels="mono",
                recording_track="both",
            )
        except TwilioRestException as error:
            code = int(error.code) if error.code is not None else None
            gone = code in (INVALID_CALL_STATE, CALL_NOT_FOUND) or error.status == 404
            raise RecordingError(
                RecordingErrorKind.CALL_NOT_IN_PROGRESS if gone else RecordingErrorKind.FAILED,
                f"Twilio {error.status} {code}: {error.msg}",
                carrier_code=str(code or error.status),
            ) from error
        except (requests.RequestException, TwilioException) as error:
            raise RecordingError(
                RecordingErrorKind.FAILED,
                f"Twilio did not answer: {type(error).__name__}",
                carrier_code=type(error).__name__,
            ) from error
        logger.info(
            "event=twilio_recording_started session=%s call_sid=%s recording_sid=%s",
            call.reference,
            call.call_sid,
            created.sid,
        )
        return StartedRecording(recording_sid=str(created.sid), started_at=created.start_time)

    # --- signatures ----------------------------------------------------------------------
    def send_digits(self, call: dtmf.LiveStream, digits: str) -> int:
        # In-band tones in the call's own Media Stream. Twilio's `<Play digits>` needs a call
        # update with new TwiML, which ends the `<Connect><Stream>` the agent talks on, and a
        # stream has no message that sends a digit (docs/decisions.md, "The keypad").
        return dtmf.send_digits_in_band(call, digits)

    def validate_webhook(self, request: HttpRequest) -> bool:
        return signatures.webhook_is_valid(request)

    def validate_stream_handshake(self, scope: dict[str, Any]) -> bool:
        return signatures.stream_handshake_is_valid(scope)

    # --- recordings ----------------------------------------------------------------------
    def download_recording(self, url: str) -> bytes:
        """The recording's audio (WAV). Only from our Twilio API host: it gets our credentials."""
        if not url.startswith(self.api_base_url + "/"):
            raise ValueError("recording URL is not on the Twilio API host")
        response = httpx.get(
            url,
            auth=(str(settings.TWILIO_ACCOUNT_SID), str(settings.TWILIO_AUTH_TOKEN)),
            timeout=float(settings.TWILIO_HTTP_TIMEOUT_SECONDS) * 3,
            follow_redirects=True,
        )
        response.raise_for_status()
        return response.content


def _carrier_call(resource: Any) -> CarrierCall:
    return CarrierCall(
        call_sid=str(resource.sid),
        status=call_status(str(resource.status)),
        to=str(resource.to),
        from_=str(resource._from),
        carrier_status=str(resource.status),
    )
