"""PII redaction for an organization that asks for it (`Organization.redact_pii`, issue 15
item 17): where the detector (`anvil_voice.privacy`) meets what a call leaves behind.

Everything is redacted before it is stored or sent: transcript turns as the live call writes
them (`LiveRedactor`), the conversation's summary, extracted data and events when it closes,
and the recording, whose redacted turns are muted before the file is kept. The API, the
transcript exports, the admin, the monitor and webhooks read only what was stored, so none of
them sees a raw value. The agent hears the caller's words in memory during the call (it needs
them); nothing it persists or emits is raw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from anvil_voice.accounts.models import Organization
from anvil_voice.privacy.redaction import PLACEHOLDER, SpokenTurn, redact_turns, redact_value
from sessions.models import CallEvent, CallEventKind, CallSession, TranscriptTurn

# How many of the caller's latest turns are read together live: enough for a card number
# given in four groups with the agent's "mm-hmm" between them.
LIVE_WINDOW_TURNS = 8
# Around each muted turn in the recording. Before: Twilio's answer `Timestamp` has one-second
# resolution (it can only make the computed offset too late) and the stream's `start` reaches
# us a little after it began; after: the tail of the last word.
MUTE_BEFORE_MS = 1250
MUTE_AFTER_MS = 250


def organization_redacts_pii(organization_id: int) -> bool:
    return bool(
        Organization.objects.filter(pk=organization_id).values_list("redact_pii", flat=True).first()
    )


def redact_turn_dicts(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`Turn.as_dict()`s with their texts redacted, read as one conversation (in the order
    they were finished: `index`, as the live call saw them)."""
    ordered = sorted(turns, key=lambda turn: int(turn["index"]))
    texts = redact_turns([SpokenTurn(str(t["speaker"]), str(t["text"])) for t in ordered])
    return [{**turn, "text": text} for turn, text in zip(ordered, texts, strict=True)]


def redact_events(
    events: Iterable[dict[str, Any]], *, raw_to_redacted: dict[str, str]
) -> list[dict[str, Any]]:
    """Event data with every string redacted; a caller's words the transcript already redacted
    (with what it knew from the turns around) take the transcript's version."""

    def redact(value: Any) -> Any:
        if isinstance(value, str) and value in raw_to_redacted:
            return raw_to_redacted[value]
        if isinstance(value, list):
            return [redact(item) for item in value]
        if isinstance(value, dict):
            return {key: redact(item) for key, item in value.items()}
        return redact_value(value)

    return [redact(event) for event in events]


def more_redacted(new: str, old: str) -> bool:
    """Whether `new` hides more than `old`: a stored text is only ever redacted further (a
    window that no longer holds a number's first groups must not give its last ones back)."""
    return len(PLACEHOLDER.findall(new)) > len(PLACEHOLDER.findall(old))


@dataclass
class LiveRedactor:
    """The live call's turns, raw in memory, redacted as each arrives.

    `add` answers the new turn's redacted text and the earlier turns whose text changed: a
    number given in groups over several turns is only recognisable once its last group is
    said, and then the rows already stored (and the monitor's lines) are rewritten.
    """

    turns: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[int, str] = field(default_factory=dict)  # index → text as stored

    def add(self, turn: dict[str, Any]) -> tuple[str, dict[int, str]]:
        self.turns.append(turn)
        window = self._window()
        redacted = {int(t["index"]): str(t["text"]) for t in redact_turn_dicts(window)}
        index = int(turn["index"])
        current = redacted.pop(index)
        changed = {
            i: text for i, text in redacted.items() if more_redacted(text, self.stored.get(i, ""))
        }
        self.stored.update(changed)
        self.stored[index] = current
        return current, changed

    def _window(self) -> list[dict[str, Any]]:
        contact_seen = 0
        start = len(self.turns)
        while start > 0 and contact_seen < LIVE_WINDOW_TURNS:
            start -= 1
            contact_seen += self.turns[start]["speaker"] == "contact"
        return self.turns[start:]


# --- the recording ------------------------------------------------------------------------
def recording_origin(session: CallSession) -> datetime | None:
    """When the stored recording's first sample was taken: `recording_started_at` (the answer
    for a call recorded from the start, the moment we asked the carrier for one that records
    after its consent disclosure: the real start follows within a round trip, well inside the
    muting margin). Sessions stored before that field existed recorded from the answer.
    """
    return session.recording_started_at or session.answered_at


def stream_origin(session: CallSession) -> datetime | None:
    """When the media stream started: transcript offsets (`start_ms`) count from here."""
    return (
        CallEvent.objects.filter(session=session, kind=CallEventKind.STREAM_STARTED)
        .order_by("id")
        .values_list("at", flat=True)
        .first()
    )


def recording_mute_spans(session: CallSession) -> list[tuple[int, int]]:
    """The recording's milliseconds to silence: every stored turn that holds a placeholder,
    whole (we have no word timings), with a margin.

    Turn offsets are stream time; the recording started `recording_origin` earlier (recorded
    from the answer) or later (after a consent disclosure: the offset is negative, and a turn
    over before the recording began is not in the file).
    """
    recording_at, stream_at = recording_origin(session), stream_origin(session)
    offset = 0
    if recording_at is not None and stream_at is not None:
        offset = round((stream_at - recording_at).total_seconds() * 1000)
    spans = []
    for start_ms, end_ms, text in TranscriptTurn.objects.filter(session=session).values_list(
        "start_ms", "end_ms", "text"
    ):
        if PLACEHOLDER.search(text):
            end = max(start_ms, end_ms) + offset + MUTE_AFTER_MS
            if end > 0:
                spans.append((max(0, start_ms + offset - MUTE_BEFORE_MS), end))
    return sorted(spans)
