"""Call scripts: what the agent says, how it answers pushback, and immutable versions of both."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from anvil_voice.accounts.models import Organization

MAX_LINE_LENGTH = 1000
MAX_PROMPT_LENGTH = 8000


def new_tool_secret() -> str:
    return f"whsec_{secrets.token_hex(32)}"


def default_tools() -> list[dict[str, str]]:
    """A new script's tools: the built-ins every agent had before scripts listed tools."""
    return [
        {"type": "builtin", "name": name}
        for name in ("end_call", "schedule_callback", "add_to_do_not_call")
    ]


class Script(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scripts")
    name = models.CharField(max_length=200)
    opening_line = models.TextField(max_length=MAX_LINE_LENGTH)
    closing_line = models.TextField(max_length=MAX_LINE_LENGTH)
    system_prompt = models.TextField(max_length=MAX_PROMPT_LENGTH, blank=True)
    voicemail_message = models.TextField(max_length=MAX_LINE_LENGTH, blank=True)
    language = models.CharField(max_length=16, default="en-US")
    # False: the caller cannot cut this line off (a required disclosure); what they say
    # during it is still recognised and kept. The goodbye has always been heard whole.
    opening_interruptible = models.BooleanField(default=True)
    closing_interruptible = models.BooleanField(default=False)
    # Recording consent: when the campaign records, a required disclosure is said right after
    # the opening line and the carrier records only once it has been heard in full
    # (`sessions.carrier.recording`). Not required: the campaign records from the answer.
    recording_disclosure = models.TextField(max_length=MAX_LINE_LENGTH, blank=True)
    recording_disclosure_required = models.BooleanField(default=False)
    # Keys the caller may press, [{"digit": "1", "action": "interested"}, ...]
    # (`scripts.engine.types.KeypadAction`), and the line said after the opening that tells them.
    keypad = models.JSONField(default=list, blank=True)
    keypad_prompt = models.TextField(max_length=MAX_LINE_LENGTH, blank=True)
    # A number the caller is asked to type (the keypad prompt asks: "enter your 5-digit zip
    # code followed by #"): {"name", "max_digits", "end_key", "timeout_seconds", "say"}
    # (`scripts.engine.KeypadEntry`, checked by `scripts.validation.keypad_entry_errors`).
    # Null: single keys only.
    keypad_entry = models.JSONField(null=True, blank=True, default=None)
    # The tools the agent may use during a call (`scripts.engine.tools`; checked by
    # `scripts.validation.tool_errors`) and the scripted agent's intent → tool rules.
    tools = models.JSONField(default=default_tools, blank=True)
    tool_rules = models.JSONField(default=list, blank=True)
    # Phone menus (`scripts.engine.ivr`): when a menu answers, where to get to ("a person",
    # "accounts"); the script starts once a person answers, and the call ends as
    # `ivr_unresolved` after `ivr_timeout_seconds` without one. Blank: no menu handling.
    ivr_target = models.CharField(max_length=200, blank=True)
    ivr_timeout_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(10), MaxValueValidator(600)]
    )
    # Where and when the agent hands the caller to a person (`scripts.engine.TransferSpec`:
    # number, mode, timeout_seconds, on_agreement, on_request, on_objections); null: never.
    transfer = models.JSONField(null=True, blank=True, default=None)
    # Signs every HTTP tool request (`X-Anvil-Signature`, as customer webhooks are); not part
    # of the versioned content: rotating it must not change what a call says.
    tool_secret = models.CharField(max_length=80, default=new_tool_secret, editable=False)
    # The number of the newest ScriptVersion; bumped whenever what the agent says changes.
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "-updated_at"])]

    def __str__(self) -> str:
        return self.name


class ObjectionResponse(models.Model):
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="objections")
    position = models.PositiveIntegerField(default=0)
    trigger = models.CharField(max_length=300)
    response = models.TextField(max_length=MAX_LINE_LENGTH)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.trigger


class ScriptVersion(models.Model):
    """An immutable snapshot: calls record the version they used, so later edits never change
    what an already placed call said or how its transcript reads."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["script", "number"], name="script_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.script} v{self.number}"

    @property
    def objection_responses(self) -> list[dict[str, Any]]:
        return list(self.snapshot.get("objection_responses", []))
