from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions already owns the label "sessions".
    label = "call_sessions"
    verbose_name = "Call sessions"

    def ready(self) -> None:
        from sessions import signals
        from sessions.callbacks import handle_session_finished

        # A finished callback call: opt-outs reach the do-not-call list, a new request is kept.
        signals.session_finished.connect(
            handle_session_finished, dispatch_uid="sessions.callbacks.session_finished"
        )
