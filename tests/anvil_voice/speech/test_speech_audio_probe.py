"""probe_audio / sniff_format: what an upload really is, judged by its content."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from anvil_voice.speech import audio
from anvil_voice.speech.audio import AudioRejected, pcm16_to_wav, probe_audio, sniff_format
from tests.voices.voices_support import encode_audio, flac_declaring

FORMATS = ["wav", "mp3", "flac", "ogg", "m4a", "aac", "webm"]


@pytest.fixture(scope="module")
def speech_files(speech, encode) -> dict[str, bytes]:
    samples, rate = speech
    return {fmt: encode(samples, rate, fmt) for fmt in FORMATS}


def rejected(data: bytes, name: str, **limits) -> AudioRejected:
    with pytest.raises(AudioRejected) as caught:
        probe_audio(io.BytesIO(data), claimed_name=name, **limits)
    return caught.value


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_recognises_each_format_by_content_and_measures_duration(fmt, speech, speech_files):
    samples, rate = speech
    data = speech_files[fmt]

    # The name carries no extension: only the bytes can tell.
    info = probe_audio(io.BytesIO(data), claimed_name="upload")

    assert sniff_format(data[:4096]) == fmt
    assert info.format == fmt
    assert info.duration_seconds == pytest.approx(len(samples) / rate, rel=0.05)
    assert info.channels == 1
    assert info.size_bytes == len(data)
    assert len(info.sha256) == 64
    assert -40 < info.rms_dbfs < 0


def test_it_reads_a_path_and_rewinds_a_file(tmp_path, speech_files):
    path = tmp_path / "sample.flac"
    path.write_bytes(speech_files["flac"])
    upload = io.BytesIO(speech_files["flac"])
    upload.seek(100)

    from_path = probe_audio(path, claimed_name=path.name)
    from_file = probe_audio(upload, claimed_name="sample.flac")

    assert from_path == from_file
    assert upload.tell() == 0


def test_it_lets_content_win_over_a_wrong_extension(speech_files):
    # FLAC content named .mp3 is accepted as FLAC: the name is a label, not a fact.
    info = probe_audio(io.BytesIO(speech_files["flac"]), claimed_name="voice.mp3")

    assert info.format == "flac"


def test_it_rejects_an_empty_file():
    error = rejected(b"", "empty.wav")

    assert error.code == "empty_file"
    assert error.message == '"empty.wav" is empty (0 bytes).'


def test_it_rejects_a_text_file_named_wav():
    error = rejected(b"These are my meeting notes, not audio.\n" * 50, "notes.wav")

    assert error.code == "unrecognised_format"
    assert '"notes.wav" is not an audio file we recognise' in error.message


def test_it_rejects_a_truncated_mp3(speech_files):
    mp3 = speech_files["mp3"]

    error = rejected(mp3[: len(mp3) // 2], "cut.mp3")

    assert error.code == "truncated_audio"
    assert error.message.startswith('"cut.mp3" is incomplete: its header promises ')


def test_it_rejects_a_truncated_wav_whose_header_promises_more(speech_files):
    wav = speech_files["wav"]

    error = rejected(wav[: len(wav) // 3], "cut.wav")

    assert error.code == "truncated_audio"


def test_it_rejects_a_truncated_flac(speech_files):
    flac = speech_files["flac"]

    error = rejected(flac[: len(flac) // 2], "cut.flac")

    assert error.code == "truncated_audio"
    # Piper's timing varies a little per run, hence a pattern rather than exact seconds.
    assert re.fullmatch(
        r'"cut.flac" is incomplete: its header promises \d\.\d seconds but only \d\.\d seconds '
        r"of audio could be decoded\.",
        error.message,
    )


@pytest.mark.parametrize("fmt", ["ogg", "aac"])
def test_it_measures_what_is_left_when_a_format_states_no_total_length(speech_files, fmt):
    # Ogg pages and ADTS frames carry no promised total, so a cut file is just a shorter one:
    # the duration we store is what really decodes, which is what matters downstream.
    data = speech_files[fmt]

    info = probe_audio(io.BytesIO(data[: len(data) // 2]), claimed_name=f"cut.{fmt}")

    assert 0.8 < info.duration_seconds < 2.0


# --- decompression bombs: refused from the header, decoding bounded ---------------------------


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if FFmpeg is asked to open the file at all (opening may decode blocks)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the file was handed to the decoder")

    monkeypatch.setattr(audio.av, "open", refuse)


def test_it_refuses_a_flac_declaring_a_decompression_bomb_without_decoding_it(
    speech_files, no_decoding
):
    # What a probe sent: 407 KB declaring 655 350 Hz x 8 channels x 590 s, three billion samples
    # (74 s of CPU before this check). 590 s is within the duration limit on purpose.
    bomb = flac_declaring(speech_files["flac"], rate=655_350, channels=8, seconds=590)

    error = rejected(bomb, "bomb.flac", max_seconds=600)

    assert error.code == "unsupported_audio"
    assert error.message == (
        '"bomb.flac" is sampled at 655350 Hz; the limit is 48000 Hz (export it at 48 kHz or less).'
    )


def test_it_refuses_too_many_declared_channels_without_decoding(speech_files, no_decoding):
    bomb = flac_declaring(speech_files["flac"], rate=16_000, channels=8, seconds=2)

    error = rejected(bomb, "surround.flac")

    assert error.code == "unsupported_audio"
    assert error.message == (
        '"surround.flac" has 8 channels; at most 2 (mono or stereo) are accepted.'
    )


def test_it_refuses_a_declared_length_over_the_limit_without_decoding(speech_files, no_decoding):
    # Within 1.5x of the limit, where the demuxer's estimate used to be given the benefit of
    # the doubt: a FLAC header's sample count is exact, so the limit applies as it is.
    long_flac = flac_declaring(speech_files["flac"], rate=16_000, channels=1, seconds=800)

    error = rejected(long_flac, "long.flac", max_seconds=600)

    assert error.code == "too_long"
    assert error.message == '"long.flac" is longer than the 10.0 minutes limit.'


def test_it_refuses_a_wav_declaring_a_huge_rate_without_decoding(no_decoding):
    wav = bytearray(pcm16_to_wav(b"\x10\x20" * 16000, 16000))
    fmt_at = wav.index(b"fmt ")
    wav[fmt_at + 10 : fmt_at + 12] = (6).to_bytes(2, "little")  # channels
    wav[fmt_at + 12 : fmt_at + 16] = (384_000).to_bytes(4, "little")  # sample rate

    error = rejected(bytes(wav), "studio.wav")

    assert error.code == "unsupported_audio"
    assert "384000 Hz" in error.message


def test_it_stops_decoding_when_the_frames_outgrow_what_the_header_said(make_tone):
    # ADTS AAC states rate and layout per frame: this stream starts as 16 kHz mono (all its
    # header shows) and switches to 44.1 kHz stereo. The limit is met frame by frame.
    mono = encode_audio(make_tone(2.0, rate=16000), 16000, "aac")
    stereo = encode_audio(np.repeat(make_tone(2.0, rate=44100), 2), 44100, "aac", channels=2)

    error = rejected(mono + stereo, "switch.aac", max_sample_rate=24_000)

    assert error.code == "unsupported_audio"
    assert error.message == (
        '"switch.aac" is sampled at 44100 Hz; the limit is 24000 Hz (export it at 24 kHz or less).'
    )


def test_it_accepts_stereo_at_the_rate_limit(make_tone):
    stereo = encode_audio(np.repeat(make_tone(2.0, rate=48000), 2), 48000, "flac", channels=2)

    info = probe_audio(io.BytesIO(stereo), claimed_name="stereo.flac")

    assert (info.sample_rate, info.channels) == (48000, 2)
    assert info.duration_seconds == pytest.approx(2.0, rel=0.01)


def test_it_rejects_an_m4a_whose_index_was_cut_off(speech_files):
    m4a = speech_files["m4a"]

    error = rejected(m4a[: len(m4a) // 2], "cut.m4a")

    assert error.code == "corrupt_audio"
    assert error.message == '"cut.m4a" looks like M4A but cannot be decoded.'


def test_it_rejects_an_html_page_with_an_audio_header_prepended(speech_files):
    page = b"<!DOCTYPE html><html><body><script>steal()</script></body></html>"

    id3_then_html = b"ID3\x04\x00\x00\x00\x00\x00\x00" + page
    mp3_then_html = speech_files["mp3"] + page

    assert rejected(id3_then_html, "song.mp3").code == "suspicious_content"
    error = rejected(mp3_then_html, "song.mp3")
    assert error.code == "suspicious_content"
    assert "non-audio content" in error.message


def test_it_does_not_trust_an_id3_tag_in_front_of_something_else():
    # No marker to catch here: the tag is followed by plain text.
    data = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"just some words " * 200

    assert sniff_format(data) is None
    assert rejected(data, "tagged.mp3").code == "unrecognised_format"


@pytest.mark.parametrize("marker", [b"<?php system($_GET['c']); ?>", b"%PDF-1.7\n", b"<script>"])
def test_it_rejects_audio_carrying_document_or_script_markers(speech_files, marker):
    wav = speech_files["wav"]
    polyglot = wav[:1000] + marker + wav[1000:]

    assert rejected(polyglot, "sample.wav").code == "suspicious_content"


def test_it_rejects_a_container_that_disagrees_with_its_magic_bytes(speech_files):
    # Ogg magic in front of an MP3 body: the first bytes claim one thing, FFmpeg finds another.
    disguised = b"OggS" + speech_files["mp3"]

    error = rejected(disguised, "disguised.ogg")

    assert error.code == "format_mismatch"
    assert error.message == (
        "\"disguised.ogg\" starts like OGG but its content decodes as 'mp3'; it may be a "
        "disguised or damaged file."
    )


def test_it_rejects_magic_bytes_in_front_of_something_undecodable(speech_files):
    disguised = b"RIFF\x00\x00\x00\x00WAVE" + speech_files["mp3"]

    error = rejected(disguised, "disguised.wav")

    assert error.code == "corrupt_audio"
    assert error.message == '"disguised.wav" looks like WAV but cannot be decoded.'


def test_it_rejects_random_bytes_after_a_valid_frame_header(speech_files):
    mp3 = speech_files["mp3"]
    data = mp3[:1000] + np.random.default_rng(1).bytes(len(mp3))

    error = rejected(data, "noise.mp3")

    assert error.code == "corrupt_audio"
    assert error.message.startswith('"noise.mp3" is damaged: ')


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_it_rejects_silent_audio(encode, fmt):
    silence = np.zeros(22050 * 3, dtype=np.int16)

    error = rejected(encode(silence, 22050, fmt), f"quiet.{fmt}")

    assert error.code == "silent_audio"
    assert error.message == f'"quiet.{fmt}" is silent or almost silent; no voice can be heard.'


def test_it_accepts_quiet_noise_above_the_silence_threshold(encode):
    noise = (np.random.default_rng(2).standard_normal(22050 * 2) * 300).astype(np.int16)

    info = probe_audio(io.BytesIO(encode(noise, 22050, "wav")), claimed_name="room.wav")

    assert -45 < info.rms_dbfs < -35


def test_it_rejects_audio_shorter_than_the_minimum(encode, make_tone):
    data = encode(make_tone(0.5), 22050, "wav")

    error = rejected(data, "blip.wav", min_seconds=1.0)

    assert error.code == "too_short"
    assert error.message == '"blip.wav" is 0.5 seconds long; at least 1.0 seconds is needed.'


def test_it_rejects_audio_longer_than_the_maximum(encode, make_tone):
    data = encode(make_tone(3.0), 22050, "flac")

    error = rejected(data, "speech.flac", max_seconds=2.0)

    assert error.code == "too_long"
    assert error.message == '"speech.flac" is longer than the 2.0 seconds limit.'


def test_it_names_only_the_file_in_messages_never_the_path():
    error = rejected(b"", "../../etc/secret dir/clip\x07.wav")

    assert error.message == '"clip.wav" is empty (0 bytes).'


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xfb\x90\x64\x00\x00", "mp3"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02\x00\x00", "ogg"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "aac"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "mka"),
        (b"\xff\xff\xff\xff\xff\xff", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_it_sniffs_magic_bytes(head, expected):
    assert sniff_format(head) == expected


def test_it_streams_large_files_without_reading_them_whole(encode, make_tone):
    class CountingReader(io.BytesIO):
        largest_read = 0

        def read(self, size=-1, /):
            data = super().read(size)
            CountingReader.largest_read = max(CountingReader.largest_read, len(data))
            return data

    data = encode(make_tone(60.0, rate=16000), 16000, "wav")  # ~1.9 MB

    info = probe_audio(CountingReader(data), claimed_name="long.wav")

    assert info.duration_seconds == pytest.approx(60.0, rel=0.01)
    assert CountingReader.largest_read < len(data) / 1.5
