"""Campaigns in the admin: create and edit drafts, start/pause/stop through the services, stats.

The change page (`templates/campaigns/admin/campaign_change_form.html`) adds a panel above the
form: start/pause/stop buttons (POSTing to `<id>/lifecycle/<verb>/`, the same services as the
API and the list actions), the progress bar, the outcome and hourly-calls charts, and links to
the campaign's sessions and to its contact list's CSV import page.

Contact lists (CSV import), the do-not-call list and caller IDs are in `admin_contacts`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from anvil_voice.charts import OUTCOME_COLOURS, Chart, ChartItem, column_chart, horizontal_bar_chart
from anvil_voice.errors import ApplicationError
from campaigns import admin_callbacks, admin_contacts, selectors, services
from campaigns.models import Campaign, CampaignStats, CampaignStatus, CampaignTransition
from campaigns.services.lifecycle import ALLOWED_TRANSITIONS

__all__ = ["CampaignAdmin", "admin_callbacks", "admin_contacts"]

CONFIG_FIELDS = [
    "organization", "name", "script", "voice", "contact_list", "caller_id", "start_at", "end_at",
    "days_of_week", "window_start", "window_end", "max_concurrent_calls", "calls_per_second",
    "max_attempts", "retry_no_answer_minutes", "retry_busy_minutes", "retry_voicemail_minutes",
    "voicemail_behaviour", "record_calls", "transfer_number", "transfer_target_kind",
]  # fmt: skip


# Which lifecycle buttons a campaign in each status offers (the services decide for real).
LIFECYCLE_VERBS = {
    "start": (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED),
    "pause": (CampaignStatus.RUNNING,),
    "stop": tuple(
        status
        for status, targets in ALLOWED_TRANSITIONS.items()
        if CampaignStatus.STOPPED in targets
    ),
}


def campaign_outcome_chart(campaign: Campaign) -> Chart:
    items = [
        ChartItem(
            key=item.outcome,
            label=item.label,
            value=item.count,
            colour=OUTCOME_COLOURS.get(item.outcome, "#417690"),
        )
        for item in selectors.campaign_outcome_breakdown(campaign=campaign)
    ]
    return horizontal_bar_chart(
        items,
        chart_id="campaign-outcome-chart",
        title="Outcomes",
        caption="(finished calls, whole campaign)",
        empty_text="No finished calls yet.",
    )


def campaign_hourly_chart(campaign: Campaign, *, now: Any = None) -> Chart:
    hours = selectors.campaign_hourly_calls(campaign=campaign, now=now)
    zone = timezone.get_current_timezone_name()
    items = [
        ChartItem(
            key=hour.start.isoformat(),
            label=f"{hour.start:%Y-%m-%d %H:00} {zone}",
            value=hour.count,
            # Every third hour gets a tick so 24 columns stay readable.
            tick=f"{hour.start:%H}" if hour.start.hour % 3 == 0 else "",
        )
        for hour in hours
    ]
    return column_chart(
        items,
        chart_id="campaign-hourly-chart",
        title="Calls placed per hour",
        caption=f"(last {len(items)} hours, {zone})",
        empty_text=f"No calls placed in the last {len(items)} hours.",
    )


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = CONFIG_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
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


class CampaignTransitionInline(admin.TabularInline):
    model = CampaignTransition
    fields = ["at", "from_status", "to_status", "actor_user", "actor_api_key", "actor_system"]
    readonly_fields = ["at", "from_status", "to_status", "actor_user", "actor_api_key"]
    readonly_fields += ["actor_system"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The panel's "why not dialling" line, one per `selectors.Dialling.reason`.
DIALLING_LINES = {
    None: "Dialling.",
    "capacity": "Waiting for a free line: every live call this deployment can hold is in use.",
    "pacing": "Waiting: the campaign's own concurrent-call or calls-per-second limit is reached.",
    "window": "Waiting: outside the contacts' calling window.",
    "nothing_due": "Waiting: no contact is due now.",
    "paused": "Paused.",
    "scheduled": "Scheduled to start.",
}


def dialling_line(dialling: selectors.Dialling) -> dict[str, Any] | None:
    if dialling.state == "idle":
        return None
    return {
        "state": dialling.state,
        "reason": dialling.reason or "",
        "text": DIALLING_LINES.get(dialling.reason, dialling.reason or ""),
        "waiting": dialling.waiting_for_capacity,
        "next_dial_at": dialling.next_dial_at,
    }


@admin.register(Campaign)
class CampaignAdmin(OrganizationScopedAdmin):
    form = CampaignAdminForm
    list_display = [
        "name",
        "organization",
        "status",
        "dialling",
        "progress",
        "started_at",
        "completed_at",
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
            *super().get_urls(),
        ]

    def lifecycle_view(self, request: HttpRequest, object_id: str, verb: str) -> HttpResponse:
        """The change page's start/pause/stop buttons: one campaign, then back to its page."""
        if verb not in LIFECYCLE_VERBS:
            raise Http404("Unknown action.")
        campaign = self.get_object(request, object_id)
        if campaign is None:
            raise Http404("No such campaign.")
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        self._apply(request, Campaign.objects.filter(pk=campaign.pk), verb)
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

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
            "dialling": dialling_line(selectors.campaign_dialling(campaign)),
            "stats": stats,
            "progress_percent": stats["progressPercent"],
            "answer_rate_percent": round(100 * stats["answerRate"], 1),
            "buttons": [
                {
                    "verb": verb,
                    "label": verb.title(),
                    "enabled": can_change and campaign.status in statuses,
                    "url": reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, verb]),
                }
                for verb, statuses in LIFECYCLE_VERBS.items()
            ],
            "sessions_url": reverse("admin:call_sessions_callsession_changelist")
            + f"?campaign__id__exact={campaign.pk}",
            "import_url": reverse(
                "admin:campaigns_contactlist_import", args=[campaign.contact_list_id]
            ),
            "contact_list": campaign.contact_list,
            "outcome_chart": campaign_outcome_chart(campaign),
            "hourly_chart": campaign_hourly_chart(campaign),
        }

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        if obj is None:
            return list(CONFIG_FIELDS)
        return ["status", "stats_table", *CONFIG_FIELDS, "started_at", "completed_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        readonly = ["status", "stats_table", "started_at", "completed_at"]
        if isinstance(obj, Campaign) and obj.status != CampaignStatus.DRAFT:
            # Once started, what a campaign dials with stays as it was started.
            readonly += CONFIG_FIELDS
        return readonly

    def save_model(
        self, request: HttpRequest, obj: Campaign, form: ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        CampaignStats.objects.get_or_create(campaign=obj)

    @admin.display(description="Dialling")
    def dialling(self, campaign: Campaign) -> str:
        # The dispatcher's note is on the row: no query per line.
        line = dialling_line(selectors.campaign_dialling(campaign))
        if line is None:
            return "—"
        text = str(line["text"])
        if line["waiting"]:
            text += f" {line['waiting']} waiting."
        return text

    @admin.display(description="Progress")
    def progress(self, campaign: Campaign) -> str:
        stats = selectors.campaign_stats(campaign)
        contacts = stats["contacts"]
        return f"{stats['progressPercent']}% of {contacts['total']}"

    @admin.display(description="Stats")
    def stats_table(self, campaign: Campaign) -> SafeString:
        payload = selectors.campaign_stats(campaign)
        rows: list[tuple[str, Any]] = []
        for section in ("contacts", "calls", "outcomes", "talkTime"):
            rows.extend((f"{section} · {key}", value) for key, value in payload[section].items())
        rows += [
            ("answer rate", f"{payload['answerRate']:.1%}"),
            ("progress", f"{payload['progressPercent']}%"),
            ("cost", payload["cost"] or "unknown"),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

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
