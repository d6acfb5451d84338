"""Writes for scripts. Every change to what the agent says records a new immutable version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.errors import Conflict
from scripts import selectors
from scripts.engine.placeholders import render
from scripts.models import ObjectionResponse, Script, ScriptVersion, new_tool_secret
from scripts.validation import (
    compliance_warnings,
    disclosure_error,
    ivr_target_error,
    keypad_entry_errors,
    keypad_errors,
    line_errors,
    objection_errors,
    tool_errors,
    transfer_errors,
)

CONTENT_FIELDS = (
    "name",
    "opening_line",
    "closing_line",
    "system_prompt",
    "voicemail_message",
    "language",
    "opening_interruptible",
    "closing_interruptible",
    "recording_disclosure",
    "recording_disclosure_required",
    "keypad",
    "keypad_prompt",
    "keypad_entry",
    "tools",
    "tool_rules",
    "ivr_target",
    "ivr_timeout_seconds",
    "transfer",
)
# Fields whose change alters a call (the name does not).
SPOKEN_FIELDS = frozenset(CONTENT_FIELDS) - {"name"}


def _validate(
    *,
    organization: Organization,
    lines: Mapping[str, Any],
    objections: Sequence[Mapping[str, Any]] | None,
) -> None:
    errors: dict[str, list[str]] = line_errors(
        lines, selectors.script_known_variables(organization=organization)
    )
    if problem := disclosure_error(
        text=str(lines.get("recording_disclosure") or ""),
        required=bool(lines.get("recording_disclosure_required")),
    ):
        errors.setdefault("recording_disclosure", []).append(problem)
    if problem := ivr_target_error(str(lines.get("ivr_target") or "")):
        errors["ivr_target"] = [problem]
    entry = lines.get("keypad_entry")
    if problems := keypad_errors(
        lines.get("keypad") or [], lines.get("keypad_prompt") or "", entry
    ):
        errors["keypad"] = problems
    if problems := keypad_entry_errors(entry):
        errors["keypad_entry"] = problems
    if "transfer" in lines or "keypad" in lines:
        triggers = (
            [str(item.get("trigger", "")) for item in objections]
            if objections is not None
            else None
        )
        if problems := transfer_errors(
            lines.get("transfer"), keypad=lines.get("keypad") or [], triggers=triggers
        ):
            errors["transfer"] = problems
    if objections is not None and (problems := objection_errors(objections)):
        errors["objection_responses"] = problems
    if "tools" in lines or "tool_rules" in lines:
        tools = lines.get("tools")
        errors.update(tool_errors(tools or [], lines.get("tool_rules") or []))
    if errors:
        raise ValidationError(errors)


def script_snapshot(*, script: Script) -> dict[str, Any]:
    return {
        "name": script.name,
        "opening_line": script.opening_line,
        "closing_line": script.closing_line,
        "system_prompt": script.system_prompt,
        "voicemail_message": script.voicemail_message,
        "language": script.language,
        "opening_interruptible": script.opening_interruptible,
        "closing_interruptible": script.closing_interruptible,
        "recording_disclosure": script.recording_disclosure,
        "recording_disclosure_required": script.recording_disclosure_required,
        "keypad": [dict(item) for item in script.keypad or []],
        "keypad_prompt": script.keypad_prompt,
        "keypad_entry": dict(script.keypad_entry) if script.keypad_entry else None,
        "tools": list(script.tools),
        "tool_rules": list(script.tool_rules),
        "ivr_target": script.ivr_target,
        "ivr_timeout_seconds": script.ivr_timeout_seconds,
        "transfer": dict(script.transfer) if script.transfer else None,
        "objection_responses": [
            {"trigger": item.trigger, "response": item.response}
            for item in script.objections.order_by("position", "id")
        ],
    }


def _record_version(*, script: Script) -> ScriptVersion:
    # Called with the script row locked, so version numbers never collide.
    script.version += 1
    script.updated_at = timezone.now()
    script.save(update_fields=["version", "updated_at"])
    return ScriptVersion.objects.create(
        organization=script.organization,
        script=script,
        number=script.version,
        snapshot=script_snapshot(script=script),
    )


def _replace_objections(*, script: Script, objections: Sequence[Mapping[str, Any]]) -> None:
    script.objections.all().delete()
    ObjectionResponse.objects.bulk_create(
        ObjectionResponse(
            script=script,
            position=position,
            trigger=str(item["trigger"]).strip(),
            response=str(item["response"]).strip(),
        )
        for position, item in enumerate(objections)
    )


@transaction.atomic
def script_create(
    *,
    organization: Organization,
    fields: Mapping[str, Any],
    objection_responses: Sequence[Mapping[str, Any]] = (),
) -> Script:
    _validate(organization=organization, lines=fields, objections=objection_responses)
    script = Script.objects.create(
        organization=organization, **{key: fields[key] for key in CONTENT_FIELDS if key in fields}
    )
    _replace_objections(script=script, objections=objection_responses)
    _record_version(script=script)
    return script


@transaction.atomic
def script_update(
    *,
    script: Script,
    fields: Mapping[str, Any],
    objection_responses: Sequence[Mapping[str, Any]] | None = None,
) -> Script:
    script = Script.objects.select_for_update().get(pk=script.pk)
    merged = {key: fields.get(key, getattr(script, key)) for key in CONTENT_FIELDS}
    _validate(organization=script.organization, lines=merged, objections=objection_responses)
    before = script_snapshot(script=script)
    for key, value in fields.items():
        if key in CONTENT_FIELDS:
            setattr(script, key, value)
    script.updated_at = timezone.now()
    script.save()
    if objection_responses is not None:
        _replace_objections(script=script, objections=objection_responses)
    after = script_snapshot(script=script)
    spoken_changed = any(before[key] != after[key] for key in SPOKEN_FIELDS) or (
        before["objection_responses"] != after["objection_responses"]
    )
    if spoken_changed:
        _record_version(script=script)
    return script


def script_record_admin_edit(*, script: Script) -> None:
    """The admin saves the row and its inline objections itself; version what it saved."""
    with transaction.atomic():
        locked = Script.objects.select_for_update().get(pk=script.pk)
        latest = ScriptVersion.objects.filter(script=locked).order_by("-number").first()
        if latest is None or latest.snapshot != script_snapshot(script=locked):
            _record_version(script=locked)


def script_delete(*, script: Script) -> None:
    try:
        with transaction.atomic():
            script.delete()
    except ProtectedError as exc:
        names = selectors.script_campaign_names(script=script)
        raise Conflict(
            "This script is used by campaigns and cannot be deleted: " + ", ".join(names) + ".",
            details={"campaigns": names},
        ) from exc


def script_render(*, script: Script, variables: Mapping[str, object]) -> dict[str, str]:
    """The script's lines as a contact with `variables` would hear them."""
    values = {"business_name": script.organization.name, **variables}
    return {
        "opening_line": render(script.opening_line, values),
        "closing_line": render(script.closing_line, values),
        "voicemail_message": render(script.voicemail_message, values),
    }


def script_warnings(*, script: Script) -> list[str]:
    return compliance_warnings(
        opening_line=script.opening_line,
        business_name=script.organization.name,
        ai_disclosure_required=script.organization.ai_disclosure_required,
    )


def script_rotate_tool_secret(*, script: Script) -> Script:
    """A new secret for the script's HTTP tool requests (`X-Anvil-Signature`): requests signed
    from now on use it, a call already running keeps the one it started with (`CallSetup`).
    Not a new version: what the calls say does not change."""
    with transaction.atomic():
        locked = Script.objects.select_for_update().get(pk=script.pk)
        locked.tool_secret = new_tool_secret()
        locked.updated_at = timezone.now()
        locked.save(update_fields=["tool_secret", "updated_at"])
    return locked
