"""Listen-in cost benchmark: ``python -m benchmarks.listen_in [--frames 20000] [--rounds 5]``.

What the live call's media consumer pays per 20 ms frame for listen-in (`sessions.live.listen`),
in the same process and run, as ratios to the baseline every frame pays anyway: Twilio's
`media` message parsed by `MediaStreamConsumer.receive` (size and depth checks, JSON, base64).

- nobody listening: `LiveCallConsumer.on_media` with its `ListenTap` attached and no listener
  (the state of almost every call), minus the same call with no tap at all: the added cost.
- one listener: the caller's frame and one agent frame copied to the listen group, batched into
  100 ms messages, on the in-memory channel layer (channels_redis adds its own network round
  trip per message: 20 a second per listened call).

Needs no database (the consumer is built without a socket; the pipeline is left out, so only
the listen-in path and the parse are timed).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anvil_voice.settings")
    os.environ.setdefault(
        "SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789abcdefghijklmn"
    )
    os.environ.setdefault("TWILIO_AUTH_TOKEN", "bench-only")
    import django

    django.setup()


async def _time_per_frame(action: Callable[[int], Awaitable[None]], frames: int) -> float:
    started = time.perf_counter()
    for index in range(frames):
        await action(index)
    return (time.perf_counter() - started) / frames * 1e6  # µs


async def run(frames: int, rounds: int) -> None:
    from channels.layers import InMemoryChannelLayer

    from sessions.live.consumer import LiveCallConsumer
    from sessions.live.listen import ListenTap, listen_group

    payload = bytes(range(160))
    media = {"track": "inbound", "chunk": "1", "timestamp": "20"}
    message = json.dumps(
        {
            "event": "media",
            "sequenceNumber": "3",
            "streamSid": "MZ" + "0" * 32,
            "media": {**media, "payload": base64.b64encode(payload).decode()},
        }
    )
    agent_message = {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(payload).decode()},
    }

    async def nothing(**kwargs: object) -> None:
        return None

    def consumer(tap: ListenTap | None) -> LiveCallConsumer:
        built = LiveCallConsumer()
        built.tap = tap
        built.send = nothing
        return built

    parse_only = consumer(None)
    parse_only.on_media = lambda payload, media: nothing()  # type: ignore[method-assign]
    no_tap = consumer(None)
    layer = InMemoryChannelLayer(capacity=10**9, expiry=3600)
    idle = consumer(ListenTap(layer=layer, session_id=1))
    listened = consumer(ListenTap(layer=layer, session_id=2))
    await listened.listen_join({"channel": await layer.new_channel()})
    listener = await layer.new_channel()
    await layer.group_add(listen_group(2), listener)

    async def drain() -> None:
        # Keep the listener's queue short, as a reading websocket would.
        while layer.channels.get(listener):
            await layer.receive(listener)

    results: dict[str, list[float]] = {"parse": [], "no_tap": [], "idle": [], "listened": []}
    for _ in range(rounds):
        results["parse"].append(
            await _time_per_frame(lambda i: parse_only.receive(text_data=message), frames)
        )
        results["no_tap"].append(
            await _time_per_frame(lambda i: no_tap.on_media(payload, media), frames)
        )
        results["idle"].append(
            await _time_per_frame(lambda i: idle.on_media(payload, media), frames)
        )

        async def both(index: int) -> None:
            await listened.on_media(payload, media)
            await listened._send_message(agent_message)
            if index % 50 == 0:
                await drain()

        results["listened"].append(await _time_per_frame(both, frames))
        await drain()

    parse = statistics.median(results["parse"])
    no_tap_us = statistics.median(results["no_tap"])
    idle_us = statistics.median(results["idle"])
    listened_us = statistics.median(results["listened"])
    print(f"frames per round: {frames}, rounds: {rounds} (medians over rounds, µs per frame)")
    print(f"baseline: parse a Twilio media message: {parse:.2f} µs")
    print(f"on_media without a tap: {no_tap_us:.3f} µs")
    print(
        f"on_media with the tap, nobody listening: {idle_us:.3f} µs "
        f"(added {idle_us - no_tap_us:.3f} µs = {(idle_us - no_tap_us) / parse:.4f} x baseline)"
    )
    print(
        f"one listener (caller frame + agent frame, batched, in-memory layer): "
        f"{listened_us:.2f} µs = {listened_us / parse:.3f} x baseline"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _setup()
    asyncio.run(run(args.frames, args.rounds))


if __name__ == "__main__":
    main()
