"""A transcript as plain text or WebVTT (the two non-JSON answers of the sessions API)."""

from __future__ import annotations

from collections.abc import Iterable

from sessions.models import CallSession, Speaker, TranscriptTurn

SPEAKER_NAMES = {Speaker.AGENT: "Agent", Speaker.CONTACT: "Contact"}
# A turn whose recognition failed (`TranscriptTurn.recognized` False): the caller spoke.
UNHEARD = "(not recognised)"


def _speaker(turn: TranscriptTurn) -> str:
    return SPEAKER_NAMES.get(Speaker(turn.speaker), turn.speaker.title())


def _clock(ms: int, *, hours: bool) -> str:
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    if not hours:
        return f"{minutes:02d}:{seconds:02d}.{millis:03d}"
    hours_part, minutes = divmod(minutes, 60)
    return f"{hours_part:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def transcript_txt(*, session: CallSession, turns: Iterable[TranscriptTurn]) -> str:
    """`[mm:ss.mmm] Speaker: text`, one turn a line; a cut-off turn ends with "[interrupted]",
    an unrecognised one reads "(not recognised)"."""
    lines = [f"Call session {session.pk} to {session.to_number}"]
    lines.append("")
    for turn in turns:
        mark = " [interrupted]" if turn.interrupted else ""
        text = turn.text if turn.recognized else UNHEARD
        lines.append(f"[{_clock(turn.start_ms, hours=False)}] {_speaker(turn)}: {text}{mark}")
    return "\n".join(lines) + "\n"


def _vtt_text(text: str) -> str:
    # Cue text may not hold "-->" or a blank line, and "<"/"&" start markup.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def transcript_vtt(*, turns: Iterable[TranscriptTurn]) -> str:
    """WebVTT with one cue per turn and the speaker as a voice span (`<v Agent>`)."""
    blocks = ["WEBVTT"]
    for number, turn in enumerate(turns, start=1):
        end_ms = max(turn.end_ms, turn.start_ms)
        start, end = _clock(turn.start_ms, hours=True), _clock(end_ms, hours=True)
        note = " (interrupted)" if turn.interrupted else ""
        text = _vtt_text(turn.text) if turn.recognized else UNHEARD
        blocks.append(f"{number}\n{start} --> {end}\n<v {_speaker(turn)}>{text}{note}")
    return "\n\n".join(blocks) + "\n"
