"""The live monitor: staff see their own organization's call events, nobody else's."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from sessions.live.groups import abroadcast
from sessions.live.monitor import LiveMonitorConsumer

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://testserver")]


def communicator(user, headers=ORIGIN) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    app = LiveMonitorConsumer.as_asgi()
    comm = WebsocketCommunicator(app, "/ws/monitor/", headers=headers)
    comm.scope["user"] = user
    return comm


async def make_staff(persona):  # type: ignore[no-untyped-def]
    user = persona.membership.user

    def promote() -> None:
        user.is_staff = True
        user.save()

    await sync_to_async(promote)()
    return user


async def test_it_streams_the_organizations_call_events(owner, outsider):
    mine = communicator(await make_staff(owner))
    theirs = communicator(await make_staff(outsider))
    assert (await mine.connect())[0]
    assert (await theirs.connect())[0]
    assert (await mine.receive_json_from())["type"] == "subscribed"
    assert (await theirs.receive_json_from())["type"] == "subscribed"

    await abroadcast(
        organization_id=owner.organization.pk,
        session_id=7,
        campaign_id=None,
        event={"type": "turn", "speaker": "contact", "text": "Yes, sign me up."},
    )

    assert await mine.receive_json_from(timeout=2) == {
        "type": "turn",
        "speaker": "contact",
        "text": "Yes, sign me up.",
        "sessionId": 7,
    }
    assert await theirs.receive_nothing(timeout=0.3)
    await mine.disconnect()
    await theirs.disconnect()


async def test_it_ignores_what_the_page_sends_without_parsing_it(owner):
    # 400 000 nested "[" made the JSON decoder raise RecursionError and killed the socket.
    ws = communicator(await make_staff(owner))
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "subscribed"

    await ws.send_to(text_data="[" * 400_000)
    await ws.send_to(text_data="not json")
    await ws.send_to(bytes_data=b"\x00")
    await abroadcast(
        organization_id=owner.organization.pk,
        session_id=8,
        campaign_id=None,
        event={"type": "turn", "speaker": "agent", "text": "Still here."},
    )

    assert (await ws.receive_json_from(timeout=2))["text"] == "Still here."
    await ws.disconnect()


async def test_it_refuses_anonymous_and_non_staff_users(owner):
    anonymous = communicator(AnonymousUser())
    member = communicator(owner.membership.user)

    assert (await anonymous.connect())[0] is False
    assert (await member.connect())[0] is False


async def test_it_refuses_a_foreign_origin(owner):
    user = await make_staff(owner)
    foreign = communicator(user, headers=[(b"origin", b"https://evil.example")])
    missing = communicator(user, headers=[])

    assert (await foreign.connect())[0] is False
    assert (await missing.connect())[0] is False


def test_it_renders_the_monitor_page_for_staff(client, owner):
    user = owner.membership.user
    user.is_staff = True
    user.save()
    client.force_login(user)

    response = client.get("/admin/live/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "Live calls" in content
    assert "anvil/live_monitor.js" in content
