"""Twilio's webhooks: plain Django views, outside the API (no envelope, no rate limit)."""

from django.urls import path

from anvil_voice.telephony import webhooks

app_name = "telephony"

urlpatterns = [
    path("twilio/status/", webhooks.status_callback, name="twilio-status"),
    path("twilio/amd/", webhooks.amd_callback, name="twilio-amd"),
    path("twilio/recording/", webhooks.recording_callback, name="twilio-recording"),
]
