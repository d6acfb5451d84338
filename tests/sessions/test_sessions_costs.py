"""A call's usage is stored when its conversation closes and priced when it finishes; the cost
is on `GET /sessions/:id`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from anvil_voice.pricing import parse_prices
from scripts.factories import ScriptFactory
from sessions.carrier.status import session_finish
from sessions.costs import session_cost_record
from sessions.factories import CallSessionFactory
from sessions.live.conversation import session_conversation_close, session_conversation_open
from sessions.models import AnsweredBy, CallSession, CallStatus, SessionCost, Transfer
from tests.sessions.test_sessions_conversation import result

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/voice/sessions"
USAGE = {
    "stt_provider": "deepgram",
    "stt_audio_seconds": 90.0,
    "tts_provider": "elevenlabs",
    "tts_characters": 500,
    "llm_provider": "openai",
    "llm_prompt_tokens": 3000,
    "llm_completion_tokens": 200,
    "llm_requests": 4,
    "llm_requests_without_usage": 0,
    "compute_cpu_seconds": 1.25,
}


def test_a_finished_call_carries_its_cost_by_component(
    owner, settings, django_capture_on_commit_callbacks
):
    settings.COST_PRICES = parse_prices({"local": {"per_cpu_second": "0.001"}})
    script = ScriptFactory(organization=owner.organization)
    session = CallSessionFactory(
        organization=owner.organization,
        script_version=script.versions.get(),
        status=CallStatus.IN_PROGRESS,
        answered_by=AnsweredBy.HUMAN,
        answered_at=timezone.now(),
    )
    session_conversation_open(session_id=session.pk)
    session_conversation_close(session_id=session.pk, result=result(usage=USAGE))
    with django_capture_on_commit_callbacks(execute=True):  # priced before it is announced
        session_finish(session_id=session.pk, status=CallStatus.COMPLETED, duration_seconds=95)

    response = owner.client.get(f"{SESSIONS}/{session.pk}")

    assert response.status_code == 200
    cost = response.json()["data"]["cost"]
    detail = SessionCost.objects.get(session=session)
    assert cost == {
        "total": "0.1315",
        "currency": "USD",
        "breakdown": {
            "carrier": {
                "provider": "twilio",
                "seconds": 95,
                "billedMinutes": 2,  # 95 s: two started minutes
                "transferBilledMinutes": 0,
                "cost": "0.0280",
            },
            "speechToText": {"provider": "deepgram", "audioSeconds": 90.0, "cost": "0.0116"},
            "textToSpeech": {"provider": "elevenlabs", "characters": 500, "cost": "0.0900"},
            "llm": {
                "provider": "openai",
                "inputTokens": 3000,
                "outputTokens": 200,
                "requests": 4,
                "requestsWithoutUsage": 0,
                "cost": "0.0006",
            },
            "compute": {"cpuSeconds": 1.25, "cost": "0.0013"},
        },
        "unpriced": [],
        "computedAt": detail.computed_at.isoformat(),
    }
    # The total is on the session too: the campaign counters read it.
    session.refresh_from_db()
    assert (session.cost, session.cost_currency) == (Decimal("0.1315"), "USD")


def test_pricing_again_changes_nothing_and_transfer_legs_are_billed(owner):
    session = CallSessionFactory(
        organization=owner.organization,
        status=CallStatus.COMPLETED,
        duration_seconds=30,
        answered_at=timezone.now(),
    )
    Transfer.objects.create(
        organization=owner.organization,
        session=session,
        target_number="+12125550100",
        talk_seconds=125,
    )

    first = session_cost_record(session_id=session.pk)
    second = session_cost_record(session_id=session.pk)

    assert first is not None
    assert second is not None
    assert (second.carrier_billed_minutes, second.transfer_billed_minutes) == (1, 3)
    assert second.total == first.total == Decimal("0.0560")  # 4 minutes x 0.014
    assert second.computed_at == first.computed_at
    assert SessionCost.objects.count() == 1


def test_a_call_is_not_priced_before_it_ends_and_the_api_says_null(owner):
    session = CallSessionFactory(organization=owner.organization, status=CallStatus.IN_PROGRESS)

    assert session_cost_record(session_id=session.pk) is None
    response = owner.client.get(f"{SESSIONS}/{session.pk}")

    assert response.json()["data"]["cost"] is None
    assert CallSession.objects.get(pk=session.pk).cost is None


def test_another_organizations_session_cost_is_a_404(owner, outsider):
    session = CallSessionFactory(organization=owner.organization, duration_seconds=60)
    session_cost_record(session_id=session.pk)

    response = outsider.client.get(f"{SESSIONS}/{session.pk}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
