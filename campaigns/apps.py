from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.outcomes import handle_session_finished
        from sessions.signals import session_finished

        # A finished campaign call updates its contact, the counters and maybe the campaign.
        session_finished.connect(
            handle_session_finished, dispatch_uid="campaigns.handle_session_finished"
        )
