"""Magic bytes: which audio container a file is, from its first bytes, whatever its name says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO


def sniff_format(head: bytes) -> str | None:
    """Name the container from its first bytes ("wav", "mp3", "flac", "ogg", "m4a", "aac",
    "webm", "mka"), or None when they are not audio we know."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # EBML: WebM and Matroska differ only by the DocType string near the start.
        return "mka" if b"matroska" in head[:64] else "webm"
    if head[:3] == b"ID3":
        # An ID3v2 tag can precede MP3, AAC or even FLAC. Look past it when the tag is short
        # enough to be inside `head`; what follows must be audio too, otherwise this is
        # something else (e.g. a web page) wearing an MP3 tag.
        end = id3_end(head)
        if end is None or end >= len(head):
            return "mp3"
        after = head[end:].lstrip(b"\x00")
        if not after:
            return "mp3"
        inner = sniff_format(after)
        return inner if inner in {"mp3", "aac", "flac"} else None
    if _is_adts(head):
        return "aac"
    if _is_mpeg_audio_frame(head):
        return "mp3"
    return None


def sniff_after_id3(fileobj: BinaryIO, head: bytes) -> str | None:
    """Like sniff_format's ID3 case, for tags (usually cover art) longer than the head read."""
    end = id3_end(head)
    if end is None or end < len(head):
        return sniff_format(head)
    fileobj.seek(end)
    after = fileobj.read(4096).lstrip(b"\x00")
    if not after:
        return None  # a tag and nothing else
    inner = sniff_format(after)
    return inner if inner in {"mp3", "aac", "flac"} else None


def id3_end(head: bytes) -> int | None:
    """Where the audio starts after a leading ID3v2 tag, or None when `head` has no valid tag."""
    if len(head) < 10:
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):
        return None  # not a valid "syncsafe" size: not really ID3
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _is_adts(head: bytes) -> bool:
    # 12-bit sync, then MPEG version, layer always 00 for ADTS.
    return len(head) >= 7 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0


def _is_mpeg_audio_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    rate_index = (head[2] >> 2) & 0b11
    # Reserved values in any field mean the sync pattern was chance, not a frame header.
    return version != 0b01 and layer != 0b00 and bitrate_index != 0xF and rate_index != 0b11


@dataclass(frozen=True)
class DeclaredStream:
    """What a container header promises, read without decoding anything."""

    sample_rate: int  # 0 when the header does not say (the decoder judges such a file)
    channels: int
    # None when the header makes no promise (a streaming writer's placeholder size).
    seconds: float | None


def declared_stream(start: bytes, fmt: str) -> DeclaredStream | None:
    """The sample rate, channel count and length a WAV or FLAC header declares.

    `start` is the first bytes of the audio itself (after any ID3 tag). These two formats
    carry all three in a fixed place, so a file that declares a stream too big to decode
    (655 350 Hz x 8 channels, hours long) is refused before FFmpeg reads a single block. Other
    formats are checked from the demuxer's stream parameters, still before decoding.
    """
    if fmt == "wav":
        return _wav_declared(start)
    if fmt == "flac":
        return _flac_declared(start)
    return None


def _flac_declared(start: bytes) -> DeclaredStream | None:
    # "fLaC", then the STREAMINFO block, which the format requires to come first: a 4-byte
    # block header (type 0), then min/max block size (2+2), min/max frame size (3+3) and a
    # 64-bit field of sample rate (20 bits), channels - 1 (3), bits per sample - 1 (5) and
    # total samples per channel (36; 0 means unknown).
    if start[:4] != b"fLaC" or len(start) < 26 or start[4] & 0x7F != 0:
        return None
    packed = int.from_bytes(start[18:26], "big")
    rate = packed >> 44
    channels = ((packed >> 41) & 0b111) + 1
    total = packed & ((1 << 36) - 1)
    if rate == 0:
        return None  # invalid: the decoder will say so
    return DeclaredStream(rate, channels, total / rate if total else None)


def _wav_declared(start: bytes) -> DeclaredStream | None:
    pos = 12
    rate = channels = byte_rate = 0
    while pos + 8 <= len(start):
        chunk_id = start[pos : pos + 4]
        size = int.from_bytes(start[pos + 4 : pos + 8], "little")
        if chunk_id == b"fmt " and pos + 20 <= len(start):
            channels = int.from_bytes(start[pos + 10 : pos + 12], "little")
            rate = int.from_bytes(start[pos + 12 : pos + 16], "little")
            byte_rate = int.from_bytes(start[pos + 16 : pos + 20], "little")
        elif chunk_id == b"data":
            # Streaming writers leave 0 or 0xFFFFFFFF here: no promise was made.
            promised = byte_rate > 0 and size not in (0, 0xFFFFFFFF)
            return DeclaredStream(rate, channels, size / byte_rate if promised else None)
        pos += 8 + size + (size & 1)
    return None


def wav_claimed_seconds(head: bytes) -> float | None:
    """Duration the WAV header promises (data chunk size / byte rate).

    FFmpeg trusts the file size over the header, so a cut-off WAV would otherwise look whole.
    """
    declared = _wav_declared(head)
    return declared.seconds if declared else None
