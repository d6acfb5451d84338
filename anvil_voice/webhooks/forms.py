"""The admin's webhook endpoint form: the API's checks, from the same service function."""

from __future__ import annotations

from typing import Any

from django import forms

from anvil_voice.webhooks.models import WebhookEndpoint
from anvil_voice.webhooks.services import webhook_endpoint_errors


class WebhookEndpointForm(forms.ModelForm):
    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "url", "description", "events", "active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "url" in cleaned and "events" in cleaned:
            # A field that failed its own parsing (not a URL, not JSON) is already reported.
            errors = webhook_endpoint_errors(url=cleaned["url"], events=cleaned["events"])
            for field, messages in errors.items():
                for message in messages:
                    self.add_error(field, message)
            if not errors:
                cleaned["events"] = sorted(set(cleaned["events"]))
        return cleaned
