from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.dialling import callbacks, outcomes
        from sessions import signals

        # A finished campaign call updates its contact, the counters and maybe the campaign.
        signals.session_finished.connect(
            outcomes.handle_session_finished, dispatch_uid="campaigns.handle_session_finished"
        )
        # A finished callback call: opt-outs reach the do-not-call list, a new request is kept.
        signals.session_finished.connect(
            callbacks.handle_session_finished, dispatch_uid="campaigns.callbacks.session_finished"
        )
