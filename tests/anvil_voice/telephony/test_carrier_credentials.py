"""Production never runs on the Twilio simulator's public token (issue 15, item 7).

The embedded default signs and checks callbacks with a token written in the settings; with
DEBUG off the settings refuse to load without a real one, and the signature check refuses the
public one whatever the settings say.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from anvil_voice.telephony.simulator.cli import DEFAULT_AUTH_TOKEN
from sessions.models import CallSession

ROOT = Path(__file__).resolve().parents[3]
SIMULATOR_TOKEN = "embedded-simulator-auth-token"
PUBLIC = "https://voice.example.com"
STATUS = "/telephony/twilio/status/"
CALL_SID = "CA" + "c" * 32
ACCOUNT_SID = "AC" + "9" * 32


def load_production_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with a production environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "DJANGO_", "DEBUG"))
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="production-like-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DATABASE_URL="postgres://anvil@db.internal:5432/anvil",
        REDIS_URL="redis://redis.internal:6379/0",
        ALLOWED_HOSTS="voice.example.com",
        PUBLIC_BASE_URL=PUBLIC,
        PYTHONPATH=str(ROOT),
    )
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", "import anvil_voice.settings"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_refuses_to_start_in_production_without_a_carrier_token():
    result = load_production_settings()

    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: TWILIO_AUTH_TOKEN must be set when DEBUG "
        "is off" in result.stderr
    )


@pytest.mark.parametrize("variable", ["TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_SECONDARY"])
def test_it_refuses_to_start_in_production_with_the_simulators_token(variable):
    tokens = {"TWILIO_AUTH_TOKEN": "f" * 32, variable: SIMULATOR_TOKEN}

    result = load_production_settings(**tokens)

    assert result.returncode != 0
    assert "must not be the Twilio simulator's public token" in result.stderr


def test_it_starts_in_production_with_a_real_looking_token():
    result = load_production_settings(TWILIO_AUTH_TOKEN="0123456789abcdef0123456789abcdef")

    assert result.returncode == 0, result.stderr


@pytest.fixture
def session(acme, settings) -> CallSession:
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = SIMULATOR_TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    return CallSession.objects.create(
        organization=acme,
        to_number="+15550104",
        from_number="+15005550006",
        status="initiated",
        carrier_call_sid=CALL_SID,
    )


def post_ringing_signed_with_the_simulators_token(client):
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL_SID,
        "CallStatus": "ringing",
        "SequenceNumber": "1",
        "Direction": "outbound-api",
    }
    signature = RequestValidator(SIMULATOR_TOKEN).compute_signature(PUBLIC + STATUS, params)
    return client.post(STATUS, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_it_refuses_a_callback_signed_with_the_simulators_token_in_production(
    client, session, settings
):
    # As if a settings override or an old deployment put the public token back.
    settings.DEBUG = False

    response = post_ringing_signed_with_the_simulators_token(client)

    assert response.status_code == 403
    session.refresh_from_db()
    assert session.status == "initiated"


def test_the_embedded_default_still_accepts_the_simulators_callbacks(client, session, settings):
    settings.DEBUG = True

    response = post_ringing_signed_with_the_simulators_token(client)

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "ringing"


def test_the_settings_refuse_the_token_the_simulator_signs_with_by_default(settings):
    # The simulator runs without Django, so it keeps its own copy of the public token.
    assert settings.TWILIO_SIMULATOR_AUTH_TOKEN == DEFAULT_AUTH_TOKEN == SIMULATOR_TOKEN
