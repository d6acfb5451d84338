"""End to end on the Twilio simulator: a small campaign running a two-arm script experiment
completes, every call records its arm (and that arm's script version and voice), and the
results endpoint reads them back.

The speech pipeline is off (`CALL_PIPELINE=False`): the carrier's side (placement through the
real SDK, signed status and AMD callbacks, the media stream) is what is under test here, with
`completed` (a person answered and the call ended normally) as the success outcome. The
conversation outcomes the pipeline adds are the same columns, tested with the bandit's
arithmetic from stored sessions in `test_campaigns_experiments.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import time_machine

from campaigns import services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import CampaignContact, CampaignStatus
from scripts.factories import ScriptFactory
from sessions.models import CallEvent, CallSession
from tests.anvil_voice.telephony.test_carrier_harness import (
    AsgiServer,
    SimulatorThread,
    number,
    point_settings_at,
    wait_for,
)
from tests.campaigns.conftest import TUESDAY_MORNING_NY
from tests.sessions.live_call_support import persona_campaign

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 60.0
# interested, objection-then-interested, not-interested, callback-request: all answer;
# busy and failed never do.
PEOPLE = {"04": "Ivy", "05": "Olga", "06": "Nick", "07": "Cal", "01": "Bianca", "02": "Fred"}


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture(scope="module")
def simulator(asgi_server: AsgiServer) -> Iterator[SimulatorThread]:
    with SimulatorThread(url_rewrites=[asgi_server.stream_rewrite]) as simulator:
        yield simulator


def test_a_two_arm_campaign_completes_and_every_session_records_its_arm(
    settings, simulator, asgi_server, owner
):
    point_settings_at(settings, simulator, asgi_server.url)
    settings.CALL_PIPELINE = False
    acme = owner.organization
    campaign = persona_campaign(
        acme, PEOPLE, max_concurrent_calls=6, calls_per_second=10, max_attempts=1
    )
    other = ScriptFactory(organization=acme, name="Shorter opening")
    created = owner.client.post(
        f"/api/v1/voice/campaigns/{campaign.pk}/experiment",
        {
            "successOutcome": "completed",
            "minConversations": 5,
            "seed": 7,
            "arms": [
                {"label": "Control", "scriptId": campaign.script_id},
                {"label": "Short", "scriptId": other.pk},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()

    with time_machine.travel(TUESDAY_MORNING_NY, tick=True):
        services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))

        def finished() -> bool:
            time.sleep(0.2)
            dispatch_due()
            campaign.refresh_from_db()
            return campaign.status == CampaignStatus.COMPLETED

        wait_for(finished, WAIT, "the campaign to complete")

    # The streams' last events land before the test database is flushed (a flush racing a row
    # lock in the server thread deadlocks on PostgreSQL).
    streamed = CallEvent.objects.filter(session__campaign=campaign, kind="stream_started")
    wait_for(
        lambda: (
            CallEvent.objects.filter(session__campaign=campaign, kind="stream_stopped").count()
            == streamed.count()
        ),
        WAIT,
        "every media stream to stop",
    )

    arms = {arm.pk: arm for arm in campaign.experiment.arms.all()}
    sessions = list(CallSession.objects.filter(campaign=campaign).order_by("id"))
    assert len(sessions) == len(PEOPLE)
    assert not CampaignContact.objects.filter(campaign=campaign, state="pending").exists()
    # The burn-in splits evenly, in claim order; each call used its arm's version and voice.
    assert [arms[s.experiment_arm_id].label for s in sessions] == ["Control", "Short"] * 3
    for session in sessions:
        arm = arms[session.experiment_arm_id]
        assert (session.script_version_id, session.voice_id) == (
            arm.script_version_id,
            arm.voice_id,
        )
    outcomes = {s.to_number: s.outcome for s in sessions}
    assert outcomes[number("01", "212")] == "busy"
    assert outcomes[number("04", "212")] == "completed"

    results = owner.client.get(f"/api/v1/voice/campaigns/{campaign.pk}/experiment/results").json()[
        "data"
    ]
    by_label = {arm["label"]: arm for arm in results["arms"]}
    assert sum(arm["calls"] for arm in by_label.values()) == 6
    assert sum(arm["finished"] for arm in by_label.values()) == 6
    answered = [s for s in sessions if s.answered_at is not None]
    assert sum(arm["conversations"] for arm in by_label.values()) == len(answered) == 4
    assert sum(arm["successes"] for arm in by_label.values()) == 4
    assert all(arm["probabilityBest"] is not None for arm in by_label.values())
