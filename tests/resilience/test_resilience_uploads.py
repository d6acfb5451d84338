"""A corpus of malformed uploads against `POST /voices/clone`: all refused cleanly, nothing left.

The corpus is built here in code (tones encoded with PyAV, then cut, lied about, corrupted or
glued to documents), so no binary blob is committed. Each bad file is sent next to two good
samples, so the only reason to refuse the request is that file: the answer must be a 4xx
envelope whose message names it, never a 500, and afterwards there must be no Voice or
VoiceSample row and no file in the storage (the local media folder, or the S3 bucket for the
subset that runs against SeaweedFS).
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anvil_voice.speech.codec import pcm16_to_wav
from tests.voices.voices_support import SeaweedS3, encode_audio, flac_declaring
from voices.models import Voice, VoiceEvent, VoiceSample

CLONE = "/api/v1/voice/voices/clone"
RATE = 16000


# --- building the corpus ----------------------------------------------------------------------


def voice_like(seconds: float, base: float) -> np.ndarray:
    """A loud, varying, non-silent signal (a chord with a wobble), as int16."""
    t = np.arange(int(seconds * RATE)) / RATE
    wobble = 1 + 0.02 * np.sin(2 * np.pi * 3 * t)
    signal = sum(np.sin(2 * np.pi * base * k * wobble * t) / k for k in (1, 2, 3)) * np.abs(
        np.sin(2 * np.pi * 0.7 * t) + 0.3
    )
    return (signal / np.max(np.abs(signal)) * 0.4 * 32767).astype(np.int16)


@cache
def audio(fmt: str, seconds: float = 6.0, base: float = 180.0) -> bytes:
    return encode_audio(voice_like(seconds, base), RATE, fmt)


def good_pair() -> list[SimpleUploadedFile]:
    """Two different recordings, 12 seconds in all: a valid clone on their own."""
    return [
        SimpleUploadedFile("good-1.wav", audio("wav", 6.0, 180.0), "audio/wav"),
        SimpleUploadedFile("good-2.wav", audio("wav", 6.0, 240.0), "audio/wav"),
    ]


def lying_wav_sizes() -> bytes:
    wav = bytearray(audio("wav", 2.0))
    wav[4:8] = struct.pack("<I", 0xFFFFFFF0)  # RIFF size
    data_at = wav.index(b"data")
    wav[data_at + 4 : data_at + 8] = struct.pack("<I", 0x7FFFFFF0)  # data chunk size
    return bytes(wav)


def wav_claiming_hours() -> bytes:
    # A header for 4 GB of 16 kHz PCM (37 hours) with one second of real samples behind it.
    header = bytearray(pcm16_to_wav(voice_like(1.0, 200.0).tobytes(), RATE))
    header[4:8] = struct.pack("<I", 0xFFFFFFFF)
    data_at = header.index(b"data")
    header[data_at + 4 : data_at + 8] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(header)


def mp3_with_garbage_frames() -> bytes:
    mp3 = bytearray(audio("mp3"))
    noise = random.Random(9).randbytes(len(mp3))
    # Keep the first frames (so it sniffs as MP3), then overwrite most of every frame.
    for start in range(2048, len(mp3), 400):
        mp3[start + 4 : start + 380] = noise[start + 4 : start + 380]
    return bytes(mp3)


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "not audio " * 200)
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    # The start of a JFIF file (SOI, APP0) and some entropy-coded filler: what a photo begins with.
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + random.Random(3).randbytes(4000)
        + b"\xff\xd9"
    )


def png_bytes() -> bytes:
    raw = b"".join(b"\x00" + bytes(range(48)) for _ in range(16))
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))


HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body>hello</body></html>\n" * 20
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def wav_head_then(payload: bytes) -> bytes:
    return audio("wav", 2.0)[:44] + payload


def ogg_with_broken_crcs() -> bytes:
    ogg = bytearray(audio("ogg"))
    at = ogg.find(b"OggS")
    while at != -1:
        ogg[at + 22 : at + 26] = bytes(b ^ 0xA5 for b in ogg[at + 22 : at + 26])
        at = ogg.find(b"OggS", at + 4)
    return bytes(ogg)


def flac_header_only() -> bytes:
    flac = audio("flac")
    # "fLaC" + the STREAMINFO block (4-byte header + 34 bytes), marked as the last metadata block.
    head = bytearray(flac[: 4 + 4 + 34])
    head[4] |= 0x80
    return bytes(head)


def flac_claiming_hours() -> bytes:
    head = bytearray(flac_header_only())
    # STREAMINFO's 36-bit total-samples field: 2^36 - 1 samples, about 50 days at 16 kHz.
    info = head[8:]
    info[13] |= 0x0F
    info[14:18] = b"\xff\xff\xff\xff"
    head[8:] = info
    return bytes(head) + audio("flac", 1.0)[42:]


def flac_bomb() -> bytes:
    # The probe's decompression bomb: 655 350 Hz x 8 channels x 590 s declared (three billion
    # samples), inside the 600 s duration limit.
    return flac_declaring(audio("flac", 2.0), rate=655_350, channels=8, seconds=590)


def m4a_without_moov() -> bytes:
    m4a = audio("m4a")
    boxes = []
    at = 0
    while at + 8 <= len(m4a):
        size, kind = struct.unpack(">I4s", m4a[at : at + 8])
        if size < 8:
            break
        if kind != b"moov":
            boxes.append(m4a[at : at + size])
        at += size
    stripped = b"".join(boxes)
    assert len(stripped) < len(m4a)
    return stripped


def truncated(fmt: str) -> Callable[[], bytes]:
    # Not Ogg: it has no length header, so an Ogg cut between pages is a shorter recording,
    # which is fine to accept; WAV, MP3 (Xing/size estimate) and FLAC say how long they are.
    return lambda: audio(fmt)[: len(audio(fmt)) // 3]


@dataclass(frozen=True)
class Bad:
    name: str
    build: Callable[[], bytes]
    content_type: str = "application/octet-stream"


CORPUS = [
    Bad("truncated.wav", truncated("wav"), "audio/wav"),
    Bad("truncated.mp3", truncated("mp3"), "audio/mpeg"),
    Bad("truncated.flac", truncated("flac"), "audio/flac"),
    Bad("lying-sizes.wav", lying_wav_sizes, "audio/wav"),
    Bad("claims-hours.wav", wav_claiming_hours, "audio/wav"),
    Bad("claims-hours.flac", flac_claiming_hours, "audio/flac"),
    Bad("empty.wav", lambda: b"", "audio/wav"),
    Bad("silence.wav", lambda: pcm16_to_wav(b"\0\0" * RATE * 4, RATE), "audio/wav"),
    Bad("garbage-frames.mp3", mp3_with_garbage_frames, "audio/mpeg"),
    Bad("zip-inside.wav", lambda: wav_head_then(zip_bytes()), "audio/wav"),
    Bad("html-inside.wav", lambda: wav_head_then(HTML), "audio/wav"),
    Bad("pdf-inside.wav", lambda: audio("wav", 2.0) + PDF, "audio/wav"),
    Bad("photo.wav", jpeg_bytes, "audio/wav"),
    Bad("page.mp3", lambda: HTML, "audio/mpeg"),
    Bad("archive.wav", zip_bytes, "audio/wav"),
    Bad("image.wav", png_bytes, "audio/wav"),
    Bad("notes.flac", lambda: b"meeting notes\n" * 300, "text/plain"),
    Bad("tag-only.mp3", lambda: b"ID3\x04\x00\x00\x00\x00\x02\x00" + b"\0" * 256, "audio/mpeg"),
    Bad("id3-then-html.mp3", lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + HTML, "audio/mpeg"),
    Bad("broken-crc.ogg", ogg_with_broken_crcs, "audio/ogg"),
    Bad("header-only.flac", flac_header_only, "audio/flac"),
    Bad("no-moov.m4a", m4a_without_moov, "audio/mp4"),
    Bad("riff-only.wav", lambda: b"RIFF\x24\x00\x00\x00WAVE", "audio/wav"),
    Bad("random.wav", lambda: random.Random(5).randbytes(20000), "audio/wav"),
    Bad("random-after-header.ogg", lambda: audio("ogg")[:200] + random.Random(6).randbytes(30000)),
    Bad("bomb.flac", flac_bomb, "audio/flac"),
]


# --- assertions ---------------------------------------------------------------------------------


def stored_files(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@pytest.fixture
def storage_listing(settings) -> Callable[[], list[str]]:
    """What the default storage holds (the media folder); empty at the start of each test."""
    root = Path(settings.MEDIA_ROOT)
    assert stored_files(root) == []
    return lambda: stored_files(root)


def assert_refused(
    response: Any, *, status: int = 400, naming: str | None = None
) -> dict[str, Any]:
    assert response.status_code != 500, response.content[:500]
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) <= {"code", "message", "details"}
    if naming is not None:
        messages = body["error"].get("details", {}).get("samples", [])
        assert any(message.startswith(f"{naming}: ") for message in messages), body
        # Only the bad file is blamed: the good pair next to it is fine.
        assert not any(message.startswith("good-") for message in messages), body
    return dict(body)


def assert_nothing_left(listing: Callable[[], list[str]]) -> None:
    assert Voice.objects.count() == 0
    assert VoiceSample.objects.count() == 0
    assert VoiceEvent.objects.count() == 0
    assert listing() == []


def clone(persona: Any, samples: list[Any], **fields: Any) -> Any:
    return persona.client.post(CLONE, {"name": "Corpus", **fields, "samples": samples})


# --- the corpus ---------------------------------------------------------------------------------


def test_the_good_pair_alone_is_accepted(owner, storage_listing):
    """The control: without a bad file the same request clones, so refusals below are the
    bad file's doing."""
    response = clone(owner, good_pair())

    assert response.status_code == 201, response.content[:500]
    assert VoiceSample.objects.count() == 2
    assert len(storage_listing()) == 2


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.name)
def test_a_malformed_file_is_refused_by_name_and_leaves_nothing(bad, owner, storage_listing):
    upload = SimpleUploadedFile(bad.name, bad.build(), bad.content_type)

    response = clone(owner, [*good_pair(), upload])

    assert_refused(response, naming=bad.name)
    assert_nothing_left(storage_listing)


def test_every_bad_file_is_named_in_one_answer(owner, storage_listing):
    uploads = [SimpleUploadedFile(bad.name, bad.build(), bad.content_type) for bad in CORPUS[:20]]

    response = clone(owner, [*good_pair()[:1], *uploads])

    body = assert_refused(response)
    named = {message.split(": ", 1)[0] for message in body["error"]["details"]["samples"]}
    assert named == {bad.name for bad in CORPUS[:20]}
    assert_nothing_left(storage_listing)


def test_a_decompression_bomb_is_refused_for_its_declared_rate(owner, storage_listing):
    upload = SimpleUploadedFile("bomb.flac", flac_bomb(), "audio/flac")

    response = clone(owner, [*good_pair(), upload])

    body = assert_refused(response, naming="bomb.flac")
    assert body["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The request is not valid; see error.details.",
        "details": {
            "samples": [
                "bomb.flac: is sampled at 655350 Hz; the limit is 48000 Hz (export it at 48 kHz "
                "or less)."
            ]
        },
    }
    assert_nothing_left(storage_listing)


# --- counts and sizes ---------------------------------------------------------------------------


def test_ten_thousand_tiny_files_are_refused(owner, storage_listing):
    uploads = [SimpleUploadedFile(f"tiny-{index}.wav", b"R") for index in range(10_000)]

    response = clone(owner, uploads)

    body = assert_refused(response)
    assert body["error"] == {"code": "PARSE_ERROR", "message": "The form has more than 100 files."}
    assert_nothing_left(storage_listing)


def test_two_thousand_form_fields_are_refused(owner, storage_listing):
    fields = {f"field{index}": "x" for index in range(2000)}

    response = owner.client.post(CLONE, {"name": "Corpus", **fields, "samples": good_pair()})

    body = assert_refused(response)
    assert body["error"] == {
        "code": "PARSE_ERROR",
        "message": "The form has more than 1000 fields.",
    }
    assert_nothing_left(storage_listing)


def test_one_file_more_than_the_sample_count_limit(owner, storage_listing):
    uploads = [SimpleUploadedFile(f"s{index}.wav", audio("wav", 1.0)) for index in range(26)]

    response = clone(owner, uploads)

    body = assert_refused(response)
    assert body["error"]["details"] == {"samples": ["At most 25 samples can be uploaded; got 26."]}
    assert_nothing_left(storage_listing)


def test_a_file_over_the_per_file_limit_is_named(owner, settings, storage_listing):
    settings.VOICE_SAMPLE_MAX_BYTES = 200_000  # the good samples are 192 KB each
    big = SimpleUploadedFile("big.wav", audio("wav", 8.0, 300.0))  # 256 KB of 16 kHz WAV

    response = clone(owner, [big, *good_pair()[:1]])

    body = assert_refused(response, naming="big.wav")
    assert "the limit per file is" in body["error"]["details"]["samples"][0]
    assert_nothing_left(storage_listing)


def test_samples_over_the_total_limit(owner, settings, storage_listing):
    settings.VOICE_SAMPLES_MAX_TOTAL_BYTES = 300_000

    response = clone(owner, [*good_pair(), SimpleUploadedFile("third.wav", audio("wav", 2.0))])

    body = assert_refused(response)
    assert body["error"]["details"]["samples"][0].startswith("The samples total ")
    assert_nothing_left(storage_listing)


def test_a_declared_length_over_the_limit_is_refused_before_reading(owner, storage_listing):
    response = owner.client.post(
        CLONE,
        data=b"--x\r\n",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10**12),
    )

    body = assert_refused(response, status=413)
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert_nothing_left(storage_listing)


def test_a_content_length_that_is_not_a_number(owner, storage_listing):
    response = owner.client.post(
        CLONE, data=b"", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH="lots"
    )

    assert_refused(response, status=400)
    assert_nothing_left(storage_listing)


# --- bodies that are not a form with samples ----------------------------------------------------


def test_a_form_without_samples(owner, storage_listing):
    typo = owner.client.post(CLONE, {"name": "Corpus", "sample": good_pair()[0]})
    none = owner.client.post(CLONE, {"name": "Corpus"})

    assert assert_refused(typo)["error"]["details"]["sample"] == ["Unknown field."]
    assert assert_refused(none)["error"]["details"] == {
        "samples": ["At least one audio sample is required."]
    }
    assert_nothing_left(storage_listing)


def test_samples_sent_as_text_fields(owner, storage_listing):
    response = owner.client.post(CLONE, {"name": "Corpus", "samples": ["RIFF....WAVE", "x"]})

    body = assert_refused(response)
    assert "samples" in body["error"]["details"]
    assert_nothing_left(storage_listing)


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/json", b'{"name": "Corpus", "samples": ["UklGRg=="]}'),
        ("application/x-www-form-urlencoded", b"name=Corpus&samples=abc"),
        ("application/octet-stream", b"RIFF\x24\x00\x00\x00WAVE"),
        ("audio/wav", b"RIFF\x24\x00\x00\x00WAVE"),
        ("text/plain", b"hello"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_body_that_is_not_multipart(owner, storage_listing, content_type, data):
    response = owner.client.post(CLONE, data=data, content_type=content_type)

    body = assert_refused(response, status=415)
    assert body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert_nothing_left(storage_listing)


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        # No boundary parameter at all.
        ("multipart/form-data", b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nA'),
        # A boundary that never appears, and a body cut in the middle of a part's headers.
        ("multipart/form-data; boundary=nothere", b"garbage without any boundary"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="samples"; filename="a.wav"\r\nCont',
        ),
        # A boundary longer than RFC 2046 allows.
        ("multipart/form-data; boundary=" + "b" * 100, b"--" + b"b" * 100 + b"--\r\n"),
    ],
    ids=["no-boundary", "missing-boundary", "cut-headers", "long-boundary"],
)
def test_a_broken_multipart_body(owner, storage_listing, content_type, data):
    response = owner.client.post(CLONE, data=data, content_type=content_type)

    body = assert_refused(response)
    assert body["error"]["code"] in ("PARSE_ERROR", "VALIDATION_ERROR"), body
    assert_nothing_left(storage_listing)


# --- the same against S3 (SeaweedFS) ------------------------------------------------------------


# `seaweed` (tests/conftest.py): the session's SeaweedFS server, shared with the voices tests.


@pytest.fixture
def s3_listing(settings, seaweed: SeaweedS3) -> Callable[[], list[str]]:
    seaweed.empty()
    settings.STORAGES = {**settings.STORAGES, "default": seaweed.storage()}

    def listing() -> list[str]:
        page = seaweed.client().list_objects_v2(Bucket=seaweed.bucket)
        return sorted(item["Key"] for item in page.get("Contents", []))

    return listing


S3_SUBSET = ["truncated.wav", "pdf-inside.wav", "no-moov.m4a", "broken-crc.ogg"]


@pytest.mark.s3
def test_on_s3_the_good_pair_is_stored_and_bad_files_leave_no_object(owner, s3_listing):
    for name in S3_SUBSET:
        bad = next(bad for bad in CORPUS if bad.name == name)
        response = clone(owner, [*good_pair(), SimpleUploadedFile(bad.name, bad.build())])
        assert_refused(response, naming=bad.name)
        assert_nothing_left(s3_listing)

    # The control, on the same bucket: the listing does see what a clone stores.
    response = clone(owner, good_pair())
    assert response.status_code == 201, response.content[:500]
    assert len(s3_listing()) == 2
