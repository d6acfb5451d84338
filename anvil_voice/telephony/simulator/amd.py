"""Answering machine detection: what Twilio would decide for a persona, and when."""

from __future__ import annotations

import asyncio
import contextlib
import time

from .call_audio import CallAudio
from .callee import LineCallee
from .calls import CallRequest
from .personas import MACHINE, SILENT, Persona

# Twilio's DetectMessageEnd waits for the beep; plain Enable decides within a couple of
# seconds of greeting (real audio time, since it listens to the greeting).
MACHINE_START_SECONDS = 1.5
# After a human's "Hello?" Twilio needs a little silence to decide (scaled).
HUMAN_DECISION_SECONDS = 0.4
# Nobody speaks: Twilio gives up with `unknown` (scaled, capped by MachineDetectionTimeout).
SILENCE_DECISION_SECONDS = 5.0


async def detect(
    *,
    persona: Persona,
    callee: LineCallee,
    call_audio: CallAudio,
    request: CallRequest,
    time_scale: float,
) -> tuple[str, int]:
    """The `AnsweredBy` value and `MachineDetectionDuration` (ms) for this persona."""
    started = time.monotonic()
    if persona.answerer == MACHINE:
        if request.machine_detection == "DetectMessageEnd":
            try:
                await asyncio.wait_for(callee.beep_done.wait(), request.machine_detection_timeout)
                answered_by = "machine_end_beep"
            except TimeoutError:
                answered_by = "machine_end_other"
        else:
            await call_audio.wait_frames(round(MACHINE_START_SECONDS / 0.02))
            answered_by = "machine_start"
    elif persona.answerer == SILENT:
        limit = min(SILENCE_DECISION_SECONDS, request.machine_detection_timeout)
        await asyncio.sleep(limit * time_scale)
        answered_by = "unknown"
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(callee.first_line_done.wait(), 5.0)
        await asyncio.sleep(HUMAN_DECISION_SECONDS * time_scale)
        answered_by = "human"
    return answered_by, round((time.monotonic() - started) * 1000)
