"""Silencing stretches of a WAV recording (the spans where a caller gave personal data).

Only the samples change: the header, the length and everything outside the spans stay byte for
byte, so the recording still lines up with its transcript.
"""

from __future__ import annotations

from collections.abc import Sequence

# The byte one sample of silence is, per WAV format tag (PCM depends on its width).
_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
_SILENCE_BYTE = {_FLOAT: 0x00, _ALAW: 0xD5, _MULAW: 0xFF}


class UnsupportedRecording(ValueError):
    """Not a WAV whose samples we know how to silence (the caller must not keep it raw)."""


def _chunks(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Chunk id → (offset of its body, length of its body), clamped to the file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UnsupportedRecording("not a RIFF/WAVE file")
    chunks: dict[bytes, tuple[int, int]] = {}
    position = 12
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        body = position + 8
        # A recording written while streaming may declare more than it holds.
        chunks.setdefault(chunk_id, (body, min(size, len(data) - body)))
        position = body + size + (size % 2)
    return chunks


def mute_wav(data: bytes, spans_ms: Sequence[tuple[int, int]]) -> bytes:
    """The WAV with every [start_ms, end_ms) span silenced (spans past the end are clipped)."""
    chunks = _chunks(data)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise UnsupportedRecording("no fmt or data chunk")
    fmt_at, fmt_length = chunks[b"fmt "]
    fmt = data[fmt_at : fmt_at + fmt_length]
    if len(fmt) < 16:
        raise UnsupportedRecording("short fmt chunk")
    tag = int.from_bytes(fmt[0:2], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    block = int.from_bytes(fmt[12:14], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # the sub-format GUID's first two bytes
    if tag == _PCM:
        silence = 0x80 if bits == 8 else 0x00
    elif tag in _SILENCE_BYTE:
        silence = _SILENCE_BYTE[tag]
    else:
        raise UnsupportedRecording(f"WAV format {tag:#x}")
    if rate <= 0 or block <= 0:
        raise UnsupportedRecording("no sample rate or block size")
    data_at, data_length = chunks[b"data"]
    frames = data_length // block
    muted = bytearray(data)
    for start_ms, end_ms in spans_ms:
        first = max(0, start_ms * rate // 1000)
        last = min(frames, -(-end_ms * rate // 1000))  # rounded up: never a sample short
        if last > first:
            begin, end = data_at + first * block, data_at + last * block
            muted[begin:end] = bytes([silence]) * (end - begin)
    return bytes(muted)
