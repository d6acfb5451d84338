from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.compliance import before_dial_receiver
        from campaigns.outcomes import handle_session_finished
        from sessions import signals

        # A finished campaign call updates its contact, the counters and maybe the campaign.
        signals.session_finished.connect(
            handle_session_finished, dispatch_uid="campaigns.handle_session_finished"
        )
        # The pre-dial gate, if the sessions app offers a hook for it (see
        # campaigns.compliance.check_before_dial): sessions must not import campaigns.
        before_dial = getattr(signals, "session_before_dial", None)
        if before_dial is not None:
            before_dial.connect(before_dial_receiver, dispatch_uid="campaigns.before_dial")
