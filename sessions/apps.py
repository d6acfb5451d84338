from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions already owns the label "sessions".
    label = "call_sessions"
    verbose_name = "Call sessions"

    def ready(self) -> None:
        from sessions import signals, transfers, webhook_events

        # A finished call reaches the organization's webhooks as `session.completed`.
        signals.session_finished.connect(
            webhook_events.on_session_finished, dispatch_uid="webhooks.session_completed"
        )
        # A warm transfer's leg to the person does not outlive the caller's call.
        signals.session_finished.connect(
            transfers.on_session_finished, dispatch_uid="transfers.cancel_warm_leg"
        )
