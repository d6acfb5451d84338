"""The HTTP connection of a webhook delivery: to the addresses that were checked, nothing else.

The delivery resolves the receiver's host name once and refuses internal addresses. If the HTTP
client then resolved the name again, a receiver with a short-lived DNS answer could pass the
check with a public address and be reached at 127.0.0.1 or 10.x (DNS rebinding). So the client
never resolves: its socket goes to the checked addresses, while the URL, and with it the Host
header, TLS SNI and certificate verification, keeps the original host name.

Connection errors are told to the tenant in a few fixed sentences: the exception text can name
addresses and ports, and its varieties would let a tenant map what listens where.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable, Sequence

import httpcore
import httpx


class PinnedNetworkBackend(httpcore.SyncBackend):
    """Opens TCP connections to `addresses` (in order, first that answers), whatever the host."""

    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("a pinned connection needs at least one address")
        self.addresses = tuple(addresses)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # `host` is the URL's name; httpcore still passes it as the TLS server_hostname, so the
        # certificate is checked for the name the tenant registered, not for our address.
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self.addresses:
            try:
                return super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # the constructor refuses an empty list
        raise failure


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms, paid on every delivery and every HTTP tool call
    # (a call waits for its tool) when each client built its own; a context is safe to share
    # between threads and connections, so the process builds one.
    return httpx.create_ssl_context(trust_env=False)


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go to `addresses` only; no proxy from the
    environment (a proxy would resolve the name itself)."""

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__(verify=_tls_context(), trust_env=False)
        # httpx takes no network backend, its connection pool (httpcore's) does: replace the
        # pool the base class built with one that connects through the pinned backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls_context(),
            network_backend=PinnedNetworkBackend(addresses),
        )


def pinned_client(addresses: Sequence[str], *, timeout: httpx.Timeout) -> httpx.Client:
    return httpx.Client(
        transport=PinnedTransport(addresses),
        timeout=timeout,
        follow_redirects=False,  # a redirect could name any host, unchecked
        trust_env=False,
    )


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def delivery_error_text(exc: httpx.HTTPError) -> str:
    """What the tenant's delivery log says about a failed request: no address, port or errno."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "Timed out connecting to the receiver."
    if isinstance(exc, httpx.ConnectError):
        if _caused_by_tls(exc):
            return "The TLS handshake with the receiver failed (is its certificate valid?)."
        return "Could not connect to the receiver (connection refused or unreachable)."
    if isinstance(exc, httpx.TimeoutException):
        return "Timed out waiting for the receiver's response."
    if isinstance(exc, httpx.RemoteProtocolError):
        return "The receiver closed the connection or answered with invalid HTTP."
    return "The request to the receiver failed."
