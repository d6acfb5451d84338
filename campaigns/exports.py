"""CSV export of call sessions with their transcript text, streamed row by row.

The caller passes an organization-scoped, filtered queryset (`campaigns.analytics.
analytics_sessions`); the export reads it in chunks of `CHUNK` sessions, with one query for the
chunk's transcript turns, so a million-row export holds one chunk in memory and the first bytes
leave before the last row is read.

Every cell is made safe for spreadsheets: a cell that starts with = + - @ (or a tab or carriage
return, which some spreadsheets strip before reading a formula) is prefixed with a single quote,
so a transcript line such as "=HYPERLINK(...)" said by a caller is shown as text, never run.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from sessions.models import CallSession, TranscriptTurn
from sessions.transcripts import SPEAKER_NAMES, UNHEARD

CHUNK = 500
# Lines handed to the event loop at once when served over ASGI.
ASYNC_BATCH = 200
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "session_id",
    "kind",
    "campaign",
    "contact_name",
    "to_number",
    "status",
    "outcome",
    "answered_by",
    "queued_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "script_version",
    "summary",
    "transcript",
)


def spreadsheet_safe(value: Any) -> str:
    """The cell as text, prefixed with ' when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


# Only what a row writes: the JSON columns (extracted, compliance, variables) would be decoded
# for every session and never used.
_READ_FIELDS = (
    "id", "kind", "to_number", "status", "outcome", "answered_by", "queued_at", "answered_at",
    "ended_at", "duration_seconds", "summary", "campaign__name", "contact__first_name",
    "contact__last_name", "script_version__number", "script_version__script__name",
)  # fmt: skip


class _Echo:
    """A file-like object whose write returns the line: csv.writer writes one row at a time
    into the streaming response (Django's documented pattern)."""

    def write(self, value: str) -> str:
        return value


def _transcripts(session_ids: list[int]) -> dict[int, str]:
    lines: dict[int, list[str]] = defaultdict(list)
    turns = TranscriptTurn.objects.filter(session_id__in=session_ids).order_by(
        "session_id", "start_ms", "index"
    )
    for turn in turns.only("session_id", "speaker", "text", "recognized", "interrupted"):
        speaker = SPEAKER_NAMES.get(turn.speaker, turn.speaker.title())  # type: ignore[call-overload]
        text = turn.text if turn.recognized else UNHEARD
        cut = " [interrupted]" if turn.interrupted else ""
        lines[turn.session_id].append(f"{speaker}: {text}{cut}")
    return {session_id: "\n".join(items) for session_id, items in lines.items()}


def _row(session: CallSession, transcript: str) -> list[str]:
    contact = session.contact
    name = f"{contact.first_name} {contact.last_name}".strip() if contact is not None else ""
    version = session.script_version
    values: Iterable[Any] = (
        session.pk,
        session.kind,
        session.campaign.name if session.campaign is not None else "",
        name,
        session.to_number,
        session.status,
        session.outcome,
        session.answered_by,
        session.queued_at.isoformat() if session.queued_at else "",
        session.answered_at.isoformat() if session.answered_at else "",
        session.ended_at.isoformat() if session.ended_at else "",
        session.duration_seconds,
        f"{version.script.name} v{version.number}" if version is not None else "",
        session.summary,
        transcript,
    )
    return [spreadsheet_safe(value) for value in values]


def sessions_csv_rows(sessions: QuerySet[CallSession]) -> Iterator[str]:
    """The CSV, one encoded line (or quoted multi-line record) at a time, header first."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    queryset = (
        sessions.select_related("campaign", "contact", "script_version__script")
        .only(*_READ_FIELDS)
        .order_by("-id")
    )
    last_id: int | None = None
    while True:
        # Keyset pages, not OFFSET: each page is an index range scan however deep the export.
        page = queryset if last_id is None else queryset.filter(id__lt=last_id)
        chunk = list(page[:CHUNK])
        if not chunk:
            return
        transcripts = _transcripts([session.pk for session in chunk])
        for session in chunk:
            yield writer.writerow(_row(session, transcripts.get(session.pk, "")))
        last_id = chunk[-1].pk


async def sessions_csv_rows_async(sessions: QuerySet[CallSession]) -> AsyncIterator[str]:
    """`sessions_csv_rows` for an ASGI server: Django reads a synchronous iterator of a
    streaming response whole before sending it there, so the rows are pulled from the
    synchronous generator in batches on the ORM's thread and sent as they come."""
    rows = sessions_csv_rows(sessions)
    take = sync_to_async(lambda: "".join(islice(rows, ASYNC_BATCH)), thread_sensitive=True)
    while batch := await take():
        yield batch
