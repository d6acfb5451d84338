"""Writes for customer webhooks: endpoints, emitting events and one delivery attempt.

Deliveries are rows first: `webhook_emit` records one per subscribed endpoint and hands it to a
Celery task after commit. An attempt claims its row with a conditional update (status pending
and due), so a redelivered task or the retry sweep can never send the same attempt twice.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from anvil_voice.webhooks.signing import SIGNATURE_HEADER, webhook_signature
from anvil_voice.webhooks.tasks import webhook_deliver_task
from anvil_voice.webhooks.transport import delivery_error_text, pinned_client

logger = logging.getLogger("anvil_voice.webhooks")

# Wait after the 1st..5th failed attempt; the 6th failure is final.
RETRY_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
# A claimed attempt is due again after this long if its worker dies mid-request.
CLAIM_LEASE = timedelta(minutes=2)
DELIVERY_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _allow_http_localhost() -> bool:
    return bool(settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST)


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True)
class WebhookTarget:
    """What a receiver's host name resolved to, checked: connect to these `addresses` only
    (empty when the name does not resolve now), unless `refusal` says why not at all."""

    addresses: tuple[str, ...] = ()
    refusal: str | None = None


def webhook_target_resolve(host: str) -> WebhookTarget:
    """Resolve `host` once and refuse it if any answer is an internal address.

    A customer's URL must never make our servers reach our own network (metadata service,
    databases, the admin): server-side request forgery. Checked when the URL is registered and
    again right before every delivery, since DNS answers change; the delivery then connects to
    these very addresses (anvil_voice/webhooks/transport.py), so a second, different DNS answer
    (rebinding) is never used. A name that does not resolve now is not refused here (the
    delivery fails and retries).
    """
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return WebhookTarget()
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if host in LOCAL_HOSTS and _allow_http_localhost():
        return WebhookTarget(addresses=tuple(addresses))  # development: a local receiver
    for address in addresses:
        if _internal(address):
            return WebhookTarget(refusal=f"{host} is an internal address ({address}).")
    return WebhookTarget(addresses=tuple(addresses))


def webhook_target_refusal(host: str) -> str | None:
    return webhook_target_resolve(host).refusal


def webhook_url_errors(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        if webhook_target_refusal(parts.hostname):
            return ["Must not point to a private, loopback or link-local address."]
        return []
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and _allow_http_localhost():
        return []
    return ["Must be an https:// URL."]


def webhook_endpoint_errors(*, url: str, events: Any) -> dict[str, list[str]]:
    """Everything wrong with an endpoint, by field: the one check for the API and the admin
    form (the admin once saved plain http and private addresses the API refused)."""
    errors: dict[str, list[str]] = {}
    if url_errors := webhook_url_errors(url):
        errors["url"] = url_errors
    known = set(WebhookEvent.values)
    if not events:
        errors["events"] = ["Subscribe to at least one event."]
    elif not isinstance(events, list) or not all(isinstance(event, str) for event in events):
        errors["events"] = ['Give a list of event names, e.g. ["session.completed"].']
    elif unknown := sorted(set(events) - known):
        errors["events"] = [f"Unknown event: {', '.join(unknown)}."]
    return errors


def webhook_endpoint_create(
    *, organization: Organization, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    if errors := webhook_endpoint_errors(url=url, events=events):
        raise ValidationError(errors)
    return WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        events=sorted(set(events)),
        description=description,
    )


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def _enqueue(delivery_id: int) -> None:
    webhook_deliver_task.delay(delivery_id)


def webhook_emit(
    *, organization: Organization, event: str, payload: dict[str, Any]
) -> list[WebhookDelivery]:
    """Record `event` for every active endpoint subscribed to it; deliver after commit."""
    if event not in WebhookEvent.values:
        raise ValueError(f"unknown webhook event {event!r}")
    # JSON now, so a payload that cannot be sent fails the caller, not a worker later.
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(organization=organization, active=True)
        if event in endpoint.events
    ]
    deliveries = []
    with transaction.atomic():
        for endpoint in endpoints:
            delivery = WebhookDelivery.objects.create(
                organization=organization, endpoint=endpoint, event=event, payload=payload
            )
            deliveries.append(delivery)
            transaction.on_commit(partial(_enqueue, delivery.pk))
    return deliveries


def webhook_body(delivery: WebhookDelivery) -> bytes:
    document = {
        "id": str(delivery.event_id),
        "type": delivery.event,
        "createdAt": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": delivery.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt if the delivery is pending and due; None when there was nothing to do."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_retry_at__lte=now
    ).update(next_retry_at=now + CLAIM_LEASE, updated_at=now)
    if claimed != 1:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    body = webhook_body(delivery)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AnvilVoice-Webhooks/1.0",
        "X-Anvil-Event": delivery.event,
        "X-Anvil-Delivery": str(delivery.event_id),
        SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
    }
    code: int | None = None
    error = ""
    started = time.monotonic()
    if not endpoint.active:
        error = "The endpoint is disabled."
    elif (target := webhook_target_resolve(urlsplit(endpoint.url).hostname or "")).refusal:
        error = f"Not sent: {target.refusal}"[:500]
    elif not target.addresses:
        error = "Could not resolve the receiver's host name."
    else:
        try:
            with pinned_client(target.addresses, timeout=DELIVERY_TIMEOUT) as client:
                response = client.post(endpoint.url, content=body, headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"The receiver answered HTTP {code}."
        except httpx.HTTPError as exc:
            error = delivery_error_text(exc)
            # The detail is for operators (our logs), never the tenant's delivery log.
            logger.info("webhook_request_failed delivery=%s error=%r", delivery.pk, exc)
    duration_ms = int((time.monotonic() - started) * 1000)

    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "response_code": code,
        "last_error": error,
        "updated_at": timezone.now(),
    }
    if not error:
        fields.update(
            status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), next_retry_at=None
        )
    elif attempts >= MAX_ATTEMPTS or not endpoint.active:
        fields.update(status=DeliveryStatus.FAILED, next_retry_at=None)
    else:
        fields.update(next_retry_at=now + RETRY_BACKOFF[attempts - 1])
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=attempts,
            at=now,
            response_code=code,
            error=error,
            duration_ms=duration_ms,
        )
    logger.info(
        "webhook_attempt delivery=%s event=%s attempt=%s code=%s ok=%s",
        delivery.pk,
        delivery.event,
        attempts,
        code,
        not error,
    )
    delivery.refresh_from_db()
    return delivery


def webhook_due_delivery_ids(*, limit: int = 500) -> list[int]:
    """Pending deliveries whose retry time has come (the sweep's safety net for lost tasks)."""
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_retry_at__lte=timezone.now()
        )
        .order_by("next_retry_at")
        .values_list("pk", flat=True)[:limit]
    )
