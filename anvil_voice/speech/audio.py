"""Audio facts by content, never by file name: what an upload really is, how long, how loud.

A voice sample feeds a clone and the admin plays it back to people, so an upload is decoded in
full before we trust it: the extension, the Content-Type and even the container header can lie
(a truncated file keeps the header of the whole one; an HTML page with an ID3 tag in front looks
like an MP3 to anything that reads ten bytes).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO

import av
import numpy as np

from anvil_voice.speech.codec import (
    PHONE_SAMPLE_RATE,
    ULAW_FRAME_BYTES,
    encode_mp3,
    frames_20ms,
    pcm16_to_ulaw,
    pcm16_to_wav,
    resample_pcm16,
    strip_wav_header,
    ulaw_silence,
    ulaw_to_pcm16,
)
from anvil_voice.speech.sniff import (
    declared_stream,
    id3_end,
    sniff_after_id3,
    sniff_format,
    wav_claimed_seconds,
)

__all__ = [
    "PHONE_SAMPLE_RATE",
    "ULAW_FRAME_BYTES",
    "AudioInfo",
    "AudioLimits",
    "AudioRejected",
    "encode_mp3",
    "frames_20ms",
    "pcm16_to_ulaw",
    "pcm16_to_wav",
    "probe_audio",
    "resample_pcm16",
    "sniff_format",
    "strip_wav_header",
    "ulaw_silence",
    "ulaw_to_pcm16",
]

# How the container names we sniff show up in FFmpeg's demuxer names (`container.format.name`
# is a comma-separated list of aliases, e.g. "mov,mp4,m4a,3gp,3g2,mj2").
_DEMUXERS = {
    "wav": {"wav"},
    "mp3": {"mp3"},
    "flac": {"flac"},
    "ogg": {"ogg"},
    "m4a": {"mp4", "m4a", "mov"},
    "aac": {"aac"},
    "webm": {"webm", "matroska"},
    "mka": {"matroska"},
}

# Markers of documents and scripts that have no business inside an audio file. Each needs a
# following character so a random 5-byte run in compressed audio cannot match by chance (a
# bare "%PDF" would turn up about once per 400 MB of random data).
_FOREIGN_MARKERS = re.compile(
    rb"<html[\s>]|<script[\s>]|<\?php\s|%PDF-\d|<!doctype\s+html|<body[\s>]|<iframe[\s>]",
    re.IGNORECASE,
)
_MARKER_OVERLAP = 32  # longest marker, so one split across two reads is still found
_READ_CHUNK = 1 << 20

# A decoded stream this much shorter than its header claims is truncated, not rounded.
_TRUNCATED_RATIO = 0.9
_TRUNCATED_MIN_GAP_SECONDS = 0.25


class AudioRejected(Exception):
    """The upload is not usable audio. `message` is written for the person who uploaded it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"AudioRejected({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class AudioLimits:
    """The largest stream worth decoding. The decode work is bounded by their product: a
    compressed file can declare far more audio than its size suggests (FLAC stores a run of
    silence in a few bytes per block), so the bytes on disk say nothing about the CPU it costs.
    """

    max_seconds: float = 3600.0
    max_sample_rate: int = 48_000
    max_channels: int = 2

    def shape_problem(self, sample_rate: int, channels: int) -> str | None:
        """Why a stream of this rate and channel count is refused (message tail), or None."""
        if sample_rate > self.max_sample_rate:
            return (
                f"is sampled at {sample_rate} Hz; the limit is {self.max_sample_rate} Hz "
                f"(export it at {self.max_sample_rate / 1000:g} kHz or less)."
            )
        if channels > self.max_channels:
            return (
                f"has {channels} channels; at most {self.max_channels} "
                "(mono or stereo) are accepted."
            )
        return None


@dataclass(frozen=True)
class AudioInfo:
    format: str
    duration_seconds: float
    sample_rate: int
    channels: int
    size_bytes: int
    sha256: str
    # Loudness over the whole decoded stream, in dB relative to full scale (0 is the loudest).
    rms_dbfs: float
    peak_dbfs: float


def probe_audio(
    source: BinaryIO | str | os.PathLike[str],
    *,
    claimed_name: str,
    min_seconds: float = 0.0,
    max_seconds: float = 3600.0,
    max_sample_rate: int = AudioLimits.max_sample_rate,
    max_channels: int = AudioLimits.max_channels,
    silence_dbfs: float = -55.0,
) -> AudioInfo:
    """Decode the whole stream and return what it really is, or raise AudioRejected.

    `source` is a path or a seekable binary file (an upload, a storage file); it is read in
    chunks and rewound afterwards. `claimed_name` is only used in messages: the content decides
    the format, so FLAC named "x.mp3" is accepted as FLAC. Audio whose RMS level is below
    `silence_dbfs` counts as silent. A stream sampled faster than `max_sample_rate`, with more
    than `max_channels` channels or longer than `max_seconds` is refused from its header when
    the header says so, and otherwise as soon as decoding reaches it.
    """
    label = _display_name(claimed_name)
    limits = AudioLimits(
        max_seconds=max_seconds, max_sample_rate=max_sample_rate, max_channels=max_channels
    )
    with _opened(source) as fileobj:
        try:
            return _probe(
                fileobj,
                label=label,
                min_seconds=min_seconds,
                limits=limits,
                silence_dbfs=silence_dbfs,
            )
        finally:
            fileobj.seek(0)


def _probe(
    fileobj: BinaryIO,
    *,
    label: str,
    min_seconds: float,
    limits: AudioLimits,
    silence_dbfs: float,
) -> AudioInfo:
    max_seconds = limits.max_seconds
    size, sha256 = _scan_bytes(fileobj, label)
    if size == 0:
        raise AudioRejected("empty_file", f'"{label}" is empty (0 bytes).')

    fileobj.seek(0)
    head = fileobj.read(4096)
    fmt = sniff_format(head)
    if fmt == "mp3" and head[:3] == b"ID3":
        fmt = sniff_after_id3(fileobj, head)
    if fmt is None:
        raise AudioRejected(
            "unrecognised_format",
            f'"{label}" is not an audio file we recognise (expected WAV, MP3, FLAC, OGG, '
            "M4A/AAC or WebM content).",
        )

    _check_declared(fileobj, head, fmt, label=label, limits=limits)

    fileobj.seek(0)
    try:
        decoded = _decode(fileobj, limits=limits)
    except _TooLong:
        raise AudioRejected(
            "too_long", f'"{label}" is longer than the {_fmt_seconds(max_seconds)} limit.'
        ) from None
    except _BadShape as bad:
        raise AudioRejected("unsupported_audio", f'"{label}" {bad.problem}') from None
    except (av.FFmpegError, IndexError, ValueError, OSError) as error:
        raise AudioRejected(
            "corrupt_audio", f'"{label}" looks like {fmt.upper()} but cannot be decoded.'
        ) from error

    if not set(decoded.demuxer_label.split(",")) & _DEMUXERS[fmt]:
        raise AudioRejected(
            "format_mismatch",
            f'"{label}" starts like {fmt.upper()} but its content decodes as '
            f"{decoded.demuxer_label!r}; it may be a disguised or damaged file.",
        )
    if decoded.samples == 0 or decoded.sample_rate <= 0:
        raise AudioRejected("corrupt_audio", f'"{label}" contains no decodable audio.')
    if decoded.failed_packets > max(2, decoded.packets // 20):
        raise AudioRejected(
            "corrupt_audio",
            f'"{label}" is damaged: {decoded.failed_packets} of {decoded.packets} audio blocks '
            "failed to decode.",
        )

    duration = decoded.samples / decoded.sample_rate
    claimed = wav_claimed_seconds(head) if fmt == "wav" else decoded.claimed_seconds
    if (
        claimed is not None
        and duration < claimed * _TRUNCATED_RATIO
        and claimed - duration >= _TRUNCATED_MIN_GAP_SECONDS
    ):
        raise AudioRejected(
            "truncated_audio",
            f'"{label}" is incomplete: its header promises {_fmt_seconds(claimed)} but only '
            f"{_fmt_seconds(duration)} of audio could be decoded.",
        )

    rms_dbfs = _dbfs(math.sqrt(decoded.sum_squares / decoded.values))
    peak_dbfs = _dbfs(decoded.peak)
    if rms_dbfs < silence_dbfs:
        raise AudioRejected(
            "silent_audio", f'"{label}" is silent or almost silent; no voice can be heard.'
        )
    if duration < min_seconds:
        raise AudioRejected(
            "too_short",
            f'"{label}" is {_fmt_seconds(duration)} long; at least {_fmt_seconds(min_seconds)} '
            "is needed.",
        )
    if duration > max_seconds:
        raise AudioRejected(
            "too_long", f'"{label}" is longer than the {_fmt_seconds(max_seconds)} limit.'
        )
    return AudioInfo(
        format=fmt,
        duration_seconds=duration,
        sample_rate=decoded.sample_rate,
        channels=decoded.channels,
        size_bytes=size,
        sha256=sha256,
        rms_dbfs=rms_dbfs,
        peak_dbfs=peak_dbfs,
    )


def _check_declared(
    fileobj: BinaryIO, head: bytes, fmt: str, *, label: str, limits: AudioLimits
) -> None:
    """Refuse what the WAV or FLAC header declares as too big, before FFmpeg opens the file
    (opening alone may decode a few blocks to learn the stream's parameters)."""
    start = head
    if head[:3] == b"ID3" and (end := id3_end(head)) is not None:
        fileobj.seek(end)
        start = fileobj.read(4096).lstrip(b"\x00")
    declared = declared_stream(start, fmt)
    if declared is None:
        return
    if problem := limits.shape_problem(declared.sample_rate, declared.channels):
        raise AudioRejected("unsupported_audio", f'"{label}" {problem}')
    if declared.seconds is not None and declared.seconds > limits.max_seconds:
        raise AudioRejected(
            "too_long", f'"{label}" is longer than the {_fmt_seconds(limits.max_seconds)} limit.'
        )


def _scan_bytes(fileobj: BinaryIO, label: str) -> tuple[int, str]:
    """One pass over the raw bytes: size, SHA-256, and no document or script hidden inside."""
    digest = hashlib.sha256()
    size = 0
    tail = b""
    fileobj.seek(0)
    while chunk := fileobj.read(_READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        window = tail + chunk
        if match := _FOREIGN_MARKERS.search(window):
            what = match.group(0).decode("ascii", "replace").strip().rstrip(">").lower()
            raise AudioRejected(
                "suspicious_content",
                f'"{label}" contains non-audio content ({what!r} marker); upload a plain '
                "audio recording.",
            )
        tail = window[-_MARKER_OVERLAP:]
    return size, digest.hexdigest()


@dataclass
class _Decoded:
    demuxer_label: str
    sample_rate: int
    channels: int
    claimed_seconds: float | None
    samples: int = 0  # per channel
    values: int = 0  # samples x channels, for the RMS
    sum_squares: float = 0.0
    peak: float = 0.0
    packets: int = 0
    failed_packets: int = 0


class _TooLong(Exception):
    pass


class _BadShape(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _decode(fileobj: BinaryIO, *, limits: AudioLimits) -> _Decoded:
    """Decode the first audio stream packet by packet, keeping only running totals.

    The work is bounded: every frame's rate and channel count are checked (a stream may
    change both mid-way, e.g. ADTS AAC or FLAC frames disagreeing with their header), and
    decoding stops once more than `max_seconds` of samples have come out.
    """
    max_seconds = limits.max_seconds
    with av.open(fileobj, mode="r") as container:
        stream = container.streams.audio[0]  # IndexError: no audio stream at all
        claimed: float | None = None
        if stream.duration is not None and stream.time_base is not None:
            claimed = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            claimed = container.duration / av.time_base
        if claimed is not None and claimed > max_seconds * 1.5:
            # Refuse before spending minutes of CPU on a file that says it is hours long.
            raise _TooLong
        if problem := limits.shape_problem(stream.rate or 0, stream.channels or 0):
            raise _BadShape(problem)
        result = _Decoded(
            demuxer_label=container.format.name,
            sample_rate=stream.rate or 0,
            channels=stream.channels or 0,
            claimed_seconds=claimed,
        )
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            result.packets += 1
            try:
                frames = packet.decode()
            except av.FFmpegError:
                # One bad block in a long recording is tolerable; too many fail the file below.
                result.failed_packets += 1
                continue
            for frame in frames:
                if problem := limits.shape_problem(frame.sample_rate, len(frame.layout.channels)):
                    raise _BadShape(problem)
                _accumulate(result, frame)
            if result.sample_rate and result.samples > max_seconds * result.sample_rate:
                raise _TooLong
        return result


def _accumulate(result: _Decoded, frame: av.AudioFrame) -> None:
    samples = _as_float(frame.to_ndarray())
    if samples.size:
        result.sum_squares += float(np.dot(samples.ravel(), samples.ravel()))
        result.peak = max(result.peak, float(np.max(np.abs(samples))))
    result.values += samples.size
    result.samples += frame.samples
    # Some streams only reveal their rate and layout in the first decoded frame.
    result.sample_rate = result.sample_rate or frame.sample_rate
    result.channels = result.channels or len(frame.layout.channels)


def _as_float(array: np.ndarray) -> np.ndarray:
    """Decoder output (int16/int32/float, planar or packed) as float64 in [-1, 1]."""
    if array.dtype.kind == "f":
        return array.astype(np.float64, copy=False)
    if array.dtype == np.uint8:
        return (array.astype(np.float64) - 128.0) / 128.0
    return array.astype(np.float64) / float(np.iinfo(array.dtype).max)


@contextmanager
def _opened(source: BinaryIO | str | os.PathLike[str]) -> Iterator[BinaryIO]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fileobj:
            yield fileobj
    else:
        yield source


def _display_name(claimed_name: str) -> str:
    # Only the last path component, printable, and short: it is echoed back in messages.
    name = PurePath(claimed_name.replace("\\", "/")).name or "upload"
    name = "".join(ch for ch in name if ch.isprintable())
    return name if len(name) <= 80 else name[:77] + "..."


def _dbfs(level: float) -> float:
    return 20 * math.log10(level) if level > 0 else -math.inf


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds:.1f} seconds"
