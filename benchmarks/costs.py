"""Cost per call and per outcome, and what the accounting costs: ``python -m benchmarks.costs
[--rounds N] [--calls N]``.

Real calls through the whole local stack, as `benchmarks.live_calls` runs them (its `System`:
uvicorn and the Twilio simulator in their own processes on a fresh embedded default; local
Whisper and Piper, the scripted agent): `rounds` calls to each of seven simulator personas
(four conversations, a voicemail, a no-answer, a busy line), `--calls` at a time. The server
counts each call's usage and prices it when it ends (`sessions.costs`); this process reads the
result per outcome: cost with the default price table, the local stack's CPU seconds, and what
the same usage would cost on the cloud stack at the default list prices (Deepgram for the
recogniser, ElevenLabs for the voice: the usage re-priced, not new calls).

The accounting's own CPU, against a baseline measured in the same run (the server process's
CPU per call, from /proc):
- pricing a finished call (`session_cost_record`: read usage, price, write; re-run on each call,
  which is idempotent), and writing a conversation's usage (`session_usage_record`, in a
  rolled-back transaction), in this process on the same SQLite file;
- the meter on each inference job (`usage.metered`: two thread-clock reads and a lock), per job
  against the job run bare, times the jobs a call ran (counted: each job adds CPU seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from benchmarks.live_calls import HOST, Caller, System, finished, prepare

# Persona digits (anvil_voice/telephony/simulator/personas.py) → first name.
PERSONAS = {
    "04": "Ivy",
    "05": "Olga",
    "06": "Nick",
    "07": "Cal",
    "03": "Val",
    "00": "Nora",
    "01": "Bianca",
}
SUCCESS = ("interested", "transferred")


def place(caller: Caller, digits: str) -> int:
    from campaigns.services.test_calls import session_test_call_create

    session = session_test_call_create(
        organization=caller.organization,
        to=f"+121255501{digits}",
        script_id=caller.script_id,
        voice_id=caller.voice_id,
        variables={"first_name": PERSONAS[digits]},
        override_calling_window=True,
        override_reason="cost benchmark against the Twilio simulator's personas",
    )
    return int(session.pk)


def priced(session_id: int) -> bool:
    from sessions.models import CallSession

    return bool(
        finished(session_id)
        and CallSession.objects.filter(pk=session_id, cost__isnull=False).exists()
    )


def run(caller: Caller, personas: list[str], concurrency: int) -> list[int]:
    waiting = list(personas)
    live: dict[int, float] = {}
    done: list[int] = []
    while waiting or live:
        while waiting and len(live) < concurrency:
            session_id = place(caller, waiting.pop(0))
            live[session_id] = time.monotonic()
        time.sleep(0.25)
        for session_id, started in list(live.items()):
            if priced(session_id) or time.monotonic() - started > 120:
                del live[session_id]
                done.append(session_id)
    return done


def meter_overhead_us(jobs: int = 200_000) -> float:
    """CPU microseconds the meter adds to one inference job (a no-op job, metered vs bare)."""
    from anvil_voice import usage

    def noop() -> None:
        return None

    token = usage.call_usage.set(usage.CallUsage())
    try:
        started = time.process_time()
        for _ in range(jobs):
            usage.metered(noop)
        metered = time.process_time() - started
    finally:
        usage.call_usage.reset(token)
    started = time.process_time()
    for _ in range(jobs):
        noop()
    bare = time.process_time() - started
    return (metered - bare) / jobs * 1e6


def accounting_cpu_ms(session_ids: list[int]) -> tuple[float, float]:
    """Mean CPU ms of pricing a call, and of writing a conversation's usage."""
    from django.db import transaction

    from sessions.costs import session_cost_record, session_usage_record
    from sessions.models import SessionCost

    pricing, writing = [], []
    for session_id in session_ids:
        started = time.process_time()
        session_cost_record(session_id=session_id)
        pricing.append(time.process_time() - started)
        detail = SessionCost.objects.get(session_id=session_id)
        usage = {
            "stt_provider": detail.stt_provider,
            "stt_audio_seconds": detail.stt_audio_seconds,
            "tts_provider": detail.tts_provider,
            "tts_characters": detail.tts_characters,
            "compute_cpu_seconds": detail.compute_cpu_seconds,
        }
        with contextlib.suppress(_Rollback), transaction.atomic():
            started = time.process_time()
            session_usage_record(session_id=session_id, usage=usage)
            writing.append(time.process_time() - started)
            raise _Rollback
    return statistics.mean(pricing) * 1000, statistics.mean(writing) * 1000


class _Rollback(Exception):
    pass


def cloud_price(detail: Any) -> Decimal:
    """The same call's usage at the default list prices of the cloud stack."""
    from django.conf import settings

    from anvil_voice.pricing import Usage, price_usage

    cost = price_usage(
        Usage(
            carrier=detail.carrier,
            carrier_seconds=detail.carrier_seconds,
            stt_provider="deepgram",
            stt_audio_seconds=detail.stt_audio_seconds,
            tts_provider="elevenlabs",
            tts_characters=detail.tts_characters,
        ),
        prices=settings.COST_PRICES,
        currency=settings.COST_CURRENCY,
    )
    return cost.total


def report(session_ids: list[int]) -> list[str]:
    from sessions.models import CallSession, SessionCost

    rows: dict[str, list[tuple[Decimal, Decimal, float, float, int]]] = defaultdict(list)
    for session in CallSession.objects.filter(pk__in=session_ids):
        detail = SessionCost.objects.filter(session=session).first()
        if detail is None or detail.total is None:
            rows["(not priced)"].append((Decimal(0), Decimal(0), 0.0, 0.0, 0))
            continue
        rows[session.outcome].append(
            (
                Decimal(detail.total),
                cloud_price(detail),
                detail.compute_cpu_seconds,
                detail.stt_audio_seconds,
                detail.tts_characters,
            )
        )
    lines = [
        "| outcome | calls | cost/call (local stack) | cost/call (cloud list prices) "
        "| CPU s/call (local models) | STT audio s/call | TTS chars/call |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome, values in sorted(rows.items()):
        n = len(values)
        lines.append(
            f"| {outcome} | {n} | {sum(v[0] for v in values) / n:.4f} "
            f"| {sum(v[1] for v in values) / n:.4f} | {sum(v[2] for v in values) / n:.2f} "
            f"| {sum(v[3] for v in values) / n:.1f} | {sum(v[4] for v in values) / n:.0f} |"
        )
    every = [v for values in rows.values() for v in values]
    successes = sum(len(values) for outcome, values in rows.items() if outcome in SUCCESS)
    if successes:
        local = sum(v[0] for v in every) / successes
        cloud = sum(v[1] for v in every) / successes
        cpu = sum(v[2] for v in every) / successes
        lines.append(
            f"cost per success ({', '.join(SUCCESS)}; {successes} of {len(every)} calls): "
            f"{local:.4f} USD on the local stack (+ {cpu:.1f} CPU s), {cloud:.4f} USD at cloud "
            "list prices"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="calls per persona (default 2)")
    parser.add_argument("--calls", type=int, default=3, help="calls at a time (default 3)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with System() as system:
        caller = prepare()
        print(f"started in {time.monotonic() - began:.0f} s ({HOST})", flush=True)
        run(caller, list(PERSONAS), len(PERSONAS))  # warm-up: models loaded, lines cached
        server_before = system.cpu("server")
        session_ids = run(caller, list(PERSONAS) * args.rounds, args.calls)
        server_per_call = (system.cpu("server") - server_before) / len(session_ids)
        print("\n".join(report(session_ids)), flush=True)
        pricing_ms, writing_ms = accounting_cpu_ms(session_ids)
    per_job_us = meter_overhead_us()
    accounting_ms = pricing_ms + writing_ms
    print(
        f"server CPU per call (baseline, this run): {server_per_call * 1000:.0f} ms; "
        f"pricing a call {pricing_ms:.2f} ms + writing its usage {writing_ms:.2f} ms CPU = "
        f"{accounting_ms:.2f} ms ({100 * accounting_ms / (server_per_call * 1000):.2f} % of it); "
        f"the meter adds {per_job_us:.2f} µs CPU per inference job"
    )
    print(f"total {time.monotonic() - began:.0f} s", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
