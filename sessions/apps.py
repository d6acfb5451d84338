from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions already owns the label "sessions".
    label = "call_sessions"
    verbose_name = "Call sessions"

    def ready(self) -> None:
        from sessions import signals, webhook_events

        # A finished call reaches the organization's webhooks as `session.completed`.
        signals.session_finished.connect(
            webhook_events.on_session_finished, dispatch_uid="webhooks.session_completed"
        )
