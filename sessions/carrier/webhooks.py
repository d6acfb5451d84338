"""Twilio's webhooks applied to sessions: status callbacks, async AMD verdicts, recordings.

Signature checks, form parsing and the answers Twilio gets are telephony's
(`anvil_voice.telephony.webhooks.carrier_webhook`, `twilio_callbacks`); applying the
carrier-neutral callbacks (idempotency, ordering, events) is `sessions.carrier.status`'s. The
URLs are wired in `sessions.carrier.urls` under `/telephony/`, where the Twilio adapter points
them.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from anvil_voice.telephony import twilio_callbacks
from anvil_voice.telephony.callbacks import AmdCallback, RecordingCallback, StatusCallback
from anvil_voice.telephony.carrier import get_carrier
from anvil_voice.telephony.hold_audio import hold_audio_wav
from anvil_voice.telephony.twiml import SESSION_QUERY
from anvil_voice.telephony.webhooks import carrier_webhook
from sessions import transfers
from sessions.carrier import status


@carrier_webhook("status", twilio_callbacks.parse_status_callback)
def status_callback(callback: StatusCallback) -> status.ApplyResult:
    return status.session_apply_status_callback(callback=callback)


@carrier_webhook("amd", twilio_callbacks.parse_amd_callback)
def amd_callback(callback: AmdCallback) -> status.ApplyResult:
    return status.session_apply_amd_result(callback=callback)


@carrier_webhook("recording", twilio_callbacks.parse_recording_callback)
def recording_callback(callback: RecordingCallback) -> status.ApplyResult:
    return status.session_apply_recording_callback(callback=callback)


@csrf_exempt
@require_POST
def transfer_action(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """The `<Dial action>` of a transfer: how the person's leg ended. Unlike the other
    webhooks its answer matters: it is the TwiML the caller hears next (`sessions.transfers`)."""
    if not get_carrier().validate_webhook(request):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    result = transfers.DialResult(
        status=str(request.POST.get("DialCallStatus", "")),
        duration_seconds=transfers.talk_seconds_of(request.POST.get("DialCallDuration")),
        leg_sid=str(request.POST.get("DialCallSid", "")),
    )
    twiml = transfers.session_transfer_dial_result(
        transfer_id=transfer_id,
        session_token=str(request.GET.get(SESSION_QUERY, "")),
        result=result,
    )
    return HttpResponse(twiml, content_type="text/xml")


@csrf_exempt
@require_POST
def transfer_briefing(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """A warm transfer's `<Number url>`: the person answered; the TwiML is their briefing."""
    if not get_carrier().validate_webhook(request):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    twiml = transfers.session_transfer_answered(
        transfer_id=transfer_id, session_token=str(request.GET.get(SESSION_QUERY, ""))
    )
    return HttpResponse(twiml, content_type="text/xml")


def _signed_or_403(request: HttpRequest) -> HttpResponse | None:
    if not get_carrier().validate_webhook(request):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    return None


@csrf_exempt
@require_POST
def transfer_hold(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """A warm transfer's conference `waitUrl`: the TwiML the waiting caller hears (hold audio)."""
    if refused := _signed_or_403(request):
        return refused
    twiml = transfers.transfer_hold_twiml(
        transfer_id=transfer_id, session_token=str(request.GET.get(SESSION_QUERY, ""))
    )
    return HttpResponse(twiml, content_type="text/xml")


@csrf_exempt
@require_POST
def transfer_leg_status(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """Status callbacks of a warm transfer's leg to the person (a call of its own)."""
    if refused := _signed_or_403(request):
        return refused
    sequence = str(request.POST.get("SequenceNumber", ""))
    transfers.session_transfer_leg_status(
        transfer_id=transfer_id,
        session_token=str(request.GET.get(SESSION_QUERY, "")),
        leg=transfers.LegStatus(
            status=str(request.POST.get("CallStatus", "")),
            leg_sid=str(request.POST.get("CallSid", "")),
            sequence=int(sequence) if sequence.isdigit() else None,
            duration_seconds=transfers.talk_seconds_of(request.POST.get("CallDuration")),
        ),
    )
    return HttpResponse(status=204)


@require_GET
def hold_audio(request: HttpRequest) -> HttpResponse:
    """The hold audio (a generated WAV, the same for everyone: no secret, so not signed;
    Twilio fetches a `<Play>` URL with a plain GET and caches it)."""
    response = HttpResponse(hold_audio_wav(), content_type="audio/wav")
    response["Cache-Control"] = "public, max-age=86400"
    return response
