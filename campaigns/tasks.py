"""Celery entry points for the dialler: thin wrappers around services, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="campaigns.tasks.dispatch_campaigns", ignore_result=True)
def dispatch_campaigns() -> int:
    """The beat tick (every second): claim due contacts of every running campaign."""
    from campaigns.dialling.dispatch import dispatch_due

    return dispatch_due()


@shared_task(name="campaigns.tasks.cancel_campaign_calls", ignore_result=True)
def cancel_campaign_calls(campaign_id: int) -> int:
    """After a stop: cancel the campaign's queued and ringing calls at the carrier."""
    from campaigns.services import campaign_cancel_calls

    return campaign_cancel_calls(campaign_id=campaign_id)


@shared_task(name="campaigns.tasks.apply_missed_outcomes", ignore_result=True)
def apply_missed_outcomes() -> int:
    """Beat sweep (every minute): finished campaign calls whose outcome was never applied."""
    from campaigns.dialling.outcomes import apply_missed_outcomes as sweep

    return sweep()


@shared_task(name="campaigns.tasks.run_rehearsal", ignore_result=True)
def run_rehearsal(rehearsal_id: int) -> bool:
    """Run a queued campaign rehearsal on the simulated clock (issue 19): seconds, no calls."""
    from campaigns.rehearsal.services import rehearsal_run

    return rehearsal_run(rehearsal_id=rehearsal_id)
