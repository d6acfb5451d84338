"""ElevenLabs adapter against a local fake that speaks its HTTP API (a real aiohttp server)."""

from __future__ import annotations

import io
import json
import socket
import struct
from collections.abc import Iterator

import pytest

from anvil_voice.speech.elevenlabs import ElevenLabsVoiceProvider
from anvil_voice.speech.protocols import (
    ProviderError,
    ProviderTimeout,
    SampleInput,
    VoiceProvider,
)

API_KEY = "xi-test-key-not-secret"


@pytest.fixture
def provider(fake) -> Iterator[ElevenLabsVoiceProvider]:
    adapter = ElevenLabsVoiceProvider(api_key=API_KEY, base_url=fake.base_url, timeout_seconds=0.5)
    yield adapter
    adapter.close()


def mulaw_wav(payload: bytes) -> bytes:
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


# aiohttp's own multipart reader (the fake's side) uses an API it has deprecated.
@pytest.mark.filterwarnings("ignore:unread_data:DeprecationWarning")
def test_it_uploads_an_instant_clone_as_elevenlabs_expects(provider, fake, speech, encode):
    samples, rate = speech
    wav, flac = encode(samples, rate, "wav"), encode(samples, rate, "flac")

    result = provider.clone_voice(
        name="Dana",
        description="Warm, friendly",
        labels={"accent": "american", "use": "sales"},
        samples=[
            SampleInput(name="first.wav", file=io.BytesIO(wav)),
            # Named .mp3 but FLAC inside: the declared type follows the content.
            SampleInput(name="second.mp3", file=io.BytesIO(flac)),
        ],
    )

    assert isinstance(provider, VoiceProvider)
    assert result.provider == "elevenlabs"
    assert result.provider_voice_id == "v0ice123"
    assert result.is_clone is True
    assert result.note == "ElevenLabs instant voice clone"
    [seen] = fake.requests
    assert (seen.method, seen.raw_path) == ("POST", "/v1/voices/add")
    assert seen.headers["xi-api-key"] == API_KEY
    assert seen.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert seen.fields == {
        "name": "Dana",
        "description": "Warm, friendly",
        "labels": json.dumps({"accent": "american", "use": "sales"}),
        "remove_background_noise": "false",
    }
    assert json.loads(seen.fields["labels"]) == {"accent": "american", "use": "sales"}
    assert seen.files == [
        ("files", "first.wav", "audio/wav", wav),
        ("files", "second.mp3", "audio/flac", flac),
    ]


def test_it_reports_a_clone_that_needs_verification(provider, fake):
    fake.reply("POST", "/v1/voices/add", json={"voice_id": "v9", "requires_verification": True})

    result = provider.clone_voice(
        name="Dana", description="", labels={}, samples=[SampleInput("a.wav", io.BytesIO(b"x"))]
    )

    assert result.note == (
        "ElevenLabs instant voice clone; ElevenLabs requires verification before it can be used"
    )


def test_it_sends_remove_background_noise_when_asked(fake):
    adapter = ElevenLabsVoiceProvider(
        api_key=API_KEY, base_url=fake.base_url, remove_background_noise=True
    )

    adapter.clone_voice(
        name="N", description="", labels={}, samples=[SampleInput("a.wav", io.BytesIO(b"x"))]
    )
    adapter.close()

    assert fake.requests[0].fields["remove_background_noise"] == "true"


def test_it_deletes_a_voice_and_treats_already_gone_as_done(provider, fake):
    fake.reply(
        "DELETE",
        "/v1/voices/gone",
        status=404,
        json={"detail": {"status": "voice_not_found", "message": "Voice not found"}},
    )

    # ElevenLabs has also answered 400 with this older status for an unknown id.
    fake.reply(
        "DELETE",
        "/v1/voices/old",
        status=400,
        json={"detail": {"status": "voice_does_not_exist", "message": "No such voice."}},
    )

    provider.delete_voice(provider_voice_id="v0ice123")
    provider.delete_voice(provider_voice_id="gone")
    provider.delete_voice(provider_voice_id="old")

    assert [(r.method, r.raw_path) for r in fake.requests] == [
        ("DELETE", "/v1/voices/v0ice123"),
        ("DELETE", "/v1/voices/gone"),
        ("DELETE", "/v1/voices/old"),
    ]


def test_it_reports_an_unknown_voice_when_synthesising(provider, fake):
    fake.reply(
        "POST",
        "/v1/text-to-speech/nope",
        status=400,
        json={
            "detail": {"status": "voice_not_found", "message": "A voice for nope was not found."}
        },
    )

    with pytest.raises(ProviderError) as caught:
        provider.synthesize(provider_voice_id="nope", text="Hi.", output_format="ulaw_8000")

    assert (caught.value.code, caught.value.retryable) == ("voice_not_found", False)
    assert caught.value.message == "A voice for nope was not found."


def test_it_still_fails_a_delete_the_provider_refuses(provider, fake):
    fake.reply("DELETE", "/v1/voices/v1", status=401, json={"detail": {"message": "Bad key"}})

    with pytest.raises(ProviderError) as caught:
        provider.delete_voice(provider_voice_id="v1")

    assert caught.value.code == "provider_auth"


def test_it_asks_for_mp3_previews_with_the_flash_model(provider, fake):
    mp3 = provider.synthesize(
        provider_voice_id="v0ice123", text="Hello there.", output_format="mp3_44100_128"
    )

    assert mp3 == fake.tone_mp3
    [seen] = fake.requests
    assert seen.raw_path == "/v1/text-to-speech/v0ice123"
    assert seen.query == {"output_format": "mp3_44100_128"}
    assert seen.headers["xi-api-key"] == API_KEY
    assert seen.json == {
        "text": "Hello there.",
        "model_id": "eleven_flash_v2_5",
        "voice_settings": {
            "stability": 0.5,
            "similarity_boost": 0.75,
            "style": 0.0,
            "use_speaker_boost": True,
            "speed": 1.0,
        },
    }


def test_it_returns_raw_ulaw_as_is(provider, fake):
    ulaw = provider.synthesize(provider_voice_id="v1", text="Hi.", output_format="ulaw_8000")

    assert ulaw == b"\x7f" * 800
    assert fake.requests[0].query == {"output_format": "ulaw_8000"}


def test_it_strips_a_wav_header_from_ulaw_answers(provider, fake):
    payload = bytes(range(1, 201))
    fake.reply("POST", "/v1/text-to-speech/v1", body=mulaw_wav(payload))

    ulaw = provider.synthesize(provider_voice_id="v1", text="Hi.", output_format="ulaw_8000")

    assert ulaw == payload


def test_it_refuses_an_mp3_answer_that_is_not_mp3(provider, fake):
    fake.reply("POST", "/v1/text-to-speech/v1", body=b"<html>oops</html>")

    with pytest.raises(ProviderError) as caught:
        provider.synthesize(provider_voice_id="v1", text="Hi.", output_format="mp3_44100_128")

    assert caught.value.code == "provider_bad_response"


def test_it_keeps_a_voice_id_inside_its_path_segment(provider, fake):
    provider.synthesize(provider_voice_id="../voices/x?y", text="Hi.", output_format="ulaw_8000")

    assert fake.requests[0].raw_path == "/v1/text-to-speech/..%2Fvoices%2Fx%3Fy"


@pytest.mark.parametrize(
    ("status", "answer", "code", "message", "retryable"),
    [
        (
            401,
            {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
            "provider_auth",
            "ElevenLabs refused our credentials (401): Invalid API key.",
            False,
        ),
        (
            422,
            {"detail": {"status": "invalid_samples", "message": "Sample is too short."}},
            "provider_rejected",
            "Sample is too short.",
            False,
        ),
        (
            422,
            {"detail": [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}]},
            "provider_rejected",
            "field required",
            False,
        ),
        (
            400,
            {"detail": {"status": "voice_limit_reached", "message": "Too many voices."}},
            "provider_rejected",
            "Too many voices.",
            False,
        ),
        (
            429,
            {"detail": {"status": "too_many_concurrent_requests", "message": "Slow down"}},
            "provider_rate_limited",
            "Slow down",
            True,
        ),
        (500, None, "provider_unavailable", "ElevenLabs failed (500).", True),
        (
            503,
            {"detail": "maintenance"},
            "provider_unavailable",
            "ElevenLabs failed (503): maintenance.",
            True,
        ),
    ],
)
def test_it_maps_provider_errors(provider, fake, status, answer, code, message, retryable):
    fake.reply("POST", "/v1/voices/add", status=status, json=answer, body=b"Internal error")

    with pytest.raises(ProviderError) as caught:
        provider.clone_voice(
            name="D", description="", labels={}, samples=[SampleInput("a.wav", io.BytesIO(b"x"))]
        )

    assert (caught.value.code, caught.value.message, caught.value.retryable) == (
        code,
        message,
        retryable,
    )
    assert API_KEY not in str(caught.value)


def test_it_raises_a_retryable_timeout_when_the_provider_hangs(provider, fake):
    fake.reply("POST", "/v1/text-to-speech/slow", delay=2.0, body=b"\x7f")

    with pytest.raises(ProviderTimeout) as caught:
        provider.synthesize(provider_voice_id="slow", text="Hi.", output_format="ulaw_8000")

    assert caught.value.code == "provider_timeout"
    assert caught.value.retryable is True


def test_it_reports_an_unreachable_provider_as_retryable():
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = ElevenLabsVoiceProvider(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(ProviderError) as caught:
        adapter.delete_voice(provider_voice_id="v1")
    adapter.close()

    assert caught.value.code == "provider_unreachable"
    assert caught.value.retryable is True


async def test_it_streams_ulaw_chunks(provider, fake):
    chunks = [
        chunk async for chunk in provider.stream_synthesize(provider_voice_id="v1", text="Hi.")
    ]

    assert b"".join(chunks) == b"\x7f" * 100 + b"\x7e" * 60
    [seen] = fake.requests
    assert seen.raw_path == "/v1/text-to-speech/v1/stream"
    assert seen.query == {"output_format": "ulaw_8000"}
    assert seen.headers["xi-api-key"] == API_KEY
    assert seen.json["model_id"] == "eleven_flash_v2_5"


async def test_it_strips_a_wav_header_split_across_stream_chunks(provider, fake):
    payload = bytes(range(1, 256)) * 4
    wav = mulaw_wav(payload)
    fake.reply(
        "POST", "/v1/text-to-speech/v1/stream", chunks=[wav[:5], wav[5:30], wav[30:60], wav[60:]]
    )

    chunks = [
        chunk async for chunk in provider.stream_synthesize(provider_voice_id="v1", text="Hi.")
    ]

    assert b"".join(chunks) == payload


async def test_it_raises_provider_errors_from_the_stream(provider, fake):
    fake.reply(
        "POST",
        "/v1/text-to-speech/v1/stream",
        status=401,
        json={"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
    )

    with pytest.raises(ProviderError) as caught:
        async for _ in provider.stream_synthesize(provider_voice_id="v1", text="Hi."):
            pass

    assert caught.value.code == "provider_auth"
    assert caught.value.retryable is False


async def test_it_times_out_a_stream_that_never_starts(provider, fake):
    fake.reply("POST", "/v1/text-to-speech/v1/stream", delay=2.0, chunks=[b"\x7f"])

    with pytest.raises(ProviderTimeout):
        async for _ in provider.stream_synthesize(provider_voice_id="v1", text="Hi."):
            pass


async def test_it_lets_a_barge_in_abandon_the_stream(provider, fake):
    fake.reply("POST", "/v1/text-to-speech/v1/stream", chunks=[b"\x7f" * 160] * 50)
    stream = provider.stream_synthesize(provider_voice_id="v1", text="A long answer.")

    first = await anext(stream)
    await stream.aclose()  # the caller spoke: stop playing and drop the connection

    assert first
    assert len(fake.requests) == 1
