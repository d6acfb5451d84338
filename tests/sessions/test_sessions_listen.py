"""Listen-in (issue 17): the staff socket is refused to anyone who may not hear the call, and
the call's audio reaches it both ways, only while someone listens."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from sessions.factories import CallSessionFactory
from sessions.live.consumer import LiveCallConsumer
from sessions.live.groups import control_group
from sessions.live.listen import FLUSH_BYTES, INBOUND, OUTBOUND, ListenConsumer, ListenTap
from sessions.models import CallStatus

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://testserver")]
FRAME = 160  # 20 ms of μ-law at 8 kHz


def communicator(user: Any, session_id: int, headers: Any = ORIGIN) -> WebsocketCommunicator:
    path = f"/ws/monitor/listen/{session_id}/"
    comm = WebsocketCommunicator(ListenConsumer.as_asgi(), path, headers=headers)
    comm.scope["user"] = user
    comm.scope["url_route"] = {"kwargs": {"session_id": str(session_id)}}
    return comm


async def staff(persona: Any) -> Any:
    user = persona.membership.user

    def promote() -> None:
        user.is_staff = True
        user.save()

    await sync_to_async(promote)()
    return user


async def live_session(organization: Any, status: str = CallStatus.IN_PROGRESS) -> Any:
    return await sync_to_async(CallSessionFactory)(organization=organization, status=status)


async def refused(comm: WebsocketCommunicator) -> bool:
    connected, _ = await comm.connect()
    return connected is False


async def test_it_refuses_anyone_who_may_not_hear_the_call(acme, owner, viewer, outsider):
    session = await live_session(acme)
    finished = await live_session(acme, status=CallStatus.COMPLETED)
    owner_user = await staff(owner)

    assert await refused(communicator(AnonymousUser(), session.pk))
    assert await refused(communicator(owner.membership.user, session.pk + 1000))
    assert await refused(communicator(await staff(outsider), session.pk))  # another organization
    assert await refused(communicator(await staff(viewer), session.pk))  # a read-only role
    assert await refused(communicator(owner_user, finished.pk))
    assert await refused(communicator(owner_user, session.pk, headers=[]))
    foreign = [(b"origin", b"https://evil.example")]
    assert await refused(communicator(owner_user, session.pk, headers=foreign))


async def test_it_refuses_members_who_are_not_staff(acme, owner):
    session = await live_session(acme)

    assert await refused(communicator(owner.membership.user, session.pk))


async def test_the_calls_audio_reaches_the_listener_both_ways(acme, owner):
    session = await live_session(acme)
    layer = get_channel_layer()
    # The call's consumer is on its control group: the listener announces itself there.
    call_channel = await layer.new_channel()
    await layer.group_add(control_group(session.pk), call_channel)
    tap = ListenTap(layer=layer, session_id=session.pk)

    listener = communicator(await staff(owner), session.pk)
    assert (await listener.connect())[0]
    joined = await layer.receive(call_channel)
    assert joined["type"] == "listen.join"
    tap.join(joined["channel"])

    caller = bytes([0x7F]) * FRAME
    agent = bytes([0x00]) * FRAME
    for _ in range(FLUSH_BYTES // FRAME):
        await tap.feed(INBOUND, caller)
        await tap.feed(OUTBOUND, agent)

    first = await listener.receive_output(timeout=2)
    second = await listener.receive_output(timeout=2)
    messages = sorted([first["bytes"], second["bytes"]])
    assert messages == [bytes([INBOUND]) + caller * 5, bytes([OUTBOUND]) + agent * 5]

    # The call ends: what is buffered goes out and the listener's socket is closed.
    await tap.feed(INBOUND, caller)
    await tap.close()
    assert (await listener.receive_output(timeout=2))["bytes"] == bytes([INBOUND]) + caller
    assert (await listener.receive_output(timeout=2))["type"] == "websocket.close"
    await listener.disconnect()


async def test_a_listener_leaving_stops_the_copying(acme, owner):
    session = await live_session(acme)
    layer = get_channel_layer()
    call_channel = await layer.new_channel()
    await layer.group_add(control_group(session.pk), call_channel)
    tap = ListenTap(layer=layer, session_id=session.pk)
    listener = communicator(await staff(owner), session.pk)
    assert (await listener.connect())[0]
    tap.join((await layer.receive(call_channel))["channel"])

    await listener.disconnect()
    left = await layer.receive(call_channel)

    assert left["type"] == "listen.leave"
    tap.leave(left["channel"])
    await tap.feed(INBOUND, b"\xff" * FLUSH_BYTES)
    assert tap.sent == 0
    assert not tap.listening


async def test_a_listener_attached_before_the_stream_answers_the_calls_probe(acme, owner):
    session = await live_session(acme)
    layer = get_channel_layer()
    listener = communicator(await staff(owner), session.pk)
    assert (await listener.connect())[0]  # nobody on the control group yet: the join is lost
    call_channel = await layer.new_channel()
    await layer.group_add(control_group(session.pk), call_channel)

    await ListenTap(layer=layer, session_id=session.pk).probe()

    assert (await layer.receive(call_channel))["type"] == "listen.join"
    await listener.disconnect()


class RecordingLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


async def test_the_live_call_copies_frames_only_while_someone_listens():
    layer = RecordingLayer()
    consumer = LiveCallConsumer()
    consumer.tap = ListenTap(layer=layer, session_id=7)
    sent_to_twilio: list[str] = []

    async def send(text_data: str | None = None, **kwargs: Any) -> None:
        assert text_data is not None
        sent_to_twilio.append(text_data)

    consumer.send = send  # type: ignore[method-assign]
    agent = {"event": "media", "streamSid": "MZ1", "media": {"payload": ""}}
    agent["media"]["payload"] = base64.b64encode(b"\x01" * FLUSH_BYTES).decode()

    # Nobody listens: frames go to Twilio and nowhere else.
    await consumer.on_media(b"\x02" * FLUSH_BYTES, {})
    await consumer._send_message(agent)
    assert layer.sent == []

    await consumer.listen_join({"channel": "listener-1"})
    await consumer.on_media(b"\x02" * FLUSH_BYTES, {})
    await consumer._send_message(agent)
    await consumer._send_message({"event": "mark", "mark": {"name": "m1"}})

    assert [(group, m["direction"], m["audio"][:1]) for group, m in layer.sent] == [
        ("call-listen.7", INBOUND, b"\x02"),
        ("call-listen.7", OUTBOUND, b"\x01"),
    ]
    assert len(sent_to_twilio) == 3
    assert json.loads(sent_to_twilio[-1])["event"] == "mark"

    await consumer.listen_leave({"channel": "listener-1"})
    await consumer.on_media(b"\x02" * FLUSH_BYTES, {})
    assert len(layer.sent) == 2
