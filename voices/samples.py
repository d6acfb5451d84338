"""Checking a set of uploaded voice samples before anything is stored.

Every file is decoded in full (by `probe_audio`, which judges content, never names, and refuses
a stream too big to decode from its header before decoding anything), and every
problem with every file is collected, so one answer tells the uploader all that is wrong:
`details: {"samples": ["clip.wav: is empty (0 bytes).", ...]}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO, cast

from django.core.files import File

from anvil_voice.errors import VALIDATION_MESSAGE, ApplicationError
from anvil_voice.speech.audio import AudioInfo, AudioRejected, probe_audio
from voices import conf


@dataclass(frozen=True)
class CheckedSample:
    upload: File
    display_name: str
    info: AudioInfo


def samples_rejected(*messages: str) -> ApplicationError:
    return ApplicationError(VALIDATION_MESSAGE, details={"samples": list(messages)})


def sample_count_problem(count: int) -> str | None:
    """The one rule the API serializer also checks before the service runs."""
    if count == 0:
        return "At least one audio sample is required."
    if count > conf.MAX_SAMPLES:
        return f"At most {conf.MAX_SAMPLES} samples can be uploaded; got {count}."
    return None


def display_name(raw: str | None) -> str:
    """The client's file name, safe to echo: last path component, printable, at most 80."""
    name = PurePath((raw or "").replace("\\", "/")).name or "upload"
    name = "".join(ch for ch in name if ch.isprintable())
    return name if len(name) <= 80 else name[:77] + "..."


def samples_check(*, uploads: Sequence[File]) -> list[CheckedSample]:
    """Decode and measure every upload; raise one ApplicationError naming every bad file."""
    if problem := sample_count_problem(len(uploads)):
        raise samples_rejected(problem)

    per_file_cap = conf.sample_max_bytes()
    total_cap = conf.samples_max_total_bytes()
    total_bytes = sum(upload.size or 0 for upload in uploads)
    if total_bytes > total_cap:
        # Decoding up to 25 files that cannot be accepted anyway would only burn CPU.
        raise samples_rejected(
            f"The samples total {_human_bytes(total_bytes)}; the limit is "
            f"{_human_bytes(total_cap)}."
        )

    errors: list[str] = []
    checked: list[CheckedSample] = []
    seen: dict[str, str] = {}
    for upload in uploads:
        name = display_name(upload.name)
        size = upload.size or 0
        if size > per_file_cap:
            errors.append(
                f"{name}: is {_human_bytes(size)}; the limit per file is "
                f"{_human_bytes(per_file_cap)}."
            )
            continue
        try:
            info = probe_audio(
                # Django's File proxies read/seek/tell to the upload (memory or temp file).
                cast(BinaryIO, upload),
                claimed_name=name,
                min_seconds=conf.SAMPLE_MIN_SECONDS,
                max_seconds=conf.samples_max_seconds(),
                max_sample_rate=conf.sample_max_sample_rate(),
                max_channels=conf.sample_max_channels(),
            )
        except AudioRejected as rejected:
            errors.append(f"{name}: {_reason(rejected, name)}")
            continue
        if info.sha256 in seen:
            # The same recording twice adds nothing to a clone but would count twice towards
            # the minimum duration.
            errors.append(f"{name}: is the same recording as {seen[info.sha256]}.")
            continue
        seen[info.sha256] = name
        checked.append(CheckedSample(upload=upload, display_name=name, info=info))

    if errors:
        raise samples_rejected(*errors)

    total_seconds = sum(sample.info.duration_seconds for sample in checked)
    min_seconds, max_seconds = conf.samples_min_seconds(), conf.samples_max_seconds()
    if total_seconds < min_seconds:
        raise samples_rejected(
            f"The samples hold {_seconds(total_seconds)} of audio; at least "
            f"{_seconds(min_seconds)} is needed for a clone."
        )
    if total_seconds > max_seconds:
        raise samples_rejected(
            f"The samples hold {_seconds(total_seconds)} of audio; at most "
            f"{_seconds(max_seconds)} can be used."
        )
    return checked


def _reason(rejected: AudioRejected, name: str) -> str:
    # probe_audio writes messages as '"<name>" is empty (0 bytes).'; we prefix every message
    # with the name ourselves, so drop the repetition.
    return rejected.message.removeprefix(f'"{name}" ')


def _human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _seconds(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds:.1f} seconds"
