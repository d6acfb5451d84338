"""Twilio's webhooks: plain Django views, outside the API (no envelope, no rate limit).

Mounted at `/telephony/` by `anvil_voice/urls.py`; the Twilio adapter builds its callback URLs
from the same paths (`anvil_voice.telephony.twilio.*_CALLBACK_PATH`).
"""

from django.urls import path

from sessions.carrier import webhooks as carrier_webhooks

app_name = "telephony"

urlpatterns = [
    path("twilio/status/", carrier_webhooks.status_callback, name="twilio-status"),
    path("twilio/amd/", carrier_webhooks.amd_callback, name="twilio-amd"),
    path("twilio/recording/", carrier_webhooks.recording_callback, name="twilio-recording"),
    path(
        "twilio/transfer/<int:transfer_id>/",
        carrier_webhooks.transfer_action,
        name="twilio-transfer",
    ),
    path(
        "twilio/transfer/<int:transfer_id>/briefing/",
        carrier_webhooks.transfer_briefing,
        name="twilio-transfer-briefing",
    ),
    path(
        "twilio/transfer/<int:transfer_id>/hold/",
        carrier_webhooks.transfer_hold,
        name="twilio-transfer-hold",
    ),
    path(
        "twilio/transfer/<int:transfer_id>/leg/",
        carrier_webhooks.transfer_leg_status,
        name="twilio-transfer-leg",
    ),
    path("twilio/hold-audio.wav", carrier_webhooks.hold_audio, name="twilio-hold-audio"),
]
