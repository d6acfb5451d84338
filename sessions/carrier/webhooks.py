"""Twilio's webhooks applied to sessions: status callbacks, async AMD verdicts, recordings.

Signature checks, form parsing and the answers Twilio gets are telephony's
(`anvil_voice.telephony.webhooks.carrier_webhook`, `twilio_callbacks`); applying the
carrier-neutral callbacks (idempotency, ordering, events) is `sessions.carrier.status`'s. The
URLs are wired in `sessions.carrier.urls` under `/telephony/`, where the Twilio adapter points
them.
"""

from __future__ import annotations

from anvil_voice.telephony import twilio_callbacks
from anvil_voice.telephony.callbacks import AmdCallback, RecordingCallback, StatusCallback
from anvil_voice.telephony.webhooks import carrier_webhook
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
