"""Raw audio conversions for the phone path: mu-law, resampling, MP3, 20 ms frames.

Twilio Media Streams carry 8 kHz mono mu-law in 20 ms frames (160 bytes); previews in the admin
are MP3. Everything here works on whole byte strings of mono 16-bit little-endian PCM ("pcm16")
or raw mu-law ("ulaw") and never on files.
"""

from __future__ import annotations

import io
import sys
import warnings
import wave

import av
import lameenc
import numpy as np

if sys.version_info >= (3, 13):  # pragma: no cover - exercised only on 3.13+
    import audioop  # provided by the audioop-lts package
else:
    # audioop is deprecated in 3.12 and removed in 3.13 (audioop-lts replaces it); the warning
    # says nothing actionable on 3.12, so keep it out of every caller's log and test output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

PHONE_SAMPLE_RATE = 8000
FRAME_MS = 20
# 8000 samples/s * 0.020 s * 1 byte per mu-law sample.
ULAW_FRAME_BYTES = PHONE_SAMPLE_RATE * FRAME_MS // 1000
# The mu-law code for a zero sample: what "silence" looks like on the wire.
ULAW_SILENCE_BYTE = 0xFF


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode mono 16-bit PCM as mu-law (one byte per sample)."""
    return audioop.lin2ulaw(_even(pcm), 2)


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    """Decode mu-law to mono 16-bit PCM (two bytes per sample)."""
    return audioop.ulaw2lin(ulaw, 2)


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample mono 16-bit PCM with libswresample (band-limited, unlike audioop.ratecv).

    A proper low-pass matters when going 22.05 kHz -> 8 kHz: linear interpolation folds the
    voice's upper harmonics back into the phone band and Whisper hears the difference.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError("sample rates must be positive")
    pcm = _even(pcm)
    if from_rate == to_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = from_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = bytearray()
    # The second call (None) flushes the samples the filter still holds.
    for chunk in (*resampler.resample(frame), *resampler.resample(None)):
        out += chunk.to_ndarray().astype("<i2", copy=False).tobytes()
    return bytes(out)


def encode_mp3(pcm: bytes, sample_rate: int, *, bitrate_kbps: int = 128) -> bytes:
    """Encode mono 16-bit PCM to MP3 with LAME (no system library needed)."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(5)  # 2 = best, 7 = fastest; 5 is LAME's balanced default.
    data = encoder.encode(_even(pcm))
    data += encoder.flush()
    return bytes(data)


def ulaw_silence(ms: int) -> bytes:
    """Mu-law silence of the given length at 8 kHz."""
    return bytes([ULAW_SILENCE_BYTE]) * (PHONE_SAMPLE_RATE * ms // 1000)


def frames_20ms(ulaw: bytes) -> list[bytes]:
    """Split 8 kHz mu-law into 160-byte (20 ms) frames, padding the last one with silence."""
    frames = [ulaw[i : i + ULAW_FRAME_BYTES] for i in range(0, len(ulaw), ULAW_FRAME_BYTES)]
    if frames and len(frames[-1]) < ULAW_FRAME_BYTES:
        frames[-1] = frames[-1].ljust(ULAW_FRAME_BYTES, bytes([ULAW_SILENCE_BYTE]))
    return frames


def strip_wav_header(data: bytes) -> bytes:
    """Return raw 8 kHz mu-law from a TTS answer that may or may not be wrapped in a WAV file.

    Providers asked for raw mu-law sometimes send a RIFF/WAVE file instead; its 44+ header bytes
    would play as a click on the call. Data that is not RIFF is returned unchanged; a WAV that
    holds PCM or another rate is converted to 8 kHz mu-law.
    """
    if not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        return data
    fmt_tag, channels, rate, bits, payload = _read_wav_chunks(data)
    if fmt_tag == _WAVE_FORMAT_MULAW:
        pcm = ulaw_to_pcm16(payload)
    elif fmt_tag == _WAVE_FORMAT_PCM and bits in (8, 16, 24, 32):
        width = bits // 8
        if width == 1:  # 8-bit WAV is unsigned; audioop works on signed samples.
            pcm = audioop.lin2lin(audioop.bias(payload, 1, -128), 1, 2)
        elif width == 2:
            pcm = _even(payload)
        else:
            pcm = audioop.lin2lin(payload[: len(payload) - len(payload) % width], width, 2)
    else:
        raise ValueError(f"unsupported WAV encoding (format tag {fmt_tag}, {bits} bits)")
    if channels == 2:
        pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
    elif channels != 1:
        raise ValueError(f"unsupported WAV channel count {channels}")
    if fmt_tag == _WAVE_FORMAT_MULAW and channels == 1 and rate == PHONE_SAMPLE_RATE:
        return payload  # already what the phone wants: no lossy round trip
    return pcm16_to_ulaw(resample_pcm16(pcm, rate, PHONE_SAMPLE_RATE))


def pcm16_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap mono 16-bit PCM in a WAV container (handy for storage and tests)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(_even(pcm))
    return buffer.getvalue()


_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_MULAW = 7
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def _read_wav_chunks(data: bytes) -> tuple[int, int, int, int, bytes]:
    """Walk RIFF chunks by hand: the stdlib wave module refuses mu-law (format tag 7)."""
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            tag = int.from_bytes(body[0:2], "little")
            if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                # The real format tag is the first two bytes of the sub-format GUID.
                tag = int.from_bytes(body[24:26], "little")
            fmt = (
                tag,
                int.from_bytes(body[2:4], "little"),
                int.from_bytes(body[4:8], "little"),
                int.from_bytes(body[14:16], "little"),
            )
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            # Streaming providers write 0 or 0xFFFFFFFF as the size: take what is there.
            if size in (0, 0xFFFFFFFF) or pos + 8 + size > len(data):
                body = data[pos + 8 :]
            return (*fmt, body)
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    raise ValueError("WAV file has no data chunk")


def _even(pcm: bytes) -> bytes:
    # A dangling half sample would make audioop raise; it carries no audio anyway.
    return pcm[: len(pcm) - (len(pcm) % 2)]
