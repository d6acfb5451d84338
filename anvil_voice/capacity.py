"""How many live calls a deployment's speech can hold: the defaults behind the settings.

A live call keeps recognition (STT) and synthesis (TTS) busy for as long as it lasts. With the
local stack (Piper + faster-whisper) both run on this machine's CPU, so what a process can hold
grows with the cores it may use; past that, every call gets slower together (issue 14 measured
5-7 s recognition finals at 5 calls on 2 cores), so the dialler keeps calls queued instead.
With cloud speech the CPU only moves audio frames, and the providers' concurrency limits
(per API key, set by the account's plan) are the bound, far above a CPU's.

Pure functions of their arguments, read by `anvil_voice.settings`, so tests can check the
derivation without reloading settings.
"""

from __future__ import annotations

from anvil_voice.env import Env

# Live calls one usable core holds with local speech, measured (`benchmarks.live_calls`, 2-core
# box, docs/benchmarks.md): 5 calls met the 2 s p95 reply target only narrowly (1.94 s), 4 with
# room (1.48 s); 2 per core keeps that room on a box that is also running the dialler and web.
LOCAL_SPEECH_CALLS_PER_CORE = 2
# With cloud speech a media-stream process only relays 8 kHz frames (~50 a second per call,
# a few microseconds each) and waits on the network: the providers' concurrent-stream limits
# bind first. Deepgram's and ElevenLabs' entry plans allow a few dozen concurrent streams per
# key; 50 is a safe figure for one process. Raise it to the account's plan.
CLOUD_SPEECH_CALLS_PER_PROCESS = 50


def default_live_calls_per_process(
    *,
    speech_provider: str,
    usable_cores: int,
    local_calls_per_core: int = LOCAL_SPEECH_CALLS_PER_CORE,
) -> int:
    """Live calls one media-stream process holds when no setting says otherwise."""
    if speech_provider == "local":
        return max(1, usable_cores) * local_calls_per_core
    return CLOUD_SPEECH_CALLS_PER_PROCESS


def live_call_capacity(
    env: Env, *, speech_provider: str, usable_cores: int
) -> tuple[int, int, int]:
    """(calls per core, calls per process, processes) from the environment and the defaults."""
    per_core = env.get_int("LOCAL_SPEECH_CALLS_PER_CORE", LOCAL_SPEECH_CALLS_PER_CORE, minimum=1)
    per_process = env.get_int(
        "LIVE_CALL_CAPACITY_PER_PROCESS",
        default_live_calls_per_process(
            speech_provider=speech_provider,
            usable_cores=usable_cores,
            local_calls_per_core=per_core,
        ),
        minimum=1,
    )
    processes = env.get_int("LIVE_CALL_PROCESSES", 1, minimum=1)
    return per_core, per_process, processes
