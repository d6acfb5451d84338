"""Reads for scripts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anvil_voice.accounts.models import Organization
from scripts.models import Script, ScriptVersion
from scripts.validation import BUILT_IN_VARIABLES


def script_known_variables(*, organization: Organization) -> set[str]:
    """Placeholders a script may use: built-ins plus every imported custom variable name."""
    from campaigns.models import ContactList

    known = set(BUILT_IN_VARIABLES)
    for names in ContactList.objects.filter(organization=organization).values_list(
        "variable_names", flat=True
    ):
        known.update(str(name) for name in names or [])
    return known


def script_campaign_names(*, script: Script) -> list[str]:
    from campaigns.models import Campaign

    return list(
        Campaign.objects.filter(script=script).order_by("name").values_list("name", flat=True)
    )


# --- Objection analytics (the script page) --------------------------------------------------

# The newest calls read per script page view. Analytics are read in Python from each call's
# `extracted["objections"]` (portable across PostgreSQL and SQLite); the cap keeps one page
# view bounded however many calls the script made.
OBJECTION_ANALYTICS_MAX_CALLS = 20_000
_CHUNK = 2_000


@dataclass(frozen=True)
class ObjectionStat:
    trigger: str
    # Still one of the script's objection responses (False: only older versions had it).
    current: bool
    position: int | None
    fired: int  # times it fired (a call may fire the same trigger more than once)
    calls: int  # calls in which it fired at least once
    # Outcome of those calls ("" while a call has none yet), most frequent first.
    outcomes: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ObjectionAnalytics:
    rows: tuple[ObjectionStat, ...]
    calls_read: int  # calls with at least one objection that were read
    truncated: bool  # more calls had objections than the cap: only the newest were read
    limit: int


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def _template_trigger(entry: Mapping[str, Any], version_triggers: Sequence[str]) -> str:
    """The trigger as written in the script. The engine records the trigger it matched, which
    has the contact's variables filled in; its `index` into the version's objection list leads
    back to the text the manager wrote (when that text matches, or has placeholders)."""
    spoken = str(entry.get("trigger") or "")
    index = entry.get("index")
    if (
        isinstance(index, int)
        and not isinstance(index, bool)
        and 0 <= index < len(version_triggers)
    ):
        written = version_triggers[index]
        if _normalized(written) == _normalized(spoken) or "{{" in written:
            return written
    return spoken


def script_objection_analytics(
    *, script: Script, limit: int = OBJECTION_ANALYTICS_MAX_CALLS
) -> ObjectionAnalytics:
    """For each objection trigger: how often it fired in the script's calls and the outcomes
    of the calls where it fired. Triggers are matched to the current objection responses by
    text (case and spacing ignored); triggers only older versions had are listed after them,
    marked as no longer current."""
    from sessions.models import CallSession

    version_triggers: dict[int, list[str]] = {}
    for version_id, snapshot in ScriptVersion.objects.filter(script=script).values_list(
        "id", "snapshot"
    ):
        items = (snapshot or {}).get("objection_responses") or []
        version_triggers[version_id] = [
            str(item.get("trigger", "")) if isinstance(item, Mapping) else "" for item in items
        ]

    fired: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    written: dict[str, str] = {}
    # The same (version, trigger, index) recurs in call after call: resolve it once.
    resolved: dict[tuple[int, str, Any], str] = {}
    read = 0
    truncated = False
    rows = (
        CallSession.objects.filter(
            # The organization too: a call is only ever counted for its own tenant's script.
            organization_id=script.organization_id,
            script_version_id__in=list(version_triggers),
            extracted__has_key="objections",
        )
        .order_by("-id")
        # Only the list is read and decoded, not the rest of `extracted`.
        .values_list("script_version_id", "extracted__objections", "outcome")[: limit + 1]
    )
    for version_id, entries, outcome in rows.iterator(chunk_size=_CHUNK):
        if read == limit:
            truncated = True
            break
        read += 1
        if not isinstance(entries, list):
            continue
        seen: set[str] = set()
        for entry in entries:
            if not isinstance(entry, Mapping) or not entry.get("trigger"):
                continue
            index = entry.get("index")
            memo = (version_id, str(entry["trigger"]), index if type(index) is int else None)
            key = resolved.get(memo)
            if key is None:
                text = _template_trigger(entry, version_triggers.get(version_id, []))
                key = resolved[memo] = _normalized(text)
                written.setdefault(key, text)
            fired[key] += 1
            seen.add(key)
        for key in seen:
            calls[key] += 1
            outcomes[key][outcome or ""] += 1

    result: list[ObjectionStat] = []
    current_keys: set[str] = set()
    for objection in script.objections.order_by("position", "id"):
        key = _normalized(objection.trigger)
        if key in current_keys:
            continue
        current_keys.add(key)
        result.append(
            ObjectionStat(
                trigger=objection.trigger,
                current=True,
                position=objection.position,
                fired=fired[key],
                calls=calls[key],
                outcomes=tuple(outcomes[key].most_common()),
            )
        )
    gone = sorted((key for key in fired if key not in current_keys), key=lambda k: -fired[k])
    result.extend(
        ObjectionStat(
            trigger=written[key],
            current=False,
            position=None,
            fired=fired[key],
            calls=calls[key],
            outcomes=tuple(outcomes[key].most_common()),
        )
        for key in gone
    )
    return ObjectionAnalytics(rows=tuple(result), calls_read=read, truncated=truncated, limit=limit)
