"""The limits on voice samples and previews, read from settings at call time.

Read on every call (not at import) so a deployment's environment and a test's `settings`
fixture both take effect without a restart.
"""

from __future__ import annotations

from django.conf import settings

MAX_SAMPLES = 25
PREVIEW_TEXT_MAX_CHARS = 500
# A script's rendered opening line may be longer than text a client types for a preview.
PREVIEW_SCRIPT_TEXT_MAX_CHARS = 1000
# Shorter than this, a file holds no usable speech for a clone.
SAMPLE_MIN_SECONDS = 1.0


def sample_max_bytes() -> int:
    return int(settings.VOICE_SAMPLE_MAX_BYTES)


def samples_max_total_bytes() -> int:
    return int(settings.VOICE_SAMPLES_MAX_TOTAL_BYTES)


def samples_min_seconds() -> float:
    return float(settings.VOICE_SAMPLES_MIN_SECONDS)


def samples_max_seconds() -> float:
    return float(settings.VOICE_SAMPLES_MAX_SECONDS)


def sample_max_sample_rate() -> int:
    return int(settings.VOICE_SAMPLE_MAX_SAMPLE_RATE)


def sample_max_channels() -> int:
    return int(settings.VOICE_SAMPLE_MAX_CHANNELS)
