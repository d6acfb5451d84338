"""Webhook deliveries connect to the address that passed the SSRF check (issue 15, item 8).

A name whose DNS answer flips between the check and the connection (DNS rebinding) must never
reach a local server, and the tenant's delivery log never names addresses or ports.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from anvil_voice.webhooks import services
from anvil_voice.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from anvil_voice.webhooks.tasks import webhook_deliver_task

PUBLIC_ADDRESS = "93.184.216.34"  # a global address; never really connected to in these tests
real_getaddrinfo = socket.getaddrinfo
real_create_connection = socket.create_connection


@dataclass
class LocalServer:
    """An HTTP server on 127.0.0.1 that counts every connection it accepts."""

    port: int = 0
    connections: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(dict(self.headers))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    class CountingServer(ThreadingHTTPServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            state.connections += 1
            return True

    server = CountingServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Network:
    """Fake DNS for one name and a fake route for PUBLIC_ADDRESS; everything else is real."""

    name: str
    answers: list[str]
    lookups: int = 0
    connected_to: list[tuple[str, int]] = field(default_factory=list)
    route_public_to_local: bool = False

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != self.name:
            return real_getaddrinfo(host, port, *args, **kwargs)
        answer = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port or 0)))]

    def create_connection(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        self.connected_to.append(address)
        if address[0] == PUBLIC_ADDRESS:
            if not self.route_public_to_local:
                raise ConnectionRefusedError(111, "Connection refused")
            address = ("127.0.0.1", address[1])
        return real_create_connection(address, *args, **kwargs)


def network(monkeypatch, name: str, answers: list[str]) -> Network:
    fake = Network(name=name, answers=answers)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", fake.create_connection)
    return fake


def deliver_once(persona, url: str) -> WebhookDelivery:
    # Straight to the model: the endpoint was registered while its name looked harmless.
    WebhookEndpoint.objects.create(
        organization=persona.organization, url=url, events=["session.completed"]
    )
    [delivery] = services.webhook_emit(
        organization=persona.organization, event="session.completed", payload={"n": 1}
    )
    webhook_deliver_task(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it(
    owner, settings, monkeypatch, local_server
):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False
    # Public for the check, 127.0.0.1 for anyone who asks again.
    fake = network(monkeypatch, "rebind.customer.test", [PUBLIC_ADDRESS, "127.0.0.1"])

    delivery = deliver_once(owner, f"https://rebind.customer.test:{local_server.port}/hook")

    assert local_server.connections == 0
    assert fake.lookups == 1
    assert fake.connected_to == [(PUBLIC_ADDRESS, local_server.port)]
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error == (
        "Could not connect to the receiver (connection refused or unreachable)."
    )


def test_a_pinned_delivery_sends_the_registered_host_name(
    owner, settings, monkeypatch, local_server
):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False
    fake = network(monkeypatch, "hooks.customer.test", [PUBLIC_ADDRESS, "10.0.0.5"])
    fake.route_public_to_local = True  # the public address leads to our test receiver

    delivery = deliver_once(owner, f"http://hooks.customer.test:{local_server.port}/hook")

    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.response_code == 204
    assert fake.lookups == 1
    assert fake.connected_to == [(PUBLIC_ADDRESS, local_server.port)]
    [headers] = local_server.requests
    assert headers["Host"] == f"hooks.customer.test:{local_server.port}"


def test_a_refused_connection_is_logged_without_address_or_port(owner, settings):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    delivery = deliver_once(owner, f"http://127.0.0.1:{port}/hook")

    assert delivery.last_error == (
        "Could not connect to the receiver (connection refused or unreachable)."
    )
    assert str(port) not in delivery.last_error
    assert "127.0.0.1" not in delivery.last_error
    assert "Errno" not in delivery.last_error


def test_a_name_that_does_not_resolve_is_retried_with_a_plain_message(owner, settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False

    def no_answer(*_: Any, **__: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_answer)

    delivery = deliver_once(owner, "https://gone.customer.test/hook")

    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error == "Could not resolve the receiver's host name."
