"""`make run-cluster`'s load balancer: connections go to the backends in turn, a backend that
is down is skipped, and a websocket upgrade passes through to one backend and stays there."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import websockets

from anvil_voice.load_balancer import RoundRobinProxy, parse_backend


async def _http_backend(name: str) -> asyncio.Server:
    """A tiny HTTP server that answers every request with its own name."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = name.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def _get(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return response.split(b"\r\n\r\n", 1)[1].decode()


@pytest.fixture
async def backends() -> AsyncIterator[list[asyncio.Server]]:
    servers = [await _http_backend("a"), await _http_backend("b")]
    yield servers
    for server in servers:
        server.close()


async def _proxy(ports: list[int]) -> RoundRobinProxy:
    proxy = RoundRobinProxy([("127.0.0.1", port) for port in ports])
    await proxy.start("127.0.0.1", 0)
    return proxy


async def test_connections_go_to_the_backends_in_turn(backends: list[asyncio.Server]) -> None:
    proxy = await _proxy([_port(server) for server in backends])
    try:
        answers = [await _get(proxy.port) for _ in range(4)]
    finally:
        assert proxy.server is not None
        proxy.server.close()

    assert answers == ["a", "b", "a", "b"]


async def test_a_backend_that_is_down_is_skipped(backends: list[asyncio.Server]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = int(probe.getsockname()[1])
    proxy = await _proxy([dead, _port(backends[1])])
    try:
        answers = [await _get(proxy.port) for _ in range(3)]
    finally:
        assert proxy.server is not None
        proxy.server.close()

    assert answers == ["b", "b", "b"]
    assert proxy.down == {("127.0.0.1", dead)}  # noted once, logged once


async def test_a_websocket_upgrade_passes_through_to_one_backend() -> None:
    def echo_as(name: str):  # type: ignore[no-untyped-def]
        async def echo(connection) -> None:  # type: ignore[no-untyped-def]
            async for message in connection:
                await connection.send(f"{name}:{message}")

        return echo

    first = await websockets.serve(echo_as("a"), "127.0.0.1", 0)
    second = await websockets.serve(echo_as("b"), "127.0.0.1", 0)
    proxy = await _proxy([_port(first), _port(second)])  # type: ignore[arg-type]
    try:
        replies = []
        for _ in range(2):
            async with websockets.connect(f"ws://127.0.0.1:{proxy.port}/stream") as client:
                for frame in ("one", "two"):
                    await client.send(frame)
                    replies.append(await asyncio.wait_for(client.recv(), 10))
    finally:
        assert proxy.server is not None
        proxy.server.close()
        first.close()
        second.close()

    # Each socket stays on the backend it was upgraded on; the next socket goes to the other.
    assert replies == ["a:one", "a:two", "b:one", "b:two"]


def test_backends_are_parsed_from_host_port() -> None:
    assert parse_backend("127.0.0.1:8001") == ("127.0.0.1", 8001)
    assert parse_backend(":8002") == ("127.0.0.1", 8002)
    with pytest.raises(ValueError, match="at least one backend"):
        RoundRobinProxy([])
