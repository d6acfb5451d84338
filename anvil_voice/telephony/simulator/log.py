"""The per-call log that tests assert on.

Every entry is a flat JSON-able dict: `t` (seconds since the call was created, monotonic),
`kind`, then kind-specific fields. Kinds:

- `rest`: a REST request about this call (`method`, `path`, `params`, `status`).
- `status`: the call moved to a new status (`status`).
- `callback`: a status callback was sent (`url`, `event`, `params`, `http_status` or `error`).
- `amd_callback` / `recording_callback`: the async AMD or recording callback, same fields.
- `recording_started`: a recording began (`recording_sid`, `source`: `OutboundAPI` at the
  answer for `Record=true`, `StartCallRecordingAPI` for the Call Recordings resource).
- `amd`: the answering-machine decision (`answered_by`, `duration_ms`).
- `twiml`: a verb started executing (`verb` plus its attributes).
- `played`: audio the callee heard from a `<Say>`/`<Play>` (`source`, `text`/`url`, `bytes`).
- `ws_sent` / `ws_received`: a Media Stream message other than `media` (`event`, and for
  marks `name`); `media` is only counted, in `stream_media`.
- `stream_media`: written when a stream ends: frames/bytes sent and received, frames played.
- `mark_echoed`: a mark was echoed (`name`, `cleared`: echoed early because of a `clear`).
- `clear`: a `clear` arrived (`dropped_bytes`, `marks_echoed`).
- `agent_utterance`: the callee heard one stretch of agent speech (`start_t`, `duration_ms`),
  logged after 600 ms of silence or when the call ends.
- `persona_said`: the callee started a line (`text`, `duration_ms`; `done_t` is added once its
  last frame was sent, with `speech_end_t`: when its last non-silent frame was sent, the
  caller's end of speech); `persona` for other persona acts
  (`action`: `hung_up`, `barged_in`, `beep`, `voicemail`...).
- `error`: something Twilio would report in its debugger (`code`, `message`).
"""

from __future__ import annotations

import time
from typing import Any


class CallLog:
    def __init__(self) -> None:
        self._start = time.monotonic()
        self.entries: list[dict[str, Any]] = []

    def now(self) -> float:
        """Seconds since the call was created, the log's time base."""
        return round(time.monotonic() - self._start, 3)

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"t": self.now(), "kind": kind, **fields}
        self.entries.append(entry)
        return entry

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [entry for entry in self.entries if entry["kind"] in kinds]
