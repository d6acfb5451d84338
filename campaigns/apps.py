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
        # The pre-dial gate (campaigns.compliance.check_before_dial), run by placement right
        # before the carrier dials; a signal because sessions must not import campaigns.
        signals.session_before_dial.connect(
            before_dial_receiver, dispatch_uid="campaigns.before_dial"
        )
