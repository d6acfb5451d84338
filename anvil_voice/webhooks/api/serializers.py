from __future__ import annotations

from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseModelSerializer
from anvil_voice.webhooks.models import WebhookEndpoint, WebhookEvent


class WebhookEndpointSerializer(CamelCaseModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), allow_empty=False
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The create answer: the only time the signing secret is shown."""

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookEndpointSerializer.Meta.read_only_fields, "secret"]
