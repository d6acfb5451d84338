"""Script experiments: the API, the dialler's arm choice, results from sessions, guardrails,
the winner and its promotion."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from campaigns import experiments, services
from campaigns.dialling.dispatch import dispatch_due
from campaigns.models import (
    Experiment,
    ExperimentArmStatus,
    ExperimentEvent,
    ExperimentStatus,
)
from scripts.factories import ScriptFactory
from sessions.factories import TranscriptTurnFactory
from sessions.models import AnsweredBy, CallSession, CallStatus, SessionKind, Speaker
from tests.campaigns.conftest import TUESDAY_MORNING_NY as NOW
from voices.factories import VoiceFactory

CAMPAIGNS = "/api/v1/voice/campaigns"
SYSTEM = services.Actor.named("test")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def experiment_body(campaign, **changes):
    other = ScriptFactory(organization=campaign.organization, name="Shorter opening")
    body = {
        "successOutcome": "interested",
        "minConversations": 5,
        "winnerMinConversations": 10,
        "explorationShare": 0.1,
        "seed": 1234,
        "arms": [
            {"label": "Control", "scriptId": campaign.script_id},
            {"label": "Short", "scriptId": other.pk},
        ],
    }
    body.update(changes)
    return body


def create(persona, campaign, **changes):
    return persona.client.post(
        f"{CAMPAIGNS}/{campaign.pk}/experiment", experiment_body(campaign, **changes), format="json"
    )


def add_sessions(arm, *, conversations, successes=0, opt_outs=0, early=0, unanswered=0):
    """Finished sessions of the arm: conversations (successes, opt-outs and early hang-ups among
    them, the rest not interested after a minute) and unanswered calls."""
    experiment = arm.experiment
    rows = []
    for index in range(conversations):
        outcome, duration = "not_interested", 60
        if index < successes:
            outcome = experiment.success_outcome
        elif index < successes + opt_outs:
            outcome = "do_not_call"
        elif index < successes + opt_outs + early:
            outcome, duration = "no_conversation", 4
        rows.append(
            CallSession(
                organization_id=arm.organization_id,
                kind=SessionKind.CAMPAIGN,
                campaign_id=experiment.campaign_id,
                experiment_arm=arm,
                script_version_id=arm.script_version_id,
                voice_id=arm.voice_id,
                to_number="+12125550104",
                from_number="+14155550100",
                status=CallStatus.COMPLETED,
                answered_by=AnsweredBy.HUMAN,
                answered_at=NOW,
                ended_at=NOW + timedelta(seconds=duration),
                duration_seconds=duration,
                outcome=outcome,
            )
        )
    rows += [
        CallSession(
            organization_id=arm.organization_id,
            kind=SessionKind.CAMPAIGN,
            campaign_id=experiment.campaign_id,
            experiment_arm=arm,
            to_number="+12125550100",
            from_number="+14155550100",
            status=CallStatus.NO_ANSWER,
            outcome="no_answer",
        )
        for _ in range(unanswered)
    ]
    return CallSession.objects.bulk_create(rows)


def test_it_sets_up_an_experiment_and_shows_it(owner, make_campaign):
    campaign = make_campaign(owner.organization)

    response = create(owner, campaign)

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    arms = list(campaign.experiment.arms.all())
    assert data == {
        "campaignId": campaign.pk,
        "status": "running",
        "successOutcome": "interested",
        "explorationShare": 0.1,
        "minConversations": 5,
        "winnerThreshold": 0.95,
        "winnerMinConversations": 10,
        "optOutMargin": 0.05,
        "earlyHangUpMargin": 0.1,
        "seed": 1234,
        "winnerArmId": None,
        "declaredAt": None,
        "promotedAt": None,
        "createdAt": data["createdAt"],
        "arms": [
            {
                "id": arm.pk,
                "label": arm.label,
                "position": position,
                "scriptId": arm.script_version.script_id,
                "scriptVersion": 1,
                "voiceId": campaign.voice_id,
                "status": "active",
                "stoppedReason": "",
                "stoppedAt": None,
            }
            for position, arm in enumerate(arms)
        ],
    }
    assert owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/experiment").json()["data"] == data
    assert list(ExperimentEvent.objects.values_list("kind", flat=True)) == ["created"]


def test_an_arm_may_be_a_voice_on_the_same_script(owner, make_campaign):
    campaign = make_campaign(owner.organization)
    voice = VoiceFactory(organization=owner.organization)
    arms = [
        {"label": "Voice A", "scriptId": campaign.script_id},
        {"label": "Voice B", "scriptId": campaign.script_id, "voiceId": voice.pk},
    ]

    response = create(owner, campaign, arms=arms)

    assert response.status_code == 201
    assert [arm["voiceId"] for arm in response.json()["data"]["arms"]] == [
        campaign.voice_id,
        voice.pk,
    ]


NOT_A_LIST = 'Expected a list of items but got type "str".'
TOO_MUCH = "Ensure this value is less than or equal to 0.5."


@pytest.mark.parametrize(
    ("change", "details"),
    [
        ({"arms": "one"}, {"arms": {"nonFieldErrors": [NOT_A_LIST]}}),
        ({"successOutcome": "busy"}, {"successOutcome": ['"busy" is not a valid choice.']}),
        ({"explorationShare": 0.9}, {"explorationShare": [TOO_MUCH]}),
        ({"surprise": 1}, {"surprise": ["Unknown field."]}),
    ],
)
def test_it_refuses_bad_settings(owner, make_campaign, change, details):
    campaign = make_campaign(owner.organization)

    response = create(owner, campaign, **change)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == details


def test_it_refuses_one_arm_five_arms_twins_and_another_organizations_script(
    owner, outsider, make_campaign
):
    campaign = make_campaign(owner.organization)
    theirs = ScriptFactory(organization=outsider.organization)
    arm = {"label": "A", "scriptId": campaign.script_id}
    cases = {
        "one": [arm],
        "five": [{"label": str(n), "scriptId": campaign.script_id} for n in range(5)],
        "twins": [arm, {**arm, "label": "B"}],
        "theirs": [arm, {"label": "B", "scriptId": theirs.pk}],
    }

    answers = {
        name: create(owner, campaign, arms=arms).json()["error"] for name, arms in cases.items()
    }

    assert {name: error["details"] for name, error in answers.items()} == {
        "one": {"arms": ["An experiment has 2 to 4 arms."]},
        "five": {"arms": ["An experiment has 2 to 4 arms."]},
        "twins": {"arms": ["Two arms use the same script version and voice."]},
        "theirs": {"arms.1.scriptId": ["No such script."]},
    }
    assert not hasattr(type(campaign), "experiment") or not Experiment.objects.exists()


def test_a_second_experiment_is_a_conflict_and_a_running_campaign_is_refused(
    owner, make_campaign, frozen
):
    campaign = make_campaign(owner.organization)
    assert create(owner, campaign).status_code == 201
    running = make_campaign(owner.organization)
    services.campaign_start(campaign=running, actor=SYSTEM, now=NOW)

    again = create(owner, campaign)
    late = create(owner, running)

    assert (again.status_code, again.json()["error"]["code"]) == (409, "CONFLICT")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "INVALID_STATE")


def test_another_organizations_campaign_is_a_404_and_a_viewer_cannot_write(
    owner, outsider, viewer, make_campaign
):
    campaign = make_campaign(owner.organization)
    create(owner, campaign)
    base = f"{CAMPAIGNS}/{campaign.pk}/experiment"

    answers = [
        outsider.client.get(base),
        outsider.client.get(f"{base}/results"),
        outsider.client.post(f"{base}/promote"),
        outsider.client.post(base, experiment_body(campaign), format="json"),
    ]
    refused = viewer.client.post(f"{base}/promote")

    assert [(r.status_code, r.json()["error"]["code"]) for r in answers] == [(404, "NOT_FOUND")] * 4
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "PERMISSION_DENIED")
    assert viewer.client.get(f"{base}/results").status_code == 200


def test_a_campaign_without_an_experiment_answers_404(owner, make_campaign):
    campaign = make_campaign(owner.organization)

    response = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/experiment/results")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "NOT_FOUND",
        "message": "The campaign has no experiment.",
    }


def test_the_dialler_gives_each_call_an_arm_and_the_session_records_it(
    owner, make_campaign, frozen, placement_tasks
):
    campaign = make_campaign(owner.organization, contacts=6)
    create(owner, campaign)
    services.campaign_start(campaign=campaign, actor=SYSTEM, now=NOW)

    dispatch_due(now=NOW)

    arms = {arm.pk: arm for arm in campaign.experiment.arms.all()}
    sessions = list(CallSession.objects.order_by("id"))
    assert len(sessions) == 6
    # The burn-in alternates: no randomness until each arm has its minimum of conversations.
    assert [arms[s.experiment_arm_id].label for s in sessions] == ["Control", "Short"] * 3
    for session in sessions:
        arm = arms[session.experiment_arm_id]
        assert (session.script_version_id, session.voice_id) == (
            arm.script_version_id,
            arm.voice_id,
        )
    assert sorted(arm.assigned for arm in campaign.experiment.arms.all()) == [3, 3]


def test_results_come_from_the_sessions(owner, make_campaign):
    campaign = make_campaign(owner.organization)
    create(owner, campaign)
    control, short = campaign.experiment.arms.all()
    add_sessions(control, conversations=20, successes=4, opt_outs=1, early=1, unanswered=5)
    made = add_sessions(short, conversations=20, successes=10)
    made[0].extracted = {"objections": [{"trigger": "We already have a provider"}]}
    made[0].save(update_fields=["extracted"])
    for ms in (400, 600, 800):
        TranscriptTurnFactory(
            session=made[1],
            speaker=Speaker.AGENT,
            latency={"since": "speech_end", "first_frame_ms": ms},
        )

    first = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/experiment/results").json()["data"]
    again = owner.client.get(f"{CAMPAIGNS}/{campaign.pk}/experiment/results").json()["data"]

    assert first == again  # seeded: the same sessions give the same figures
    by_label = {arm["label"]: arm for arm in first["arms"]}
    control_result, short_result = by_label["Control"], by_label["Short"]
    assert {
        key: control_result[key] for key in ("calls", "finished", "conversations", "successes")
    } == {
        "calls": 25,
        "finished": 25,
        "conversations": 20,
        "successes": 4,
    }
    assert control_result["successRate"] == 0.2
    assert control_result["optOut"] == {"count": 1, "total": 20, "rate": 0.05}
    assert control_result["earlyHangUp"] == {"count": 1, "total": 20, "rate": 0.05}
    assert short_result["successRate"] == 0.5
    low, high = short_result["credibleInterval"]
    assert low < 0.5 < high
    assert short_result["probabilityBest"] > 0.95
    assert control_result["probabilityBest"] + short_result["probabilityBest"] == pytest.approx(1)
    assert short_result["objections"] == {
        "we already have a provider": {"count": 1, "total": 20, "rate": 0.05}
    }
    assert short_result["replyLatency"] == {"count": 3, "p50Ms": 600.0, "p95Ms": 800.0}
    assert first["pendingStops"] == {}
    assert first["leaderArmId"] == short.pk
    assert first["winnerReady"] is True
    assert first["status"] == "running"  # declared by the dialler's recount or a promotion


def test_a_guardrail_stops_an_arm_and_the_dialler_leaves_it(owner, make_campaign, frozen):
    campaign = make_campaign(owner.organization)
    create(owner, campaign, minConversations=30)
    control, short = campaign.experiment.arms.all()
    add_sessions(control, conversations=100, successes=10, opt_outs=2)
    add_sessions(short, conversations=100, successes=12, opt_outs=15)

    experiments.experiment_refresh(experiment=campaign.experiment, now=NOW)

    short.refresh_from_db()
    assert short.status == ExperimentArmStatus.STOPPED
    assert short.stopped_reason == ("opt-out rate 15.0% against 2.0% on the other arms (margin 5%)")
    event = ExperimentEvent.objects.get(kind="arm_stopped")
    assert (event.arm_id, event.actor_system) == (short.pk, "experiment")
    choose = experiments.experiment_arm_chooser(campaign=campaign, now=NOW)
    assert choose is not None
    assert {choose().pk for _ in range(50)} == {control.pk}


def test_a_winner_is_declared_then_promoted_and_gets_all_traffic(owner, make_campaign, frozen):
    campaign = make_campaign(owner.organization)
    create(owner, campaign)
    control, short = campaign.experiment.arms.all()
    promote = f"{CAMPAIGNS}/{campaign.pk}/experiment/promote"

    early = owner.client.post(promote)

    assert (early.status_code, early.json()["error"]["code"]) == (409, "INVALID_STATE")
    add_sessions(control, conversations=40, successes=4)
    add_sessions(short, conversations=40, successes=20)

    response = owner.client.post(promote)

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert (data["status"], data["winnerArmId"]) == ("promoted", short.pk)
    assert list(ExperimentEvent.objects.values_list("kind", "arm_id")) == [
        ("created", None),
        ("winner_declared", short.pk),
        ("promoted", short.pk),
    ]
    assert ExperimentEvent.objects.get(kind="promoted").actor_api_key_id == owner.api_key.pk
    campaign.experiment.refresh_from_db()
    assert campaign.experiment.status == ExperimentStatus.PROMOTED
    choose = experiments.experiment_arm_chooser(campaign=campaign, now=NOW)
    assert choose is not None
    assert {choose().pk for _ in range(20)} == {short.pk}
    again = owner.client.post(promote)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "INVALID_STATE")


def test_thompson_sampling_after_the_burn_in_is_reproducible(owner, make_campaign, frozen):
    campaign = make_campaign(owner.organization)
    create(owner, campaign, explorationShare=0.2)
    control, short = campaign.experiment.arms.all()
    add_sessions(control, conversations=10, successes=3)
    add_sessions(short, conversations=10, successes=4)

    def draw() -> list[int]:
        choose = experiments.experiment_arm_chooser(campaign=campaign, now=NOW)
        assert choose is not None
        return [choose().pk for _ in range(30)]

    first = draw()
    # Reset the working counters (as the next recount from the sessions would): same draws.
    experiments.experiment_refresh(experiment=campaign.experiment, now=NOW)
    assert draw() == first
    assert set(first) == {control.pk, short.pk}


# --- the admin page ---------------------------------------------------------------------------


def as_staff(client, persona):
    from django.contrib.auth.models import Permission

    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    client.force_login(user)
    return client


def test_the_admin_page_charts_the_arms_and_promotes_the_winner(client, owner, make_campaign):
    from django.urls import reverse

    campaign = make_campaign(owner.organization)
    create(owner, campaign)
    control, short = campaign.experiment.arms.all()
    add_sessions(control, conversations=40, successes=4)
    add_sessions(short, conversations=40, successes=20)
    as_staff(client, owner)
    page_url = reverse("admin:campaigns_campaign_experiment", args=[campaign.pk])

    page = client.get(page_url).content.decode()
    change = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    promoted = client.post(
        reverse("admin:campaigns_campaign_experiment_promote", args=[campaign.pk])
    )
    after = client.get(page_url).content.decode()

    assert 'id="experiment-success"' in page
    assert f'class="interval-row" data-key="{short.pk}"' in page
    assert 'id="experiment-traffic"' in page
    assert 'data-testid="experiment-promote" >' in page  # enabled: the winner rule holds
    assert page_url in change.content.decode()
    assert promoted.status_code == 302
    assert 'data-status="promoted"' in after
    assert 'data-testid="experiment-winner">Short<' in after


def test_the_admin_page_is_scoped_and_a_viewer_cannot_promote(
    client, owner, viewer, outsider, make_campaign
):
    from django.urls import reverse

    campaign = make_campaign(owner.organization)
    create(owner, campaign)
    page_url = reverse("admin:campaigns_campaign_experiment", args=[campaign.pk])
    promote_url = reverse("admin:campaigns_campaign_experiment_promote", args=[campaign.pk])

    as_staff(client, outsider)
    hidden = client.get(page_url)
    as_staff(client, viewer)
    seen = client.get(page_url).content.decode()
    refused = client.post(promote_url)

    assert hidden.status_code == 404
    assert 'data-testid="experiment-promote" disabled' in seen
    assert refused.status_code == 403
