"""The price table and what a call's usage costs under it (pure: no Django, no database).

The table is keyed by provider name, the name each adapter reports (`session.carrier`, a voice
provider's or recogniser's `name`; the LLM adapter reports "openai" for every OpenAI-compatible
endpoint). Each entry holds the units that provider bills by:

- twilio: `per_minute` 0.0140 (US outbound list price; every call rounded up to the minute)
- deepgram: `per_audio_minute` 0.0077 (Nova-3 streaming, pay as you go)
- elevenlabs: `per_character` 0.00018 (about 0.18 per 1 000 characters)
- openai: `per_1k_input_tokens` 0.00015, `per_1k_output_tokens` 0.0006 (gpt-4o-mini)
- local, local-whisper: `per_cpu_second` 0 (own hardware: compute time, not money)

List prices change and contracts differ: an operator sets their own with `COST_PRICES_JSON`
(merged over the defaults per provider, e.g. `{"twilio": {"per_minute": "0.0085"}}`) and the
currency with `COST_CURRENCY`. A provider missing from the table costs 0 and is named in the
breakdown's `unpriced`, never guessed. The local stack's cost is its CPU seconds, always
reported; it is money only when an operator prices a CPU second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

PriceTable = dict[str, dict[str, Decimal]]

DEFAULT_PRICES: dict[str, dict[str, str]] = {
    "twilio": {"per_minute": "0.0140"},
    "deepgram": {"per_audio_minute": "0.0077"},
    "elevenlabs": {"per_character": "0.00018"},
    "openai": {"per_1k_input_tokens": "0.00015", "per_1k_output_tokens": "0.0006"},
    "local": {"per_cpu_second": "0"},
    "local-whisper": {"per_cpu_second": "0"},
}
UNITS = frozenset(
    {
        "per_minute",
        "per_audio_minute",
        "per_character",
        "per_1k_input_tokens",
        "per_1k_output_tokens",
        "per_cpu_second",
    }
)
CENTS = Decimal("0.0001")
ZERO = Decimal("0")


class PriceTableError(ValueError):
    pass


def _price(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PriceTableError(f"{where}: a price is a number or a decimal string.")
    try:
        price = Decimal(str(value))
    except InvalidOperation as error:
        raise PriceTableError(f"{where}: {value!r} is not a number.") from error
    if not price.is_finite() or price < 0 or price > 1000:
        raise PriceTableError(f"{where}: a price is between 0 and 1000.")
    return price


def parse_prices(overrides: str | dict[str, Any] | None = None) -> PriceTable:
    """The defaults with `overrides` (JSON text or a dict) merged per provider; strict: an
    unknown unit, a negative price or bad JSON is an error (at start-up, not on a call)."""
    if overrides is None:
        overrides = {}
    elif isinstance(overrides, str):
        try:
            overrides = json.loads(overrides) if overrides.strip() else {}
        except json.JSONDecodeError as error:
            raise PriceTableError("COST_PRICES_JSON is not valid JSON.") from error
    if not isinstance(overrides, dict):
        raise PriceTableError("COST_PRICES_JSON must be an object keyed by provider name.")
    table: PriceTable = {
        provider: {unit: Decimal(price) for unit, price in units.items()}
        for provider, units in DEFAULT_PRICES.items()
    }
    for provider, units in overrides.items():
        if not isinstance(provider, str) or not provider or not isinstance(units, dict):
            raise PriceTableError("Each provider maps to an object of unit prices.")
        for unit, value in units.items():
            if unit not in UNITS:
                raise PriceTableError(f"{provider}: unknown unit {unit!r}.")
            table.setdefault(provider, {})[unit] = _price(value, f"{provider}.{unit}")
    return table


def billed_minutes(seconds: int) -> int:
    """Whole minutes, each started minute billed (Twilio rounds every call up to the minute)."""
    return -(-max(seconds, 0) // 60)


@dataclass(frozen=True, kw_only=True)
class Usage:
    carrier: str = ""
    carrier_seconds: int = 0
    transfer_seconds: tuple[int, ...] = ()  # each transfer leg, billed on its own
    stt_provider: str = ""
    stt_audio_seconds: float = 0.0
    tts_provider: str = ""
    tts_characters: int = 0
    llm_provider: str = ""
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    compute_cpu_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Cost:
    carrier_billed_minutes: int
    transfer_billed_minutes: int
    carrier: Decimal
    stt: Decimal
    tts: Decimal
    llm: Decimal
    compute: Decimal
    currency: str
    prices: dict[str, dict[str, str]]  # the entries used, as strings (stored with the cost)
    unpriced: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return (self.carrier + self.stt + self.tts + self.llm + self.compute).quantize(CENTS)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def price_usage(usage: Usage, *, prices: PriceTable, currency: str) -> Cost:
    """What `usage` costs under `prices`."""
    used: dict[str, dict[str, str]] = {}
    unpriced: list[str] = []

    def unit(provider: str, name: str) -> Decimal:
        entry = prices.get(provider)
        if entry is None or name not in entry:
            if provider and provider not in unpriced:
                unpriced.append(provider)
            return ZERO
        used.setdefault(provider, {})[name] = str(entry[name])
        return entry[name]

    minutes = billed_minutes(usage.carrier_seconds)
    transfer_minutes = sum(billed_minutes(seconds) for seconds in usage.transfer_seconds)
    carrier = ZERO
    if minutes or transfer_minutes:
        carrier = Decimal(minutes + transfer_minutes) * unit(usage.carrier, "per_minute")
    stt = ZERO
    if usage.stt_audio_seconds and "per_audio_minute" in prices.get(usage.stt_provider, {}):
        stt = (
            Decimal(str(usage.stt_audio_seconds))
            / 60
            * unit(usage.stt_provider, "per_audio_minute")
        )
    elif usage.stt_audio_seconds and "per_cpu_second" not in prices.get(usage.stt_provider, {}):
        unit(usage.stt_provider, "per_audio_minute")  # names it as unpriced
    tts = ZERO
    if usage.tts_characters and "per_character" in prices.get(usage.tts_provider, {}):
        tts = Decimal(usage.tts_characters) * unit(usage.tts_provider, "per_character")
    elif usage.tts_characters and "per_cpu_second" not in prices.get(usage.tts_provider, {}):
        unit(usage.tts_provider, "per_character")
    llm = ZERO
    if usage.llm_prompt_tokens or usage.llm_completion_tokens:
        llm = Decimal(usage.llm_prompt_tokens) / 1000 * unit(
            usage.llm_provider, "per_1k_input_tokens"
        ) + Decimal(usage.llm_completion_tokens) / 1000 * unit(
            usage.llm_provider, "per_1k_output_tokens"
        )
    # Local models run on this deployment's CPU: priced by the "local" entry.
    compute = ZERO
    if usage.compute_cpu_seconds:
        compute = Decimal(str(usage.compute_cpu_seconds)) * unit("local", "per_cpu_second")
    return Cost(
        carrier_billed_minutes=minutes,
        transfer_billed_minutes=transfer_minutes,
        carrier=_money(carrier),
        stt=_money(stt),
        tts=_money(tts),
        llm=_money(llm),
        compute=_money(compute),
        currency=currency,
        prices=used,
        unpriced=unpriced,
    )
