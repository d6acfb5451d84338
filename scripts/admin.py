from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from unfold.admin import TabularInline

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from anvil_voice.charts import DEFAULT_COLOUR, OUTCOME_COLOURS, ChartItem, stacked_bar
from scripts import selectors, services
from scripts.api.views import SAMPLE_CONTACT
from scripts.models import ObjectionResponse, Script, ScriptVersion
from scripts.validation import (
    KEYPAD_ACTIONS,
    disclosure_error,
    ivr_target_error,
    keypad_entry_errors,
    keypad_errors,
    line_errors,
    objection_errors,
    tool_errors,
    transfer_errors,
)
from sessions import analytics as call_analytics
from sessions.models import Outcome

# Calls where an objection fired but that have no outcome yet (still live, or never closed).
NO_OUTCOME_LABEL = "No outcome yet"
NO_OUTCOME_COLOUR = "#cfd8dc"
_OUTCOME_LABELS = dict(Outcome.choices)


def _outcome_label(outcome: str) -> str:
    return str(_OUTCOME_LABELS.get(outcome, outcome)) if outcome else NO_OUTCOME_LABEL


class KeypadField(forms.Field):
    """The keypad as a manager writes it: one key a line, ``1 = interested``. Stored as the
    API's list of {digit, action}; `keypad_errors` judges it (in the form's `clean`)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 30})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(f"{item.get('digit')} = {item.get('action')}" for item in value)
        return value

    def to_python(self, value: Any) -> list[dict[str, str]]:
        text = str(value or "")
        keys: list[dict[str, str]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            digit, equals, action = line.partition("=")
            if not equals:
                raise forms.ValidationError(f"Line {number}: write a key as '1 = interested'.")
            keys.append({"digit": digit.strip(), "action": action.strip()})
        return keys


class ScriptAdminForm(forms.ModelForm):
    keypad = KeypadField(
        required=False,
        help_text=(
            "One key a line, e.g. '1 = interested'. Actions: "
            + ", ".join(KEYPAD_ACTIONS)
            + ". 9 always opts out. Say which keys to press in the keypad prompt."
        ),
    )

    class Meta:
        model = Script
        # The versioned content, so a field added to scripts is editable here too (the page's
        # layout is the admin's `fieldsets`).
        fields = ["organization", *services.CONTENT_FIELDS]
        help_texts = {
            "ivr_target": 'When a phone menu answers, where to get to ("a person", "accounts"). '
            "Blank: no menu handling.",
            "transfer": 'Hand the caller to a person: {"number": "+15551234567", "mode": "cold", '
            '"timeout_seconds": 20, "on_agreement": false, "on_request": true, '
            '"on_objections": ["<a trigger>"], "target_kind": "person"}. target_kind "person" '
            '(the default) is refused outside the calling window at the number; "business" '
            "(a staffed desk or switchboard) is not. Empty: never.",
            "keypad_entry": "A number the caller is asked to type (the keypad prompt asks): "
            '{"name": "zip_code", "max_digits": 5, "end_key": "#", "timeout_seconds": 3, '
            '"say": "Thanks, {{zip_code}} it is."}. Collected until the end key, the length or '
            "a pause; one keypad turn for the agent. Empty: single keys only.",
            "tools": 'A JSON list: {"type": "builtin", "name": "end_call"} or {"type": "http", '
            '"name", "description", "parameters" (a JSON schema), "url", "timeout_seconds"}.',
            "tool_rules": 'A JSON list of {"intent", "tool", "arguments", "say"}: the scripted '
            "agent calls the HTTP tool when the caller's intent matches.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if problem := ivr_target_error(cleaned.get("ivr_target") or ""):
            self.add_error("ivr_target", problem)
        if "keypad" in cleaned:
            if cleaned.get("keypad_entry") == {}:
                cleaned["keypad_entry"] = None
            prompt = cleaned.get("keypad_prompt") or ""
            for message in keypad_errors(cleaned["keypad"], prompt, cleaned.get("keypad_entry")):
                self.add_error("keypad", message)
        if "keypad_entry" in cleaned:
            for message in keypad_entry_errors(cleaned["keypad_entry"]):
                self.add_error("keypad_entry", message)
        organization = cleaned.get("organization")
        if organization is not None:
            known = selectors.script_known_variables(organization=organization)
            for field, messages in line_errors(cleaned, known).items():
                for message in messages:
                    self.add_error(field, message)
        problem = disclosure_error(
            text=str(cleaned.get("recording_disclosure") or ""),
            required=bool(cleaned.get("recording_disclosure_required")),
        )
        if problem:
            self.add_error("recording_disclosure", problem)
        # An emptied box means no tools, not a null the column cannot hold.
        for field in ("tools", "tool_rules"):
            if field in cleaned and cleaned[field] is None:
                cleaned[field] = []
        tools, rules = cleaned.get("tools"), cleaned.get("tool_rules")
        if not isinstance(tools, list) or not all(isinstance(item, dict) for item in tools):
            if "tools" in cleaned:
                self.add_error("tools", "Give a list of tool objects.")
        elif not isinstance(rules, list) or not all(isinstance(item, dict) for item in rules):
            if "tool_rules" in cleaned:
                self.add_error("tool_rules", "Give a list of rule objects.")
        else:
            for field, messages in tool_errors(tools, rules).items():
                for message in messages:
                    self.add_error(field, message)
        if "transfer" in cleaned:
            if cleaned["transfer"] == {}:
                cleaned["transfer"] = None
            # Objection triggers are edited inline beside this form: checked at the call.
            keypad = cleaned.get("keypad") or []
            for message in transfer_errors(cleaned["transfer"], keypad=keypad, triggers=None):
                self.add_error("transfer", message)
        return cleaned


class ObjectionFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        items = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if problems := objection_errors(items):
            raise forms.ValidationError(problems)


class ObjectionResponseInline(TabularInline):
    model = ObjectionResponse
    formset = ObjectionFormSet
    extra = 1
    fields = ["position", "trigger", "response"]
    ordering = ["position", "id"]
    verbose_name = "objection response"
    verbose_name_plural = "objection responses (edit the position numbers to reorder)"


class ScriptVersionInline(TabularInline):
    model = ScriptVersion
    extra = 0
    fields = ["number", "created_at"]
    readonly_fields = ["number", "created_at"]
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Script)
class ScriptAdmin(OrganizationScopedAdmin):
    form = ScriptAdminForm
    list_display = ["name", "organization", "version", "updated_at"]
    search_fields = ["name", "opening_line"]
    list_filter = ["language"]
    readonly_fields = [
        "tool_secret",
        "version",
        "rendered_opening_line",
        "warnings",
        "usage",
        "updated_at",
        "objection_analytics",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "name",
                    "language",
                    "opening_line",
                    "rendered_opening_line",
                    "warnings",
                    "opening_interruptible",
                    "closing_line",
                    "closing_interruptible",
                    "recording_disclosure",
                    "recording_disclosure_required",
                    "keypad",
                    "keypad_prompt",
                    "keypad_entry",
                    "voicemail_message",
                    "system_prompt",
                    "tools",
                    "tool_rules",
                    "ivr_target",
                    "ivr_timeout_seconds",
                    "transfer",
                    "tool_secret",
                    "version",
                    "usage",
                    "updated_at",
                ]
            },
        ),
        ("Objection analytics", {"fields": ["objection_analytics"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        # A new script has no calls yet: no analytics section on the add page.
        return self.fieldsets if obj is not None else self.fieldsets[:1]

    inlines = [ObjectionResponseInline, ScriptVersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Script]:
        return super().get_queryset(request).select_related("organization")

    @admin.display(description="Opening line for a sample contact")
    def rendered_opening_line(self, script: Script) -> str:
        if not script.pk:
            return "—"
        return services.script_render(script=script, variables=SAMPLE_CONTACT)["opening_line"]

    @admin.display(description="Compliance warnings")
    def warnings(self, script: Script) -> str:
        if not script.pk:
            return "—"
        items = services.script_warnings(script=script)
        if not items:
            return "None"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in items))
        )

    @admin.display(description="How often each trigger fired, and the outcome after it")
    def objection_analytics(self, script: Script) -> SafeString | str:
        if not script.pk:
            return "—"
        analytics = call_analytics.script_objection_analytics(script=script)
        rows = [
            {
                "stat": stat,
                "chart": stacked_bar(
                    [
                        ChartItem(
                            key=outcome or "none",
                            label=_outcome_label(outcome),
                            value=count,
                            colour=OUTCOME_COLOURS.get(outcome, DEFAULT_COLOUR)
                            if outcome
                            else NO_OUTCOME_COLOUR,
                        )
                        for outcome, count in stat.outcomes
                    ]
                ),
            }
            for stat in analytics.rows
        ]
        return SafeString(
            render_to_string(
                "scripts/admin/objection_analytics.html",
                {"analytics": analytics, "rows": rows},
            )
        )

    @admin.display(description="Used by campaigns")
    def usage(self, script: Script) -> str:
        if not script.pk:
            return "—"
        return ", ".join(selectors.script_campaign_names(script=script)) or "Not used"

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseInlineFormSet], change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        # The admin wrote the row and its objections; record the version calls will use.
        services.script_record_admin_edit(script=form.instance)
