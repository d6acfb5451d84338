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
from typing import TYPE_CHECKING, Any

import httpx
import requests
from django.conf import settings
from django.http import HttpRequest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.telephony import signatures, twiml
from anvil_voice.telephony.carrier import CarrierCall, PlaceCallError, PlaceCallErrorKind

if TYPE_CHECKING:
    from sessions.models import CallSession

logger = logging.getLogger(__name__)

TWILIO_API_URL = "https://api.twilio.com"
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Twilio says keep the ring timeout at 15 s or more (shorter ones end before voicemail).
MIN_RING_TIMEOUT_SECONDS = 15
# `campaigns.VoicemailBehaviour.LEAVE_MESSAGE`; telephony never imports the resource apps.
LEAVE_MESSAGE = "leave_message"

# Twilio error codes, grouped by what we do about them.
TOO_MANY_REQUESTS = 20429  # never processed: safe to send again after a backoff
CALL_NOT_FOUND = 20404  # updating a call that already ended
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
# The webhook URLs we give Twilio (anvil_voice/urls.py mounts telephony.urls at /telephony/).
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
    def build_twiml(self, session: CallSession) -> str:
        return twiml.session_twiml(session.token)

    def call_parameters(self, session: CallSession) -> dict[str, Any]:
        """Everything `calls.create` receives for this session."""
        # Test calls have no campaign: no recording, hang up on machines.
        campaign = session.campaign
        params: dict[str, Any] = {
            "to": session.to_number,
            "from_": session.from_number,
            "twiml": self.build_twiml(session),
            "status_callback": twiml.public_url(STATUS_CALLBACK_PATH, session_token=session.token),
            "status_callback_event": STATUS_CALLBACK_EVENTS,
            "status_callback_method": "POST",
            "timeout": max(MIN_RING_TIMEOUT_SECONDS, int(settings.TWILIO_CALL_TIMEOUT_SECONDS)),
            "time_limit": int(settings.TWILIO_TIME_LIMIT_SECONDS),
        }
        if settings.TWILIO_MACHINE_DETECTION:
            leaves_message = campaign is not None and (
                campaign.voicemail_behaviour == LEAVE_MESSAGE
            )
            # DetectMessageEnd waits for the beep, so a message lands after the greeting.
            params["machine_detection"] = "DetectMessageEnd" if leaves_message else "Enable"
            # Async: the TwiML (our stream) starts at once; the verdict arrives on its own.
            params["async_amd"] = "true"
            params["async_amd_status_callback"] = twiml.public_url(
                AMD_CALLBACK_PATH, session_token=session.token
            )
        if campaign is not None and campaign.record_calls:
            params["record"] = True
            params["recording_status_callback"] = twiml.public_url(RECORDING_CALLBACK_PATH)
        return params

    def place_call(self, session: CallSession) -> str:
        try:
            params = self.call_parameters(session)
        except twiml.TwimlTooLong as error:
            raise PlaceCallError(PlaceCallErrorKind.PERMANENT, str(error)) from error
        try:
            call = self.client.calls.create(**params)
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
        logger.info("event=twilio_call_created session=%s call_sid=%s", session.pk, call.sid)
        return str(call.sid)

    # --- reconciliation ------------------------------------------------------------------
    def find_call(self, session: CallSession) -> CarrierCall | None:
        """The call `session` created, when its `calls.create` answer was lost.

        Twilio's Call resource exposes neither our TwiML nor its `<Parameter>`s, so the session
        token cannot be matched. The rule instead: among calls with the session's To and From,
        created within [placed_at - skew, placed_at + HTTP timeout + skew] (our request went out
        right after `placed_at` and Twilio creates the call when it receives it), and not
        already held by another session, take the earliest. Calls are filtered by
        `date_created`, not `StartTime`: a call waiting in Twilio's CPS queue has no start time
        yet and would be missed.
        """
        if session.placed_at is None:
            return None
        skew = timedelta(seconds=int(settings.TWILIO_RECONCILE_SKEW_SECONDS))
        earliest = session.placed_at - skew
        latest = (
            session.placed_at
            + timedelta(seconds=float(settings.TWILIO_HTTP_TIMEOUT_SECONDS))
            + skew
        )
        candidates: list[CarrierCall] = []
        created: dict[str, datetime] = {}
        try:
            # Newest first: stop reading once we are past the window.
            for call in self.client.calls.stream(
                to=session.to_number,
                from_=session.from_number,
                page_size=50,
                limit=RECONCILE_SCAN_LIMIT,
            ):
                date_created = call.date_created
                if date_created is None:
                    continue
                if date_created < earliest:
                    break
                if date_created <= latest:
                    candidates.append(_carrier_call(call))
                    created[str(call.sid)] = date_created
        except TwilioRestException as error:
            raise classify_rest_error(error) from error
        except (requests.RequestException, TwilioException) as error:
            raise PlaceCallError(
                PlaceCallErrorKind.UNKNOWN, f"Twilio lookup failed: {type(error).__name__}"
            ) from error
        if not candidates:
            return None
        held = _sids_held_by_other_sessions(session, [call.call_sid for call in candidates])
        free = [call for call in candidates if call.call_sid not in held]
        if not free:
            return None
        return min(free, key=lambda call: (created[call.call_sid], call.call_sid))

    # --- ending --------------------------------------------------------------------------
    def hang_up(self, session: CallSession) -> None:
        self._end(session, "completed")

    def cancel(self, session: CallSession) -> None:
        self._end(session, "canceled")

    def _end(self, session: CallSession, status: str) -> None:
        if not session.carrier_call_sid:
            logger.info("event=twilio_end_skipped session=%s reason=no_call_sid", session.pk)
            return
        try:
            self.client.calls(session.carrier_call_sid).update(status=status)
        except TwilioRestException as error:
            if error.code == CALL_NOT_FOUND or error.status == 404:
                # The call already ended: that is what we wanted.
                return
            raise

    # --- signatures ----------------------------------------------------------------------
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


def _carrier_call(call: Any) -> CarrierCall:
    return CarrierCall(
        call_sid=str(call.sid),
        status=str(call.status),
        to=str(call.to),
        from_=str(call._from),
    )


def _sids_held_by_other_sessions(session: CallSession, sids: list[str]) -> set[str]:
    from sessions.models import CallSession

    held = (
        CallSession.objects.filter(carrier_call_sid__in=sids)
        .exclude(pk=session.pk)
        .values_list("carrier_call_sid", flat=True)
    )
    return {sid for sid in held if sid}
