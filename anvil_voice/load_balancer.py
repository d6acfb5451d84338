"""`make run-cluster`'s load balancer: a TCP round-robin proxy in front of the web processes.

It works at the TCP level: each client connection goes, whole, to the next web process in turn,
and bytes are copied both ways until either side closes. HTTP keep-alive connections, and
websocket upgrades (a Media Stream, the live monitor), therefore pass through untouched: the
upgrade is just bytes on a connection already bound to one backend. A backend that refuses the
connection (stopped, restarting) is skipped for the next one, so killing a web process only
fails the connections it held.

Written here rather than taken from PyPI: it is ~100 lines of asyncio with no dependency, and
the light proxies on PyPI are either HTTP-only (no websocket pass-through) or unmaintained.
Production puts a real load balancer here (nginx, HAProxy, a cloud LB): docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import Sequence

logger = logging.getLogger("anvil_voice.load_balancer")

COPY_CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0


class RoundRobinProxy:
    """Listens on `host:port` and hands each connection to the next of `backends` in turn."""

    def __init__(self, backends: Sequence[tuple[str, int]]) -> None:
        if not backends:
            raise ValueError("The load balancer needs at least one backend.")
        self.backends = list(backends)
        self._turn = itertools.cycle(range(len(self.backends)))
        # Logged once when a backend goes down and once when it is back, not per connection.
        self.down: set[tuple[str, int]] = set()
        self.server: asyncio.Server | None = None

    def next_backends(self) -> list[tuple[str, int]]:
        """Every backend, starting with the one whose turn it is (the rest are fallbacks)."""
        first = next(self._turn)
        return self.backends[first:] + self.backends[:first]

    async def start(self, host: str, port: int) -> asyncio.Server:
        self.server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        return self.server

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _connect(
        self,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for host, port in self.next_backends():
            try:
                connection = await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT_SECONDS
                )
            except (OSError, TimeoutError):
                if (host, port) not in self.down:
                    self.down.add((host, port))
                    logger.warning("load_balancer_backend_down backend=%s:%s", host, port)
                continue
            if (host, port) in self.down:
                self.down.discard((host, port))
                logger.warning("load_balancer_backend_up backend=%s:%s", host, port)
            return connection
        return None

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        backend = await self._connect()
        if backend is None:
            # Every web process is down: close the connection, as a real load balancer's 502
            # would, without inventing an HTTP answer at the TCP level.
            client_out.close()
            return
        backend_in, backend_out = backend
        await asyncio.gather(
            _copy(client_in, backend_out), _copy(backend_in, client_out), return_exceptions=True
        )
        for writer in (client_out, backend_out):
            writer.close()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until `source` ends, then half-close `sink` so the other side sees the end too."""
    try:
        while chunk := await source.read(COPY_CHUNK_BYTES):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        # One side went away: close both, so the other side's copy ends as well.
        sink.close()


def parse_backend(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


async def _main(host: str, port: int, backends: list[tuple[str, int]]) -> None:
    proxy = RoundRobinProxy(backends)
    server = await proxy.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("backends", nargs="+", type=parse_backend, help="host:port ...")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port, args.backends))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
