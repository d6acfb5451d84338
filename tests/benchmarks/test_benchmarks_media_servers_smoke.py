"""Smoke test of `benchmarks.media_servers`: its echoing consumer, selected the way the servers
select it (`MEDIA_STREAM_CONSUMER`), still fits the stream route."""

from __future__ import annotations

import base64
import math

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import re_path
from twilio.request_validator import RequestValidator

from benchmarks import media_servers
from sessions.live.routing import MEDIA_STREAM_PATH, media_stream_consumer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def echoing(settings) -> None:
    settings.PUBLIC_BASE_URL = media_servers.PUBLIC
    settings.TWILIO_AUTH_TOKEN = media_servers.AUTH_TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.CARRIER_BACKEND = "anvil_voice.telephony.twilio.TwilioCarrier"
    settings.CALL_PIPELINE = False
    settings.MEDIA_STREAM_CONSUMER = media_servers.CONSUMER


async def test_the_benchmark_consumer_echoes_a_frame_with_its_timestamp(echoing):
    from channels.db import database_sync_to_async

    (token,) = await database_sync_to_async(media_servers.make_sessions)(1)
    path = f"/ws/twilio/media/{token}/"
    signature = RequestValidator(media_servers.AUTH_TOKEN).compute_signature(
        f"wss://voice.example.com{path}", {}
    )
    ws = WebsocketCommunicator(
        URLRouter([re_path(MEDIA_STREAM_PATH, media_stream_consumer().as_asgi())]),
        path,
        headers=[(b"x-twilio-signature", signature.encode())],
    )
    assert (await ws.connect())[0]
    start = {
        "streamSid": "MZ" + "e" * 32,
        "callSid": "CA" + "e" * 32,
        "customParameters": {"session": token},
    }
    await ws.send_json_to({"event": "start", "streamSid": "MZ" + "e" * 32, "start": start})
    frame = bytes(range(160))
    media = {"timestamp": "40", "payload": base64.b64encode(frame).decode()}
    await ws.send_json_to({"event": "media", "streamSid": "MZ" + "e" * 32, "media": media})

    echo = await ws.receive_json_from(timeout=5)

    assert echo["event"] == "media"
    assert echo["media"]["timestamp"] == "40"
    assert base64.b64decode(echo["media"]["payload"]) == frame
    await ws.disconnect()


def test_calls_held_stop_at_the_first_level_over_the_limit():
    def rows(**p99: float) -> dict[int, media_servers.Row]:
        return {int(calls[1:]): media_servers.Row(ms, 100.0) for calls, ms in p99.items()}

    assert media_servers.held(rows(k10=3.0, k25=12.0, k50=25.0, k75=15.0)) == 25
    assert media_servers.held(rows(k10=math.inf)) == 0


def test_the_clients_template_is_twilios_media_message():
    import json

    payload = media_servers.caller_frames(speech=True)[0]
    message = json.loads(
        media_servers.MEDIA_TEMPLATE.format(seq=3, sid="MZ1", chunk=7, ts=140, payload=payload)
    )

    assert message == {
        "event": "media",
        "sequenceNumber": "3",
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "7", "timestamp": "140", "payload": payload},
    }
    assert len(base64.b64decode(payload)) == 160
    assert media_servers.echoed(message["media"])  # every frame unless BENCH_ECHO_EVERY says
