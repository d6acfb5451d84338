"""Campaigns in the admin: create and edit drafts, start/pause/stop through the services, stats.

The change page (`templates/campaigns/admin/campaign_change_form.html`) adds a panel above the
form: start/pause/stop buttons (POSTing to `<id>/lifecycle/<verb>/`, the same services as the
API and the list actions), the progress bar, the outcome and hourly-calls charts, and links to
the campaign's sessions and to its contact list's CSV import page.

The panel and the list's "Dialling" column say why a running campaign is not dialling and when
it next dials in the contacts' local time (`next_dial`); both link to the campaign's control
room (`admin_control_room`). The buttons and charts they share are in `admin_panel`.

Contact lists (CSV import), the do-not-call list and caller IDs are in `admin_contacts`.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST
from unfold.admin import TabularInline
from unfold.widgets import INPUT_CLASSES, UnfoldAdminCheckboxSelectMultipleWidget

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from anvil_voice.charts import Chart
from anvil_voice.errors import ApplicationError
from campaigns import admin_callbacks, admin_contacts, costs, next_dial, selectors, services
from campaigns.admin_control_room import RETURN_TO_CONTROL_ROOM, ControlRoomAdminMixin
from campaigns.admin_costs import campaign_cost_panel
from campaigns.admin_experiments import ExperimentAdminMixin
from campaigns.admin_panel import (
    LIFECYCLE_VERBS,
    campaign_hourly_chart,
    campaign_outcome_chart,
    campaign_page_object,
    lifecycle_buttons,
)
from campaigns.admin_rehearse import RehearseAdminMixin
from campaigns.models import (
    Campaign,
    CampaignStats,
    CampaignStatus,
    CampaignTransition,
    DialOrder,
    default_days,
)

__all__ = ["CampaignAdmin", "admin_callbacks", "admin_contacts"]

CONFIG_FIELDS = [
    "organization", "name", "script", "voice", "contact_list", "caller_id", "start_at", "end_at",
    "days_of_week", "window_start", "window_end", "max_concurrent_calls", "calls_per_second",
    "max_attempts", "retry_no_answer_minutes", "retry_busy_minutes", "retry_voicemail_minutes",
    "voicemail_behaviour", "record_calls", "transfer_number", "transfer_target_kind",
    "dial_order",
]  # fmt: skip


# The settings in the theme's tabs (one section shows at a time; a tab with an error says so):
# the page stays short, and the numbers are in the panel above it, once.
CAMPAIGN_FIELDSETS: list[Any] = [
    (
        "Campaign",
        {
            "classes": ["tab"],
            "fields": [
                ("organization", "name"),
                ("script", "voice"),
                ("contact_list", "caller_id"),
            ],
        },
    ),
    (
        "Schedule",
        {
            "classes": ["tab"],
            "fields": [("start_at", "end_at"), "days_of_week", ("window_start", "window_end")],
        },
    ),
    (
        "Pacing and retries",
        {
            "classes": ["tab"],
            "fields": [
                ("max_concurrent_calls", "calls_per_second", "max_attempts"),
                ("retry_no_answer_minutes", "retry_busy_minutes", "retry_voicemail_minutes"),
                "dial_order",
            ],
        },
    ),
    (
        "Call handling",
        {
            "classes": ["tab"],
            "fields": [("voicemail_behaviour", "record_calls", "transfer_number")],
        },
    ),
    ("Budget", {"classes": ["tab"], "fields": ["budget"]}),
]


WEEKDAYS = [
    (0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
    (5, "Saturday"), (6, "Sunday"),
]  # fmt: skip


def _time_input() -> forms.TimeInput:
    # The browser's own time field: the admin's clock widget offered "Now", which means
    # nothing for a daily calling window.
    return forms.TimeInput(format="%H:%M", attrs={"type": "time", "class": " ".join(INPUT_CLASSES)})


class CampaignAdminForm(forms.ModelForm):
    # Ticked days, stored as the same JSON list of weekday numbers (Monday = 0) the API takes.
    days_of_week = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        initial=default_days,  # a declared field does not take the model field's default
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        error_messages={"required": "Tick at least one day."},
        help_text="Days on which contacts may be called, in each contact's local time.",
    )
    # Not required: a form posted without it (a script, an older page) keeps the plain order.
    dial_order = forms.TypedChoiceField(
        choices=DialOrder.choices,
        required=False,
        empty_value=DialOrder.PLAIN,
        initial=DialOrder.PLAIN,
        help_text="Best time to call: due contacts whose local hour answers best first, and "
        "retries moved (by up to a day) toward the hours the list answers in, always inside "
        "the calling window. The list's page shows its answer rates.",
    )

    # Not the model's column: saved by `save_model` through `costs.campaign_budget_set`, the
    # API's `PUT/DELETE /budget` service, and editable while the campaign runs (the settings
    # above lock once it starts; a budget is how a manager reins in a running campaign).
    budget = forms.DecimalField(
        required=False,
        max_digits=12,
        decimal_places=2,
        help_text="The most the campaign may spend. Near it dialling slows to half pace; at it "
        "the campaign pauses. Empty: no budget.",
    )

    class Meta:
        model = Campaign
        fields = CONFIG_FIELDS
        widgets = {"window_start": _time_input(), "window_end": _time_input()}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "budget" in self.fields:
            # Calls are priced in the price table's currency; a budget can only be in it.
            self.fields["budget"].label = f"Budget ({settings.COST_CURRENCY})"
            if self.instance.pk is not None:
                self.initial["budget"] = self.instance.budget_amount

    def clean_days_of_week(self) -> list[int]:
        return sorted(set(self.cleaned_data["days_of_week"]))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._clean_budget(cleaned)
        values = {name: cleaned[name] for name in CONFIG_FIELDS if cleaned.get(name) is not None}
        for field, problems in services.lifecycle.campaign_settings_errors(values).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
        voicemail = services.lifecycle.campaign_voicemail_errors(
            voicemail_behaviour=cleaned.get("voicemail_behaviour"), script=cleaned.get("script")
        )
        for field, problems in voicemail.items():
            for problem in problems:
                self.add_error(field, problem)
        organization = cleaned.get("organization")
        if organization is not None:
            transfer = services.lifecycle.campaign_transfer_errors(
                organization_id=organization.pk, transfer_number=cleaned.get("transfer_number")
            )
            for field, problems in transfer.items():
                for problem in problems:
                    self.add_error(field, problem)
        for name in ("script", "voice", "contact_list", "caller_id"):
            related = cleaned.get(name)
            if (
                organization is not None
                and related is not None
                and related.organization_id != organization.pk
            ):
                self.add_error(name, "Must belong to the campaign's organization.")
        return cleaned

    def _clean_budget(self, cleaned: dict[str, Any]) -> None:
        # The service's own checks, as form errors (a refusal in `save_model` would come too
        # late for the form); only when the budget changed, so saving a stopped campaign's
        # page with its budget untouched is not refused.
        if "budget" not in self.fields or "budget" not in self.changed_data:
            return
        problems = costs.budget_errors(
            amount=cleaned.get("budget"), currency=settings.COST_CURRENCY
        )
        for message in [*problems.get("amount", []), *problems.get("currency", [])]:
            self.add_error("budget", message)
        refusal = costs.budget_refusal(self.instance.status) if self.instance.pk else None
        if refusal:
            self.add_error("budget", refusal)


class CampaignTransitionInline(TabularInline):
    model = CampaignTransition
    fields = ["at", "from_status", "to_status", "actor_user", "actor_api_key", "actor_system"]
    readonly_fields = ["at", "from_status", "to_status", "actor_user", "actor_api_key"]
    readonly_fields += ["actor_system"]
    extra = 0
    can_delete = False
    # Unfold: the history is a tab beside the settings, not a table under them.
    tab = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def dialling_line(campaign: Campaign) -> dict[str, Any] | None:
    """The panel's "why not dialling / next dial" line (`next_dial`), None when idle."""
    line = next_dial.campaign_dialling_line(campaign)
    if line is None:
        return None
    return {
        "state": line.state,
        "reason": line.reason or "",
        "text": line.text,
        "waiting": line.waiting,
        "next_dial": line.next_dial,
    }


@admin.register(Campaign)
class CampaignAdmin(
    RehearseAdminMixin, ExperimentAdminMixin, ControlRoomAdminMixin, OrganizationScopedAdmin
):
    form = CampaignAdminForm
    list_display = [
        "name",
        "organization",
        "status",
        "dialling",
        "progress",
        "started_at",
        "completed_at",
        "control_room_link",
    ]
    list_filter = ["status"]
    search_fields = ["name"]
    # The list too: a campaign not started yet counts its list's contacts (no query a row).
    list_select_related = ["stats", "organization", "contact_list"]
    inlines = [CampaignTransitionInline]
    actions = ["start_campaigns", "pause_campaigns", "stop_campaigns"]
    change_form_template = "campaigns/admin/campaign_change_form.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/lifecycle/<str:verb>/",
                self.admin_site.admin_view(require_POST(self.lifecycle_view)),
                name="campaigns_campaign_lifecycle",
            ),
            *self.control_room_urls(),
            *self.experiment_urls(),
            *self.rehearse_urls(),
            *super().get_urls(),
        ]

    def lifecycle_view(self, request: HttpRequest, object_id: str, verb: str) -> HttpResponse:
        """The change page's start/pause/stop buttons: one campaign, then back to its page."""
        if verb not in LIFECYCLE_VERBS:
            raise Http404("Unknown action.")
        campaign = campaign_page_object(self, request, object_id, change=True)
        self._apply(request, Campaign.objects.filter(pk=campaign.pk), verb)
        back = "admin:campaigns_campaign_change"
        if request.POST.get("return_to") == RETURN_TO_CONTROL_ROOM:
            back = "admin:campaigns_campaign_control_room"
        return HttpResponseRedirect(reverse(back, args=[campaign.pk]))

    def lifecycle_buttons(self, request: HttpRequest, campaign: Campaign) -> list[dict[str, Any]]:
        return lifecycle_buttons(campaign, can_change=self.has_change_permission(request, campaign))

    def control_room_charts(self, campaign: Campaign) -> dict[str, Chart]:
        return {
            "outcomes": campaign_outcome_chart(campaign),
            "hourly": campaign_hourly_chart(campaign),
        }

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        campaign = self.get_object(request, object_id)
        if campaign is not None:
            extra_context["campaign_panel"] = self._panel(request, campaign)
        return super().change_view(request, object_id, form_url, extra_context)

    def _panel(self, request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
        stats = selectors.campaign_stats(campaign)
        can_change = self.has_change_permission(request, campaign)
        return {
            "campaign": campaign,
            "dialling": dialling_line(campaign),
            "stats": stats,
            "progress_percent": stats["progressPercent"],
            "answer_rate_percent": round(100 * stats["answerRate"], 1),
            "buttons": lifecycle_buttons(campaign, can_change=can_change),
            "sessions_url": reverse("admin:call_sessions_callsession_changelist")
            + f"?campaign__id__exact={campaign.pk}",
            "import_url": reverse(
                "admin:campaigns_contactlist_import", args=[campaign.contact_list_id]
            ),
            "contact_list": campaign.contact_list,
            "outcome_chart": campaign_outcome_chart(campaign),
            "hourly_chart": campaign_hourly_chart(campaign),
            "costs": campaign_cost_panel(campaign),
            "control_room_url": reverse(
                "admin:campaigns_campaign_control_room", args=[campaign.pk]
            ),
            # Starting a rehearsal needs a writing role, as the API's POST does.
            "rehearse_url": reverse("admin:campaigns_campaign_rehearse", args=[campaign.pk])
            if can_change
            else "",
        }

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        status = [(None, {"fields": [("status", "started_at", "completed_at")]})]
        fieldsets = [*(status if obj is not None else []), *CAMPAIGN_FIELDSETS]
        if self._locked(obj):
            # Read-only, the days read as names rather than the stored JSON list.
            fieldsets = copy.deepcopy(fieldsets)
            schedule = next(options for name, options in fieldsets if name == "Schedule")
            schedule["fields"] = [
                "calling_days" if row == "days_of_week" else row for row in schedule["fields"]
            ]
        return fieldsets

    @staticmethod
    def _locked(obj: Model | None) -> bool:
        # Once started, what a campaign dials with stays as it was started.
        return isinstance(obj, Campaign) and obj.status != CampaignStatus.DRAFT

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        readonly = ["status", "started_at", "completed_at"]
        if self._locked(obj):
            readonly += [*CONFIG_FIELDS, "calling_days"]
        return readonly

    @admin.display(description="Days of week")
    def calling_days(self, campaign: Campaign) -> str:
        names = dict(WEEKDAYS)
        return ", ".join(names[day] for day in campaign.days_of_week if day in names) or "—"

    @admin.display(description=f"Budget ({settings.COST_CURRENCY})")
    def budget(self, campaign: Campaign) -> str:
        # The read-only page's budget (a viewer's): the form's field is not a model column.
        return "—" if campaign.budget_amount is None else f"{campaign.budget_amount:.2f}"

    def save_model(
        self, request: HttpRequest, obj: Campaign, form: ModelForm, change: bool
    ) -> None:
        # A started campaign's settings are read-only: only its budget can change, and saving
        # the whole row would write back the status and counters read at the start of the
        # request over what the dialler wrote since.
        if not (change and self._locked(obj)):
            super().save_model(request, obj, form, change)
        CampaignStats.objects.get_or_create(campaign=obj)
        if "budget" in form.changed_data:
            try:
                costs.campaign_budget_set(campaign=obj, amount=form.cleaned_data["budget"])
            except ApplicationError as error:
                # The form checked already; only a status changed in between lands here.
                self.message_user(request, f"Budget not saved: {error.message}", messages.ERROR)
            else:
                obj.refresh_from_db()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        # The next dial's zone is read with the rows: the list's column costs no query a row.
        return selectors.with_next_dial_zone(super().get_queryset(request))

    @admin.display(description="Dialling")
    def dialling(self, campaign: Campaign) -> str:
        # The dispatcher's note is on the row, the zone annotated: no query per line.
        line = next_dial.campaign_dialling_line(campaign)
        return "—" if line is None else line.text

    @admin.display(description="Control room")
    def control_room_link(self, campaign: Campaign) -> SafeString:
        url = reverse("admin:campaigns_campaign_control_room", args=[campaign.pk])
        return format_html('<a href="{}" data-testid="campaign-control-room-link">Open</a>', url)

    @admin.display(description="Progress")
    def progress(self, campaign: Campaign) -> str:
        stats = selectors.campaign_stats(campaign)
        contacts = stats["contacts"]
        return f"{stats['progressPercent']}% of {contacts['total']}"

    def _apply(self, request: HttpRequest, queryset: QuerySet[Campaign], verb: str) -> None:
        actor = services.Actor(user=request.user if request.user.is_authenticated else None)
        function = {
            "start": services.campaign_start,
            "pause": services.campaign_pause,
            "stop": services.campaign_stop,
        }[verb]
        for campaign in queryset:
            try:
                function(campaign=campaign, actor=actor)
            except ValidationError as error:
                problems = "; ".join(admin_contacts._messages_of(error))
                self.message_user(request, f"{campaign}: {problems}", messages.ERROR)
            except ApplicationError as error:
                self.message_user(request, f"{campaign}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{campaign}: {verb} done.", messages.SUCCESS)

    @admin.action(description="Start (or resume) selected campaigns", permissions=["change"])
    def start_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._apply(request, queryset, "start")

    @admin.action(description="Pause selected campaigns", permissions=["change"])
    def pause_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._apply(request, queryset, "pause")

    @admin.action(description="Stop selected campaigns (final)", permissions=["change"])
    def stop_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._apply(request, queryset, "stop")


# The rehearsals' pages (issue 19), kept in their own module.
import campaigns.rehearsal.admin  # noqa: E402, F401
