from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "anvil_voice.webhooks"
    label = "webhooks"
    verbose_name = "Customer webhooks"

    def ready(self) -> None:
        from anvil_voice.webhooks import receivers
        from sessions.signals import session_finished

        session_finished.connect(
            receivers.on_session_finished, dispatch_uid="webhooks.session_completed"
        )
