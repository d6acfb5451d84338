"""Phone menus: time to reach a person: ``python -m benchmarks.ivr [--trials 3]``.

The simulator's `two-level-menu` persona (+15550120; PERSONAS.md) answers; the agent's pipeline
has the script's target "accounts" and walks it: level 1 "For accounts, press 2.", level 2 "To
speak to someone in accounts, press 2.", a hold, then a person. The persona speaks short
synthetic lines and the recogniser reads back the line the persona said (`PersonaWords`): the
figure is the menu walk over a real-time line (endpointing, the choice, the tones, the
persona's routing), not Whisper's speed (benchmarks.live_calls has that).

Figures per call, from the simulator's log (seconds since the answer):
- time to a person: the person's first word (`person_answered`);
- the agent's reaction per level: the end of the option line that names the target → the key
  heard by the persona (`heard_digit`);
- the baseline, same run: the menu's own length on that path (time to a person minus the
  reactions: what a caller pressing at the instant the option ends would wait). The ratio is
  time to a person / baseline.

The harness (`call_menu`) is also what tests/sessions/pipeline/test_pipeline_ivr_simulator.py
drives. Needs no database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import WSMsgType, web
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from anvil_voice.speech.protocols import Emit, Utterance
from anvil_voice.telephony.simulator import TwilioSimulator, audio
from anvil_voice.telephony.simulator.calls import SimulatedCall
from anvil_voice.telephony.twilio import TwilioCarrier
from scripts.engine import CallContext, ScriptedAgent, ScriptSpec
from sessions.pipeline import CallPipeline, Final, MemorySink, PipelineConfig, PipelineResult


class InstantVoice:
    """The agent's voice: speech-shaped audio at once, its length following the text."""

    name = "instant"

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        yield audio.babble(text, seconds_per_char=0.03)


ACCOUNT_SID = "AC" + "4" * 32
AUTH_TOKEN = "ivr-test-token"
AGENT_PUBLIC = "wss://agent.example"
SCRIPT = ScriptSpec(
    opening_line="Hi, it's Sam from Anvil, about your account.",
    closing_line="Thanks, goodbye!",
)
TWIML = (
    f'<Response><Connect><Stream url="{AGENT_PUBLIC}/ws/twilio/media/t-1/"/></Connect></Response>'
)


def fast_speak(text: str) -> bytes:
    """The persona's voice: 400 ms of speech-like audio per line (no Piper needed)."""
    return audio.babble("x" * 8)


class PersonaWords:
    """Answers each utterance with the lines the persona said during it (the call's log: when
    each line started and its speech ended, seconds since the answer ≈ stream time)."""

    name = "persona-words"
    SLACK_MS = 200

    def __init__(self, said: Callable[[], list[dict[str, Any]]]) -> None:
        self._said = said
        self._emit: Emit | None = None

    async def start(self, emit: Emit) -> None:
        self._emit = emit

    def feed(self, frame: bytes) -> None:
        pass

    def end_of_utterance(self, utterance: Utterance) -> None:
        start, end = utterance.start_ms - self.SLACK_MS, utterance.end_ms + self.SLACK_MS
        text = " ".join(
            str(line["text"])
            for line in self._said()
            if line["t"] * 1000 <= end and line.get("speech_end_t", line["t"]) * 1000 >= start
        )
        assert self._emit is not None
        self._emit(Final(text, utterance.start_ms, utterance.end_ms, 0.9))

    async def finish(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class MenuServer:
    def __init__(self, sim: Callable[[], TwilioSimulator], config: PipelineConfig) -> None:
        self._sim = sim
        self._config = config
        self.results: list[PipelineResult] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> MenuServer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        call_sid = ""

        def said() -> list[dict[str, Any]]:
            call = self._sim().get_call(call_sid)
            return list(call.log.of_kind("persona_said")) if call is not None else []

        async def send(message: dict[str, Any]) -> None:
            await ws.send_str(json.dumps(message))

        async def hang_up() -> None:
            client = _client(self._sim())
            await asyncio.to_thread(client.calls(call_sid).update, status="completed")

        pipeline = CallPipeline(
            agent=ScriptedAgent(SCRIPT, CallContext()),
            voice=InstantVoice(),  # type: ignore[arg-type]
            voice_id="fake:voice",
            recognizer=PersonaWords(said),
            send=send,
            hang_up=hang_up,
            sink=MemorySink(),
            config=self._config,
            send_digits=TwilioCarrier().send_digits,
        )
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                event = data.get("event")
                if event == "start":
                    call_sid = data["start"]["callSid"]
                    pipeline.start(data["streamSid"])
                elif event == "media":
                    pipeline.feed_media(data["media"]["payload"])
                elif event == "mark":
                    pipeline.on_mark(data["mark"]["name"])
                elif event == "stop":
                    pipeline.on_stop()
        finally:
            self.results.append(await pipeline.close())
        return ws


def _client(sim: TwilioSimulator) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = sim.base_url
    return client


async def call_menu(
    to: str, config: PipelineConfig, *, end_when: Callable[[SimulatedCall], bool] | None = None
) -> tuple[SimulatedCall, PipelineResult]:
    """Dial `to`; hang up once `end_when(call)` holds (or wait for the agent to)."""
    holder: dict[str, TwilioSimulator] = {}
    async with MenuServer(lambda: holder["sim"], config) as server:
        rewrite = (AGENT_PUBLIC, f"ws://127.0.0.1:{server.port}")
        async with TwilioSimulator(
            ACCOUNT_SID, AUTH_TOKEN, time_scale=0.01, url_rewrites=[rewrite], speak=fast_speak
        ) as sim:
            holder["sim"] = sim
            client = _client(sim)
            created = await asyncio.to_thread(
                client.calls.create, to=to, from_="+15005550006", twiml=TWIML
            )
            live = sim.get_call(created.sid)
            assert live is not None
            if end_when is not None:
                for _ in range(1200):
                    if end_when(live) or live.ended.is_set():
                        break
                    await asyncio.sleep(0.05)
                if not live.ended.is_set():
                    await asyncio.to_thread(client.calls(created.sid).update, status="completed")
            call = await sim.wait_for_end(created.sid, timeout=60)
            for _ in range(100):
                if server.results:
                    break
                await asyncio.sleep(0.05)
    [result] = server.results
    return call, result


def reactions(call: SimulatedCall, options: tuple[str, ...]) -> list[float]:
    """Per level: the end of the option line naming the target → the key the persona heard."""
    said = call.log.of_kind("persona_said")
    digits = call.log.of_kind("heard_digit")
    out: list[float] = []
    for option, digit in zip(options, digits, strict=False):
        line = max(
            (e for e in said if e["text"] == option and e["t"] <= digit["t"]),
            key=lambda e: e["t"],
            default=None,
        )
        if line is not None:
            out.append(digit["t"] - line["speech_end_t"])
    return out


OPTIONS = ("For accounts, press 2.", "To speak to someone in accounts, press 2.")


async def trial() -> dict[str, Any]:
    config = PipelineConfig(ivr_target="accounts", ivr_timeout_ms=60_000)

    def reached(call: SimulatedCall) -> bool:
        return any(e.get("action") == "person_answered" for e in call.log.of_kind("persona"))

    call, result = await call_menu("+15550120", config, end_when=reached)
    person = next(
        e["t"] for e in call.log.of_kind("persona") if e.get("action") == "person_answered"
    )
    levels = reactions(call, OPTIONS)
    baseline = person - sum(levels)
    return {
        "pressed": result.ivr_pressed,
        "time_to_person_s": round(person, 3),
        "reaction_ms": [round(value * 1000) for value in levels],
        "baseline_s": round(baseline, 3),
        "ratio": round(person / baseline, 3),
    }


async def run(trials: int = 3) -> list[dict[str, Any]]:
    results = [await trial() for _ in range(trials)]
    person = [r["time_to_person_s"] for r in results]
    reaction = [ms for r in results for ms in r["reaction_ms"]]
    ratio = [r["ratio"] for r in results]
    print(f"two-level menu, target 'accounts', {trials} call(s); keys: {results[0]['pressed']}")
    print(f"  time to a person   median {statistics.median(person):.2f} s  (max {max(person):.2f})")
    print(
        f"  baseline (menu)    median {statistics.median(r['baseline_s'] for r in results):.2f} s"
    )
    print(f"  ratio              median {statistics.median(ratio):.3f}")
    print(
        f"  reaction per level median {statistics.median(reaction):.0f} ms  (max {max(reaction)})"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--json", help="write the per-call figures here")
    args = parser.parse_args()
    results = asyncio.run(run(args.trials))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
