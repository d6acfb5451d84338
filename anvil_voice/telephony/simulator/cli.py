"""Running the simulator as a process: shared by `python -m` and the management command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .server import TwilioSimulator

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "embedded-simulator-auth-token"
DEFAULT_PORT = 8010


def parse_rewrite(value: str) -> tuple[str, str]:
    """`PUBLIC=LOCAL`, e.g. `wss://public.example=ws://127.0.0.1:8000`."""
    public, separator, local = value.partition("=")
    if not separator or not public or not local:
        raise argparse.ArgumentTypeError("expected PUBLIC_PREFIX=LOCAL_PREFIX")
    return public, local


def add_arguments(parser: argparse.ArgumentParser, *, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--cps", type=float, default=1.0, help="calls per second (queue above)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiplier for ring/AMD/callback delays (audio is always real time)",
    )
    parser.add_argument(
        "--rewrite",
        type=parse_rewrite,
        action="append",
        default=[],
        metavar="PUBLIC=LOCAL",
        help="connect to LOCAL for URLs starting with PUBLIC (signatures use PUBLIC)",
    )


async def serve(simulator: TwilioSimulator) -> None:
    """Run until SIGINT/SIGTERM."""
    await simulator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    print(f"Twilio simulator listening on {simulator.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await simulator.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m anvil_voice.telephony.simulator", description="Local Twilio simulator"
    )
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    add_arguments(parser, port=DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    simulator = TwilioSimulator(
        args.account_sid,
        args.auth_token,
        host=args.host,
        port=args.port,
        cps=args.cps,
        time_scale=args.time_scale,
        url_rewrites=args.rewrite,
    )
    asyncio.run(serve(simulator))
