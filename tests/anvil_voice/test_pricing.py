"""The price table and what usage costs under it; the per-call usage meter."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from anvil_voice import usage
from anvil_voice.pricing import (
    PriceTableError,
    Usage,
    billed_minutes,
    parse_prices,
    price_usage,
)
from anvil_voice.speech.inference import InferenceExecutor, Priority

PRICES = parse_prices()


def test_it_bills_every_started_minute_as_twilio_does():
    assert [billed_minutes(s) for s in (0, 1, 59, 60, 61, 125)] == [0, 1, 1, 1, 2, 3]


def test_it_prices_each_component_with_the_default_table():
    cost = price_usage(
        Usage(
            carrier="twilio",
            carrier_seconds=61,  # 2 minutes
            transfer_seconds=(30,),  # 1 more
            stt_provider="deepgram",
            stt_audio_seconds=120.0,
            tts_provider="elevenlabs",
            tts_characters=1000,
            llm_provider="openai",
            llm_prompt_tokens=2000,
            llm_completion_tokens=500,
            compute_cpu_seconds=3.0,
        ),
        prices=PRICES,
        currency="USD",
    )
    assert (cost.carrier_billed_minutes, cost.transfer_billed_minutes) == (2, 1)
    assert cost.carrier == Decimal("0.0420")  # 3 x 0.014
    assert cost.stt == Decimal("0.0154")  # 2 min x 0.0077
    assert cost.tts == Decimal("0.1800")  # 1000 x 0.00018
    assert cost.llm == Decimal("0.0006")  # 2 x 0.00015 + 0.5 x 0.0006
    assert cost.compute == Decimal("0.0000")  # local compute is time, not money, by default
    assert cost.total == Decimal("0.2380")
    assert cost.unpriced == []
    assert cost.prices["twilio"] == {"per_minute": "0.0140"}


def test_the_local_stack_costs_compute_only_when_an_operator_prices_it():
    local = Usage(
        carrier="twilio",
        stt_provider="local-whisper",
        stt_audio_seconds=30.0,
        tts_provider="local",
        tts_characters=400,
        compute_cpu_seconds=12.5,
    )
    free = price_usage(local, prices=PRICES, currency="USD")
    assert (free.stt, free.tts, free.compute, free.unpriced) == (0, 0, 0, [])
    priced = price_usage(
        local, prices=parse_prices({"local": {"per_cpu_second": "0.0001"}}), currency="USD"
    )
    assert priced.compute == Decimal("0.0013")  # 12.5 x 0.0001, rounded half up
    assert priced.total == Decimal("0.0013")


def test_it_names_a_provider_without_a_price_instead_of_guessing():
    cost = price_usage(
        Usage(carrier="vonage", carrier_seconds=60, tts_provider="acme-tts", tts_characters=10),
        prices=PRICES,
        currency="USD",
    )
    assert cost.total == 0
    assert cost.unpriced == ["vonage", "acme-tts"]


def test_an_unanswered_call_costs_nothing():
    cost = price_usage(Usage(carrier="twilio", carrier_seconds=0), prices=PRICES, currency="USD")
    assert (cost.carrier_billed_minutes, cost.total) == (0, 0)


def test_overrides_merge_over_the_defaults_per_provider():
    table = parse_prices('{"twilio": {"per_minute": 0.0085}, "acme": {"per_character": "1e-5"}}')
    assert table["twilio"]["per_minute"] == Decimal("0.0085")
    assert table["acme"]["per_character"] == Decimal("0.00001")
    assert table["deepgram"]["per_audio_minute"] == Decimal("0.0077")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "object keyed by provider"),
        ('{"twilio": 3}', "object of unit prices"),
        ('{"twilio": {"per_hour": 1}}', "unknown unit"),
        ('{"twilio": {"per_minute": -1}}', "between 0 and 1000"),
        ('{"twilio": {"per_minute": "NaN"}}', "between 0 and 1000"),
        ('{"twilio": {"per_minute": "cheap"}}', "is not a number"),
        ('{"twilio": {"per_minute": true}}', "a number or a decimal string"),
    ],
)
def test_it_refuses_a_bad_price_table(overrides, message):
    with pytest.raises(PriceTableError, match=message):
        parse_prices(overrides)


def test_the_meter_counts_only_inside_a_call():
    usage.record_tts("local", "Hello there")  # no call: nothing to count, nothing fails
    meter = usage.CallUsage()
    token = usage.call_usage.set(meter)
    try:
        usage.record_tts("elevenlabs", "Hello there")
        usage.record_stt("deepgram", 0.5)
        usage.record_llm("openai", {"prompt_tokens": 120, "completion_tokens": 30})
        usage.record_llm("openai", None)  # a provider that sent no usage
        usage.record_llm("openai", {"prompt_tokens": "lots", "completion_tokens": -3})
    finally:
        usage.call_usage.reset(token)
    assert meter.as_dict() == {
        "stt_provider": "deepgram",
        "stt_audio_seconds": 0.5,
        "tts_provider": "elevenlabs",
        "tts_characters": 11,
        "llm_provider": "openai",
        "llm_prompt_tokens": 120,
        "llm_completion_tokens": 30,
        "llm_requests": 3,
        "llm_requests_without_usage": 1,
        "compute_cpu_seconds": 0.0,
    }


def test_inference_jobs_charge_their_cpu_time_to_the_call_that_asked():
    executor = InferenceExecutor(workers=1)

    def spin() -> None:
        deadline = time.thread_time() + 0.05
        while time.thread_time() < deadline:
            pass

    async def run() -> tuple[usage.CallUsage, usage.CallUsage | None]:
        meter = usage.CallUsage()
        usage.call_usage.set(meter)  # this task's context only
        await executor.run(spin, priority=Priority.NORMAL)
        return meter, None

    try:
        meter, _ = asyncio.run(run())
        outside = asyncio.run(executor.run(spin, priority=Priority.NORMAL))  # no meter: no-op
    finally:
        executor.shutdown()
    assert outside is None
    assert 0.05 <= meter.compute_cpu_seconds < 1.0
