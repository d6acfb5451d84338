"""ElevenLabs adapter: instant voice clones and TTS over its HTTP API.

Only this module knows ElevenLabs' paths, field names and error shapes; callers see the
VoiceProvider protocol and ProviderError codes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, BinaryIO, NoReturn
from urllib.parse import quote

import httpx
from django.conf import settings

from anvil_voice.speech.codec import strip_wav_header
from anvil_voice.speech.protocols import (
    CloneResult,
    OutputFormat,
    ProviderError,
    ProviderTimeout,
    SampleInput,
)
from anvil_voice.speech.sniff import sniff_format

logger = logging.getLogger(__name__)

PROVIDER_NAME = "elevenlabs"
DEFAULT_BASE_URL = "https://api.elevenlabs.io"
# The low-latency model: first audio in about 75 ms, which a phone conversation needs.
DEFAULT_MODEL_ID = "eleven_flash_v2_5"
DEFAULT_VOICE_SETTINGS: Mapping[str, Any] = {
    "stability": 0.5,
    "similarity_boost": 0.75,
    "style": 0.0,
    "use_speaker_boost": True,
    "speed": 1.0,
}

_MIME_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "webm": "audio/webm",
    "mka": "audio/x-matroska",
}


class ElevenLabsVoiceProvider:
    """VoiceProvider backed by ElevenLabs.

    `api_key` and `base_url` default to the ELEVENLABS_API_KEY / ELEVENLABS_BASE_URL settings;
    tests pass them (and a base URL of a local fake) explicitly and need no Django.
    """

    name = PROVIDER_NAME

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model_id: str = DEFAULT_MODEL_ID,
        voice_settings: Mapping[str, Any] | None = None,
        remove_background_noise: bool = False,
        timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 5.0,
        upload_timeout_seconds: float = 120.0,
    ) -> None:
        if api_key is None or base_url is None:
            api_key = api_key if api_key is not None else settings.ELEVENLABS_API_KEY
            base_url = base_url if base_url is not None else settings.ELEVENLABS_BASE_URL
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._headers = {"xi-api-key": api_key or ""}
        self._model_id = model_id
        self._voice_settings = dict(voice_settings or DEFAULT_VOICE_SETTINGS)
        self._remove_background_noise = remove_background_noise
        self._timeout = httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds)
        # Several minutes of samples on a slow uplink take longer than one TTS answer.
        self._upload_timeout = httpx.Timeout(
            upload_timeout_seconds, connect=connect_timeout_seconds
        )
        # One pooled sync client per provider instance (httpx.Client is thread-safe); async
        # clients are bound to an event loop, so stream_synthesize opens its own.
        self._client = httpx.Client(
            base_url=self._base_url, headers=self._headers, timeout=self._timeout
        )

    def close(self) -> None:
        self._client.close()

    # --- VoiceProvider ------------------------------------------------------------------------

    def clone_voice(
        self,
        *,
        name: str,
        description: str,
        labels: Mapping[str, str],
        samples: Sequence[SampleInput],
    ) -> CloneResult:
        if not samples:
            raise ProviderError("no_samples", f"Voice {name!r} needs at least one sample.")
        data = {
            "name": name,
            "description": description,
            "labels": json.dumps(dict(labels)),
            "remove_background_noise": "true" if self._remove_background_noise else "false",
        }
        # File objects, not bytes: httpx streams each one into the multipart body.
        files = [
            ("files", (sample.name, sample.file, _content_type(sample.file))) for sample in samples
        ]
        response = self._send(
            "POST", "/v1/voices/add", data=data, files=files, timeout=self._upload_timeout
        )
        body = _json(response)
        voice_id = body.get("voice_id") if isinstance(body, dict) else None
        if not isinstance(voice_id, str) or not voice_id:
            raise ProviderError(
                "provider_bad_response", "ElevenLabs accepted the clone but returned no voice id."
            )
        note = "ElevenLabs instant voice clone"
        if isinstance(body, dict) and body.get("requires_verification"):
            note += "; ElevenLabs requires verification before it can be used"
        logger.info("speech.clone_created provider=%s voice_id=%s", self.name, voice_id)
        return CloneResult(provider=self.name, provider_voice_id=voice_id, is_clone=True, note=note)

    def delete_voice(self, *, provider_voice_id: str) -> None:
        try:
            self._send("DELETE", f"/v1/voices/{_segment(provider_voice_id)}")
        except ProviderError as error:
            # Deleting twice (a retried task, a voice removed in their dashboard) is success.
            if error.code != "voice_not_found":
                raise

    def synthesize(
        self, *, provider_voice_id: str, text: str, output_format: OutputFormat
    ) -> bytes:
        response = self._send(
            "POST",
            f"/v1/text-to-speech/{_segment(provider_voice_id)}",
            params={"output_format": output_format},
            json=self._tts_body(text),
        )
        return _checked_audio(response.content, output_format)

    async def stream_synthesize(self, *, provider_voice_id: str, text: str) -> AsyncIterator[bytes]:
        stripper = _RiffStripper()
        try:
            async with (
                httpx.AsyncClient(
                    base_url=self._base_url, headers=self._headers, timeout=self._timeout
                ) as client,
                client.stream(
                    "POST",
                    f"/v1/text-to-speech/{_segment(provider_voice_id)}/stream",
                    params={"output_format": "ulaw_8000"},
                    json=self._tts_body(text),
                ) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for_status(response)
                async for chunk in response.aiter_bytes():
                    if audio := stripper.feed(chunk):
                        yield audio
        except httpx.TimeoutException as error:
            raise ProviderTimeout("ElevenLabs did not answer in time.") from error
        except httpx.TransportError as error:
            raise _unreachable(error) from error
        if rest := stripper.finish():
            yield rest

    # --- HTTP ---------------------------------------------------------------------------------

    def _tts_body(self, text: str) -> dict[str, Any]:
        return {"text": text, "model_id": self._model_id, "voice_settings": self._voice_settings}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise ProviderTimeout("ElevenLabs did not answer in time.") from error
        except httpx.TransportError as error:
            raise _unreachable(error) from error
        if response.status_code >= 400:
            _raise_for_status(response)
        return response


# ElevenLabs has answered an unknown voice id with 404 and with 400, under either status string.
_VOICE_MISSING = {"voice_not_found", "voice_does_not_exist"}


def _raise_for_status(response: httpx.Response) -> NoReturn:
    status = response.status_code
    detail = _detail_message(response)
    detail_status = _detail_status(response)
    logger.warning(
        "speech.provider_error provider=%s status=%s detail_status=%s",
        PROVIDER_NAME,
        status,
        detail_status or "-",
    )
    if status in (400, 404) and (status == 404 or detail_status in _VOICE_MISSING):
        raise ProviderError("voice_not_found", detail or "ElevenLabs does not know this voice.")
    if status in (401, 403):
        raise ProviderError(
            "provider_auth",
            f"ElevenLabs refused our credentials ({status}): "
            f"{detail or 'check ELEVENLABS_API_KEY'}.",
        )
    if status in (400, 422):
        raise ProviderError(
            "provider_rejected", detail or f"ElevenLabs rejected the request ({status})."
        )
    if status == 429:
        raise ProviderError(
            "provider_rate_limited",
            detail or "ElevenLabs is rate limiting us; try again shortly.",
            retryable=True,
        )
    if status >= 500:
        raise ProviderError(
            "provider_unavailable",
            f"ElevenLabs failed ({status}){': ' + detail if detail else ''}.",
            retryable=True,
        )
    raise ProviderError("provider_error", detail or f"ElevenLabs answered {status}.")


def _detail_message(response: httpx.Response) -> str:
    """ElevenLabs' human message: `detail.message`, FastAPI's `detail[].msg`, or `detail`."""
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("status") or "")
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    if isinstance(detail, str):
        return detail
    return ""


def _detail_status(response: httpx.Response) -> str:
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail.get("status") or "") if isinstance(detail, dict) else ""


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _checked_audio(content: bytes, output_format: OutputFormat) -> bytes:
    if output_format == "ulaw_8000":
        # Asked for raw mu-law; a WAV header would play as a click on the call.
        return strip_wav_header(content)
    if sniff_format(content[:4096]) != "mp3":
        raise ProviderError(
            "provider_bad_response",
            "ElevenLabs answered with something that is not MP3.",
            retryable=True,
        )
    return content


class _RiffStripper:
    """Removes a WAV header from the front of a mu-law stream, whatever the chunking.

    Mu-law 8 kHz mono payloads pass through as they arrive; any other WAV encoding is buffered
    and converted at the end (slower, but correct).
    """

    def __init__(self) -> None:
        self._head = b""
        self._mode: str | None = None  # None: still deciding; "raw"; "buffer"

    def feed(self, chunk: bytes) -> bytes:
        if self._mode == "raw":
            return chunk
        self._head += chunk
        if self._mode == "buffer":
            return b""
        if len(self._head) < 12:
            return b""
        if not (self._head[:4] == b"RIFF" and self._head[8:12] == b"WAVE"):
            self._mode = "raw"
            out, self._head = self._head, b""
            return out
        payload_at = _mulaw_payload_offset(self._head)
        if payload_at is None:
            return b""  # header not complete yet
        if payload_at < 0:
            self._mode = "buffer"
            return b""
        self._mode = "raw"
        out, self._head = self._head[payload_at:], b""
        return out

    def finish(self) -> bytes:
        rest, self._head = self._head, b""
        if not rest:
            return b""
        return strip_wav_header(rest)


def _mulaw_payload_offset(head: bytes) -> int | None:
    """Offset of the data chunk if the header is 8 kHz mono mu-law, -1 if it is anything
    else, None if `head` does not reach the data chunk yet."""
    pos = 12
    mulaw_8k_mono = False
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        size = int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk_id == b"fmt ":
            if pos + 8 + 16 > len(head):
                return None
            body = head[pos + 8 : pos + 24]
            mulaw_8k_mono = (
                int.from_bytes(body[0:2], "little") == 7
                and int.from_bytes(body[2:4], "little") == 1
                and int.from_bytes(body[4:8], "little") == 8000
            )
        elif chunk_id == b"data":
            return pos + 8 if mulaw_8k_mono else -1
        pos += 8 + size + (size & 1)
    return None


def _content_type(file: BinaryIO) -> str:
    """MIME type by content (the sample's name may lie), rewinding what we peeked at."""
    try:
        if not file.seekable():
            return "application/octet-stream"
        position = file.tell()
        head = file.read(4096)
        file.seek(position)
    except (OSError, ValueError):
        return "application/octet-stream"
    return _MIME_TYPES.get(sniff_format(head) or "", "application/octet-stream")


def _segment(voice_id: str) -> str:
    # A voice id is one path segment; quoting keeps "../" or "?" in an id from going anywhere.
    return quote(voice_id, safe="")


def _unreachable(error: httpx.TransportError) -> ProviderError:
    return ProviderError(
        "provider_unreachable",
        f"Could not reach ElevenLabs ({type(error).__name__}).",
        retryable=True,
    )
