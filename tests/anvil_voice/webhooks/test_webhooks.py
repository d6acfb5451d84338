"""Customer webhooks: the endpoints API, signed deliveries to a real local receiver, retries."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from django.utils import timezone

from anvil_voice.webhooks import services
from anvil_voice.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from anvil_voice.webhooks.signing import webhook_signature, webhook_signature_valid
from anvil_voice.webhooks.tasks import webhook_deliver_task, webhook_retry_due_task
from sessions.factories import CallSessionFactory
from sessions.models import CallStatus, Outcome
from sessions.signals import session_finished

WEBHOOKS = "/api/v1/voice/webhooks"


@pytest.fixture(autouse=True)
def _settings(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1, in its own thread, recording what it received."""

    url: str = ""
    status: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        state.received.append((dict(request.headers), await request.read()))
        return web.Response(status=state.status, text="ok")

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/hook"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield state
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def endpoint_for(persona, url: str, events=("session.completed",)) -> WebhookEndpoint:
    return services.webhook_endpoint_create(
        organization=persona.organization, url=url, events=list(events)
    )


def test_it_creates_lists_and_deletes_endpoints_showing_the_secret_once(owner, outsider):
    created = owner.client.post(
        WEBHOOKS,
        {"url": "https://hooks.example.com/anvil", "events": ["session.completed"]},
        format="json",
    )
    endpoint = WebhookEndpoint.objects.get()
    listed = owner.client.get(WEBHOOKS)
    hidden = outsider.client.delete(f"{WEBHOOKS}/{endpoint.pk}")
    deleted = owner.client.delete(f"{WEBHOOKS}/{endpoint.pk}")

    shape = {
        "id": endpoint.pk,
        "url": "https://hooks.example.com/anvil",
        "description": "",
        "events": ["session.completed"],
        "active": True,
        "createdAt": endpoint.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert created.status_code == 201
    assert created.json() == {"success": True, "data": {**shape, "secret": endpoint.secret}}
    assert endpoint.secret.startswith("whsec_")
    assert len(endpoint.secret) == 6 + 64
    assert listed.json() == {
        "success": True,
        "data": [shape],
        "meta": {"total": 1, "cursor": None, "hasMore": False},
    }
    assert outsider.client.get(WEBHOOKS).json()["data"] == []
    assert hidden.status_code == 404
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"url": "http://hooks.example.com/x", "events": ["session.completed"]},
            {"url": ["Must be an https:// URL."]},
        ),
        ({"url": "not a url", "events": ["session.completed"]}, {"url": ["Enter a valid URL."]}),
        (
            {"url": "https://hooks.example.com", "events": ["session.started"]},
            {"events": {"0": ['"session.started" is not a valid choice.']}},
        ),
        (
            {"url": "https://hooks.example.com", "events": []},
            {"events": ["This list may not be empty."]},
        ),
        (
            {"url": "https://hooks.example.com", "events": ["campaign.completed"], "secret": "x"},
            {"secret": ["Unknown field."]},
        ),
    ],
)
def test_it_refuses_bad_endpoints(owner, body, details):
    response = owner.client.post(WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == details
    assert not WebhookEndpoint.objects.exists()


def test_it_allows_plain_http_only_to_localhost_when_configured(owner, settings):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False
    body = {"url": "http://127.0.0.1:9/hook", "events": ["session.completed"]}

    refused = owner.client.post(WEBHOOKS, body, format="json")
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True
    allowed = owner.client.post(WEBHOOKS, body, format="json")

    assert refused.status_code == 400
    assert allowed.status_code == 201


def test_it_lets_only_writers_manage_endpoints(owner, viewer):
    endpoint = endpoint_for(owner, "https://hooks.example.com/a")

    created = viewer.client.post(
        WEBHOOKS, {"url": "https://x.example.com", "events": ["session.completed"]}, format="json"
    )
    deleted = viewer.client.delete(f"{WEBHOOKS}/{endpoint.pk}")

    assert viewer.client.get(WEBHOOKS).status_code == 200
    assert created.status_code == 403
    assert deleted.status_code == 403
    assert WebhookEndpoint.objects.count() == 1


def test_it_signs_and_delivers_session_completed(
    owner, outsider, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(owner, receiver.url)
    endpoint_for(owner, receiver.url, events=["campaign.completed"])
    endpoint_for(outsider, receiver.url)
    session = CallSessionFactory(
        organization=owner.organization,
        status=CallStatus.COMPLETED,
        outcome=Outcome.INTERESTED,
        summary="Wants a quote.",
        extracted={"interest": "high"},
        duration_seconds=42,
    )

    with django_capture_on_commit_callbacks(execute=True):
        session_finished.send(sender=type(session), session=session)

    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == endpoint
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.response_code == 200
    assert delivery.next_retry_at is None
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Anvil-Event"] == "session.completed"
    assert headers["X-Anvil-Delivery"] == str(delivery.event_id)
    timestamp = int(headers["X-Anvil-Signature"].split(",")[0].removeprefix("t="))
    assert headers["X-Anvil-Signature"] == webhook_signature(
        secret=endpoint.secret, timestamp=timestamp, body=body
    )
    assert webhook_signature_valid(
        secret=endpoint.secret, header=headers["X-Anvil-Signature"], body=body, now=int(time.time())
    )
    assert not webhook_signature_valid(
        secret="whsec_wrong", header=headers["X-Anvil-Signature"], body=body, now=int(time.time())
    )
    document = json.loads(body)
    assert document["id"] == str(delivery.event_id)
    assert document["type"] == "session.completed"
    assert document["data"]["id"] == session.pk
    assert document["data"]["outcome"] == "interested"
    assert document["data"]["durationSeconds"] == 42
    assert document["data"]["summary"] == "Wants a quote."
    assert document["data"]["extracted"] == {"interest": "high"}
    assert list(WebhookAttempt.objects.values_list("number", "response_code", "error")) == [
        (1, 200, "")
    ]


def test_it_schedules_retries_with_backoff_then_delivers(
    owner, receiver, django_capture_on_commit_callbacks
):
    endpoint_for(owner, receiver.url, events=["campaign.completed"])
    receiver.status = 500

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = services.webhook_emit(
            organization=owner.organization, event="campaign.completed", payload={"campaign": 7}
        )
    delivery.refresh_from_db()

    # One attempt ran; the retry message was early and did nothing.
    assert len(receiver.received) == 1
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert delivery.response_code == 500
    assert delivery.last_error == "The receiver answered HTTP 500."
    assert before + timedelta(minutes=1) <= delivery.next_retry_at
    assert delivery.next_retry_at <= timezone.now() + timedelta(minutes=1)

    # Not due yet: the sweep leaves it alone.
    assert webhook_retry_due_task() == 0
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_retry_at=timezone.now())
    webhook_deliver_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.next_retry_at > timezone.now() + timedelta(minutes=4)

    receiver.status = 204
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_retry_at=timezone.now())
    assert webhook_retry_due_task() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    assert delivery.response_code == 204
    assert delivery.last_error == ""
    assert len(receiver.received) == 3
    # Every attempt carries the same event id, so receivers can drop duplicates.
    assert len({headers["X-Anvil-Delivery"] for headers, _ in receiver.received}) == 1


def test_it_gives_up_after_six_attempts(owner):
    # Nothing listens on port 9 (discard): every attempt is a connection error.
    endpoint_for(owner, "http://127.0.0.1:9/hook")
    [delivery] = services.webhook_emit(
        organization=owner.organization, event="session.completed", payload={}
    )

    for _ in range(6):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_retry_at=timezone.now())
        webhook_deliver_task(delivery.pk)
    delivery.refresh_from_db()

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 6
    assert delivery.next_retry_at is None
    assert delivery.last_error.startswith("Could not connect to the receiver")
    assert services.webhook_deliver(delivery_id=delivery.pk) is None
    assert list(
        WebhookAttempt.objects.filter(delivery=delivery).values_list("number", flat=True)
    ) == [1, 2, 3, 4, 5, 6]


def test_it_skips_inactive_endpoints_and_unknown_events(owner):
    endpoint = endpoint_for(owner, "https://hooks.example.com/a")
    endpoint.active = False
    endpoint.save()

    assert (
        services.webhook_emit(
            organization=owner.organization, event="session.completed", payload={}
        )
        == []
    )
    with pytest.raises(ValueError, match="unknown webhook event"):
        services.webhook_emit(organization=owner.organization, event="session.started", payload={})


def test_it_never_lets_a_webhook_failure_break_the_finished_call(owner, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr("sessions.webhook_events.webhook_emit", broken)
    session = CallSessionFactory(organization=owner.organization)

    session_finished.send(sender=type(session), session=session)

    assert "webhook_emit_failed event=session.completed" in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_it_refuses_endpoints_on_internal_addresses(owner, settings, url):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False
    response = owner.client.post(
        WEBHOOKS, {"url": url, "events": ["session.completed"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "url": ["Must not point to a private, loopback or link-local address."]
    }
    assert not WebhookEndpoint.objects.exists()


def test_a_delivery_to_an_address_that_turned_internal_is_not_sent(owner, settings):
    # Registered before the check existed, or a name whose DNS answer changed since.
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False
    WebhookEndpoint.objects.create(
        organization=owner.organization,
        url="https://169.254.169.254/latest",
        events=["session.completed"],
    )
    [delivery] = services.webhook_emit(
        organization=owner.organization, event="session.completed", payload={}
    )

    webhook_deliver_task(delivery.pk)
    delivery.refresh_from_db()

    assert delivery.attempts == 1
    assert delivery.last_error.startswith("Not sent: 169.254.169.254 is an internal address")
    assert WebhookAttempt.objects.get(delivery=delivery).response_code is None
