"""The Media Stream consumer: the signed handshake, the token, and Twilio's messages."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ImproperlyConfigured
from django.urls import re_path
from django.utils import timezone
from twilio.request_validator import RequestValidator

from sessions.factories import CallSessionFactory
from sessions.live.consumer import LiveCallConsumer
from sessions.live.media_stream import MediaStreamConsumer
from sessions.live.routing import media_stream_consumer, websocket_urlpatterns
from sessions.live.stream import StreamStart, serving_process
from sessions.models import CallEvent, CallSession

PUBLIC = "https://voice.example.com"
TOKEN = "stream-test-token"
SECONDARY = "stream-test-token-next"
STREAM_SID = "MZ" + "d" * 32
CALL_SID = "CA" + "d" * 32

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _twilio(settings) -> None:
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.CARRIER_BACKEND = "anvil_voice.telephony.twilio.TwilioCarrier"


@pytest.fixture
def session(acme) -> CallSession:
    return CallSessionFactory(organization=acme, status="in_progress", carrier_call_sid=None)


def communicator(
    token: str, *, signing_token: str | None = TOKEN, url: str | None = None, app: Any = None
) -> WebsocketCommunicator:
    path = f"/ws/twilio/media/{token}/"
    headers = []
    if signing_token is not None:
        signed_url = url or f"wss://voice.example.com{path}"
        signature = RequestValidator(signing_token).compute_signature(signed_url, {})
        headers.append((b"x-twilio-signature", signature.encode()))
    return WebsocketCommunicator(app or URLRouter(websocket_urlpatterns), path, headers=headers)


def start_message(token: str, *, call_sid: str = CALL_SID) -> dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": STREAM_SID,
        "start": {
            "accountSid": "AC" + "d" * 32,
            "streamSid": STREAM_SID,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"session": token},
        },
    }


def media_message(payload: bytes = b"\xff" * 160, *, chunk: int = 1) -> dict[str, Any]:
    return {
        "event": "media",
        "sequenceNumber": str(chunk + 1),
        "streamSid": STREAM_SID,
        "media": {
            "track": "inbound",
            "chunk": str(chunk),
            "timestamp": str(chunk * 20),
            "payload": base64.b64encode(payload).decode(),
        },
    }


STOP = {"event": "stop", "sequenceNumber": "9", "streamSid": STREAM_SID, "stop": {}}


@database_sync_to_async
def reload(session: CallSession) -> CallSession:
    return CallSession.objects.get(pk=session.pk)


@database_sync_to_async
def events(session: CallSession) -> list[tuple[str, dict[str, Any]]]:
    return [(event.kind, event.data) for event in CallEvent.objects.filter(session=session)]


@database_sync_to_async
def update(session: CallSession, **fields: Any) -> None:
    CallSession.objects.filter(pk=session.pk).update(**fields)


async def assert_refused(ws: WebsocketCommunicator, session: CallSession) -> None:
    connected, code = await ws.connect()
    assert (connected, code) == (False, 4403)
    after = await reload(session)
    assert after.stream_sid == ""
    assert await events(session) == []


# --- the handshake ------------------------------------------------------------------------
async def test_it_refuses_a_handshake_without_a_signature(session):
    await assert_refused(communicator(session.token, signing_token=None), session)


async def test_it_refuses_a_forged_signature(session):
    await assert_refused(communicator(session.token, signing_token="guess"), session)


async def test_it_refuses_a_signature_over_another_url(session):
    other = f"wss://attacker.example/ws/twilio/media/{session.token}/"
    await assert_refused(communicator(session.token, url=other), session)


async def test_it_refuses_an_unknown_token(session):
    await assert_refused(communicator("u" * 43), session)


async def test_it_refuses_an_expired_token(session):
    await update(session, token_expires_at=timezone.now() - timedelta(seconds=1))
    await assert_refused(communicator(session.token), session)


@pytest.mark.parametrize("status", ["completed", "failed", "queued"])
async def test_it_refuses_a_session_that_is_over_or_was_never_dialled(session, status):
    await update(session, status=status)
    await assert_refused(communicator(session.token), session)


async def test_it_accepts_the_secondary_token(session, settings):
    settings.TWILIO_AUTH_TOKEN_SECONDARY = SECONDARY
    ws = communicator(session.token, signing_token=SECONDARY)

    connected, _ = await ws.connect()

    assert connected
    await ws.disconnect()


async def test_a_second_stream_for_the_same_token_is_refused(session):
    first = communicator(session.token)
    assert (await first.connect())[0]
    await first.send_json_to(start_message(session.token))

    second = communicator(session.token)
    assert await second.connect() == (False, 4403)

    await first.send_json_to(STOP)
    await first.disconnect()
    assert await communicator(session.token).connect() == (False, 4403)


async def test_a_socket_gone_before_start_gives_the_token_back(session):
    first = communicator(session.token)
    assert (await first.connect())[0]
    await first.disconnect()
    assert (await reload(session)).stream_sid == ""

    second = communicator(session.token)
    assert (await second.connect())[0]
    await second.disconnect()


# --- messages -----------------------------------------------------------------------------
async def test_it_records_start_and_stop_and_survives_bad_frames(session):
    ws = communicator(session.token)
    assert (await ws.connect())[0]

    await ws.send_json_to({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    await ws.send_json_to(start_message(session.token))
    await ws.send_json_to(media_message(chunk=1))
    await ws.send_to(text_data="{not json")
    await ws.send_to(bytes_data=b"\x00\x01")
    await ws.send_to(text_data="[1, 2]")
    await ws.send_json_to({"event": "media", "streamSid": STREAM_SID, "media": {"payload": "%%"}})
    # Not ASCII: a ValueError (not binascii.Error) from the decoder, which escaped the handler.
    await ws.send_json_to({"event": "media", "streamSid": STREAM_SID, "media": {"payload": "é="}})
    await ws.send_json_to({"event": "mark", "streamSid": STREAM_SID})
    await ws.send_json_to({"event": "from-the-future", "streamSid": STREAM_SID})
    await ws.send_json_to(media_message(chunk=2))
    await ws.send_json_to(
        {"event": "dtmf", "streamSid": STREAM_SID, "dtmf": {"track": "inbound_track", "digit": "1"}}
    )
    await ws.send_json_to(STOP)
    await ws.send_json_to(STOP)
    await ws.disconnect()

    after = await reload(session)
    assert after.stream_sid == STREAM_SID
    # No call id was stored yet: the signed stream carrying our token names the call.
    assert after.carrier_call_sid == CALL_SID
    assert await events(session) == [
        (
            "stream_started",
            {
                "stream_sid": STREAM_SID,
                "call_sid": CALL_SID,
                "tracks": ["inbound"],
                "media_format": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "bound_call": True,
                # Which web process held the stream (host:pid): this one here.
                "served_by": serving_process(),
            },
        ),
        (
            "stream_stopped",
            {
                "stream_sid": STREAM_SID,
                "media_frames": 2,
                "malformed_frames": 6,
                "ignored_frames": 1,
            },
        ),
    ]


async def test_a_stream_for_another_call_is_closed_and_not_recorded(session):
    await update(session, carrier_call_sid="CA" + "e" * 32)
    ws = communicator(session.token)
    assert (await ws.connect())[0]

    await ws.send_json_to(start_message(session.token))

    assert await ws.receive_output(2) == {"type": "websocket.close", "code": 4409}
    assert await events(session) == []


async def test_a_start_naming_another_session_is_closed(session):
    ws = communicator(session.token)
    assert (await ws.connect())[0]

    await ws.send_json_to(start_message("someone-elses-token"))

    assert await ws.receive_output(2) == {"type": "websocket.close", "code": 4409}
    assert await events(session) == []


async def test_a_stream_that_drops_without_stop_is_recorded(session):
    ws = communicator(session.token)
    assert (await ws.connect())[0]
    await ws.send_json_to(start_message(session.token))

    await ws.disconnect(code=1006)

    assert [kind for kind, _ in await events(session)] == ["stream_started", "stream_disconnected"]


async def test_a_deeply_nested_frame_is_counted_and_dropped(session):
    # 400 000 "[" made json.loads raise RecursionError, which killed the handler.
    ws = communicator(session.token)
    assert (await ws.connect())[0]

    await ws.send_json_to(start_message(session.token))
    await ws.send_to(text_data="[" * 400_000)
    await ws.send_to(text_data='{"event": "media", "x": ' + "[" * 20 + "]" * 20 + "}")
    await ws.send_to(text_data=json.dumps({**media_message(), "pad": "x" * 70_000}))
    await ws.send_json_to(media_message(chunk=2))
    await ws.send_json_to(STOP)
    await ws.disconnect()

    kinds = await events(session)
    assert kinds[-1] == (
        "stream_stopped",
        {"stream_sid": STREAM_SID, "media_frames": 1, "malformed_frames": 3, "ignored_frames": 0},
    )


async def test_a_bomb_before_start_gives_the_token_back(session):
    ws = communicator(session.token)
    assert (await ws.connect())[0]

    await ws.send_to(text_data="[" * 400_000)
    await ws.send_to(text_data="{" * 5_000)
    await ws.disconnect()

    # The handler lived to run `disconnect`: the token is free for the real stream.
    assert (await reload(session)).stream_sid == ""
    again = communicator(session.token)
    assert (await again.connect())[0]
    await again.disconnect()


@pytest.mark.parametrize(
    "start_body",
    [{"tracks": 5}, {"mediaFormat": "ab"}, {"mediaFormat": [1]}],
    ids=["tracks-not-a-list", "format-a-string", "format-a-list"],
)
async def test_a_start_of_the_wrong_shape_is_a_bad_frame(session, start_body):
    ws = communicator(session.token)
    assert (await ws.connect())[0]
    bad = start_message(session.token)
    bad["start"].update(start_body)

    await ws.send_json_to(bad)
    await ws.send_json_to(start_message(session.token))
    await ws.send_json_to(STOP)
    await ws.disconnect()

    assert (await events(session))[-1] == (
        "stream_stopped",
        {"stream_sid": STREAM_SID, "media_frames": 0, "malformed_frames": 1, "ignored_frames": 0},
    )


# --- extending it -------------------------------------------------------------------------
class EchoConsumer(MediaStreamConsumer):
    """What the speech pipeline will do: override hooks, talk back."""

    seen: ClassVar[list[Any]] = []

    async def on_start(self, start: StreamStart) -> None:
        self.seen.append(("start", start.custom_parameters))
        await self.send_mark("greeting")

    async def on_media(self, payload: bytes, media: dict[str, Any]) -> None:
        self.seen.append(("media", len(payload)))
        await self.send_media(payload)

    async def on_mark(self, name: str) -> None:
        self.seen.append(("mark", name))
        await self.send_clear()

    async def on_dtmf(self, digit: str) -> None:
        self.seen.append(("dtmf", digit))

    async def on_stop(self) -> None:
        self.seen.append(("stop",))


async def test_subclasses_get_the_hooks_and_can_talk_back(session):
    EchoConsumer.seen = []
    app = URLRouter(
        [re_path(r"^ws/twilio/media/(?P<token>[A-Za-z0-9_-]+)/$", EchoConsumer.as_asgi())]
    )
    ws = communicator(session.token, app=app)
    assert (await ws.connect())[0]

    await ws.send_json_to(start_message(session.token))
    mark = await ws.receive_json_from(2)
    await ws.send_json_to(media_message(b"\x7f" * 160))
    media = await ws.receive_json_from(2)
    await ws.send_json_to({"event": "mark", "streamSid": STREAM_SID, "mark": {"name": "greeting"}})
    clear = await ws.receive_json_from(2)
    await ws.send_json_to({"event": "dtmf", "streamSid": STREAM_SID, "dtmf": {"digit": "9"}})
    await ws.send_json_to(STOP)
    await ws.disconnect()

    assert mark == {"event": "mark", "streamSid": STREAM_SID, "mark": {"name": "greeting"}}
    assert media == {
        "event": "media",
        "streamSid": STREAM_SID,
        "media": {"payload": base64.b64encode(b"\x7f" * 160).decode()},
    }
    assert clear == {"event": "clear", "streamSid": STREAM_SID}
    assert EchoConsumer.seen == [
        ("start", {"session": session.token}),
        ("media", 160),
        ("mark", "greeting"),
        ("dtmf", "9"),
        ("stop",),
    ]
    assert json.loads(json.dumps(EchoConsumer.seen[0][1])) == {"session": session.token}


def test_the_stream_route_serves_the_consumer_the_settings_name(settings):
    assert media_stream_consumer() is LiveCallConsumer

    settings.MEDIA_STREAM_CONSUMER = "sessions.live.media_stream.MediaStreamConsumer"
    assert media_stream_consumer() is MediaStreamConsumer

    settings.MEDIA_STREAM_CONSUMER = "sessions.live.media_stream.MalformedMessage"
    with pytest.raises(ImproperlyConfigured, match="is not a sessions"):
        media_stream_consumer()


# --- a machine, and a script without a voicemail message (issue 13 item 6) --------------------
async def test_a_machine_with_no_message_to_leave_is_hung_up_on_saying_why(session, monkeypatch):
    from sessions.live import consumer as consumer_module
    from sessions.live.conversation import CallSetup

    hung_up: list[int] = []
    monkeypatch.setattr(
        consumer_module, "session_hang_up", lambda *, session_id: hung_up.append(session_id)
    )
    consumer = LiveCallConsumer()
    consumer.setup = CallSetup(
        session_id=session.pk,
        organization_id=session.organization_id,
        campaign_id=None,
        script={"opening_line": "Hello", "closing_line": "Bye", "voicemail_message": ""},
        voicemail_behaviour="leave_message",
    )

    class Pipeline:
        def leave_voicemail(self, text: str) -> None:
            raise AssertionError("there is no message to leave")

    consumer.pipeline = Pipeline()  # type: ignore[assignment]

    await consumer.call_machine({"type": "call.machine"})

    assert hung_up == [session.pk]
    fresh = await database_sync_to_async(CallSession.objects.get)(pk=session.pk)
    assert fresh.end_reason == "voicemail_no_message"
    event = await database_sync_to_async(
        CallEvent.objects.filter(session=session, kind="voicemail_not_left").get
    )()
    assert event.data["reason"] == "The script has no voicemail message; the call was hung up."


async def test_frames_cost_no_connection_check_hop(session, monkeypatch):
    """Issue 18: Channels' dispatch hopped to a thread for `aclose_old_connections` on every
    message; the stream reaches the database only through database_sync_to_async."""
    import channels.consumer

    hops = 0

    async def counting() -> None:
        nonlocal hops
        hops += 1

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    ws = communicator(session.token)
    assert (await ws.connect())[0]
    await ws.send_json_to(start_message(session.token))
    for chunk in range(1, 21):
        await ws.send_json_to(media_message(chunk=chunk))
    await ws.send_json_to(STOP)
    await ws.disconnect()

    assert hops == 0
    stopped = dict(await events(session))["stream_stopped"]
    assert stopped["media_frames"] == 20


async def test_the_stream_skips_the_auth_stack_and_the_pages_sockets_keep_it():
    from sessions.live.routing import WebsocketRouter

    router = WebsocketRouter()
    seen: list[tuple[str, str]] = []

    def recorder(name: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append((name, scope["path"]))

        return app

    router.media, router.others = recorder("media"), recorder("others")
    for path in ("/ws/twilio/media/abcdefghijklmnop/", "/ws/monitor/", "/ws/monitor/listen/7/"):
        await router({"type": "websocket", "path": path}, None, None)

    assert seen == [
        ("media", "/ws/twilio/media/abcdefghijklmnop/"),
        ("others", "/ws/monitor/"),
        ("others", "/ws/monitor/listen/7/"),
    ]
    # The real stack: the monitor's consumer finds the (anonymous) user the stack sets.
    ws = WebsocketCommunicator(WebsocketRouter(), "/ws/monitor/")
    connected, _ = await ws.connect()
    assert connected is False
    await ws.wait()  # the refused consumer has let go of the channel layer
