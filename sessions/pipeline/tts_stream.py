"""Text → 20 ms mu-law frames through a `VoiceProvider`, with stall detection.

Providers stream chunks of arbitrary size; Twilio wants 160-byte frames. A provider asked for
raw `ulaw_8000` sometimes answers with a RIFF/WAVE file instead: the header would play as a
click, so such an answer is collected whole and unwrapped (and converted if it holds PCM)
with `strip_wav_header` — it loses streaming for that sentence, which is the price of a
misbehaving provider.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from anvil_voice.speech.codec import ULAW_FRAME_BYTES, ULAW_SILENCE_BYTE, strip_wav_header
from anvil_voice.speech.protocols import ProviderError, VoiceProvider


class SynthesisFailure(Exception):
    def __init__(self, code: str, message: str, *, provider: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.provider = provider


async def synthesize_frames(
    voice: VoiceProvider,
    *,
    voice_id: str,
    text: str,
    first_audio_timeout: float,
    stall_timeout: float,
) -> AsyncIterator[bytes]:
    """Yield 160-byte frames; the last one padded with silence. Raises `SynthesisFailure`.

    ``first_audio_timeout`` bounds the wait for the first bytes, ``stall_timeout`` every wait
    after that (a stream that starts and then hangs is as bad as one that never starts).
    """
    provider = _provider_name(voice)
    stream = voice.stream_synthesize(provider_voice_id=voice_id, text=text)
    pending = bytearray()
    wav: bytearray | None = None
    received = False
    try:
        while True:
            timeout = stall_timeout if received else first_audio_timeout
            try:
                async with asyncio.timeout(timeout):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                break
            except TimeoutError as error:
                what = "stalled" if received else "sent no audio"
                raise SynthesisFailure(
                    "tts_timeout", f"{provider} {what} within {timeout}s", provider=provider
                ) from error
            except ProviderError as error:
                raise SynthesisFailure(error.code, error.message, provider=provider) from error
            except Exception as error:  # a provider bug must not kill the call
                raise SynthesisFailure("tts_error", repr(error), provider=provider) from error
            if not chunk:
                continue
            if not received:
                received = True
                if chunk[:4] == b"RIFF":
                    wav = bytearray()
            if wav is not None:
                wav += chunk
                continue
            pending += chunk
            while len(pending) >= ULAW_FRAME_BYTES:
                yield bytes(pending[:ULAW_FRAME_BYTES])
                del pending[:ULAW_FRAME_BYTES]
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    if wav is not None:
        try:
            # Converting PCM/other rates resamples: CPU work, kept off the loop.
            pending = bytearray(await asyncio.to_thread(strip_wav_header, bytes(wav)))
        except ValueError as error:
            raise SynthesisFailure("tts_bad_audio", str(error), provider=provider) from error
        for start in range(0, len(pending) - ULAW_FRAME_BYTES + 1, ULAW_FRAME_BYTES):
            yield bytes(pending[start : start + ULAW_FRAME_BYTES])
        del pending[: len(pending) - len(pending) % ULAW_FRAME_BYTES]
    if pending:
        yield bytes(pending.ljust(ULAW_FRAME_BYTES, bytes([ULAW_SILENCE_BYTE])))


def _provider_name(voice: VoiceProvider) -> str:
    try:
        return str(voice.name)
    except Exception:
        return type(voice).__name__
