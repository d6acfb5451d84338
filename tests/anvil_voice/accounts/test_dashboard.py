"""The admin landing page: active campaigns with progress, today's calls, outcomes, live count."""

from __future__ import annotations

from django.utils import timezone

from campaigns.factories import CampaignFactory
from campaigns.models import CampaignStatus
from sessions.factories import CallSessionFactory
from sessions.models import CallStatus, Outcome


def test_it_shows_the_members_campaigns_calls_and_outcomes(client, owner, outsider):
    campaign = CampaignFactory(
        organization=owner.organization, name="Spring solar", status=CampaignStatus.RUNNING
    )
    campaign.stats.contacts_total = 4
    campaign.stats.completed = 1
    campaign.stats.save()
    CampaignFactory(
        organization=outsider.organization, name="Hidden", status=CampaignStatus.RUNNING
    )
    now = timezone.now()
    for outcome in (Outcome.INTERESTED, Outcome.INTERESTED, Outcome.NO_ANSWER):
        CallSessionFactory(
            organization=owner.organization,
            campaign=campaign,
            placed_at=now,
            answered_at=now if outcome != Outcome.NO_ANSWER else None,
            outcome=outcome,
        )
    CallSessionFactory(
        organization=owner.organization, placed_at=now, status=CallStatus.IN_PROGRESS
    )
    CallSessionFactory(organization=outsider.organization, placed_at=now, outcome=Outcome.BUSY)
    user = owner.membership.user
    user.is_staff = True
    user.save()
    client.force_login(user)

    content = client.get("/admin/").content.decode()

    assert "Spring solar" in content
    assert "Hidden" not in content
    assert 'title="25.0%"' in content  # 1 of 4 contacts finished
    assert '<div class="value" id="calls-today">4</div>' in content
    assert '<div class="value" id="answer-rate">66.7%</div>' in content
    assert '<div class="value" id="live-calls-count">1</div>' in content
    assert 'data-key="interested"' in content  # the outcome chart (SVG)
    assert 'data-key="busy"' not in content
