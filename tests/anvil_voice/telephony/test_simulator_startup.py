"""A simulator that cannot listen fails cleanly: no unclosed aiohttp session, a clear message."""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from simulator_support import ACCOUNT_SID, AUTH_TOKEN

from anvil_voice.telephony.simulator import TwilioSimulator


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


async def test_a_failed_start_closes_the_client_session(taken_port: int) -> None:
    simulator = TwilioSimulator(ACCOUNT_SID, AUTH_TOKEN, port=taken_port)

    with pytest.raises(OSError, match="address already in use"):
        await simulator.start()

    session = simulator._session
    assert session is None or session.closed


def test_the_command_reports_a_taken_port_without_an_unclosed_session(
    taken_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="asyncio"),
        pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{taken_port}"),
    ):
        call_command("twilio_simulator", "--port", str(taken_port))
    gc.collect()

    assert "Unclosed client session" not in caplog.text
