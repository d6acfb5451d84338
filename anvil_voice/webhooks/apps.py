from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "anvil_voice.webhooks"
    label = "webhooks"
    verbose_name = "Customer webhooks"
