"""The REST-side simulator the carrier's tests share (one per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_carrier_harness import NOWHERE, SimulatorThread, point_settings_at


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    # Callbacks and streams go nowhere: the carrier's tests look at the REST side only.
    # Modules that need the whole call (webhooks, media) define their own.
    with SimulatorThread() as simulator:
        yield simulator


@pytest.fixture
def twilio_settings(settings, simulator):  # type: ignore[no-untyped-def]
    return point_settings_at(settings, simulator, NOWHERE)


@pytest.fixture
def long_time_limit(settings) -> None:  # type: ignore[no-untyped-def]
    # The simulator scales Twilio's time limit down (1000 s → 10 s): these tests hang up well
    # before it, and must not race it on a loaded machine.
    settings.TWILIO_TIME_LIMIT_SECONDS = 1000
