"""The rehearsals in the admin: a read-only list, a report page with charts, and each rehearsal
call's transcript (`<id>/calls/<session_id>/`). Every page carries the REHEARSAL badge.

Registered from `campaigns.admin` (the app's admin module Django imports). Rehearsals are asked
for through the API (`POST /campaigns/:id/rehearsals`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from anvil_voice.charts import (
    DEFAULT_COLOUR,
    OUTCOME_COLOURS,
    Chart,
    ChartItem,
    column_chart,
    horizontal_bar_chart,
)
from campaigns.rehearsal.models import Rehearsal
from sessions.models import CallSession

BADGE = format_html(
    '<span class="rehearsal-badge" data-testid="rehearsal-badge" style="background:#6a1b9a;'
    "color:#fff;border-radius:4px;padding:1px 6px;font-size:11px;font-weight:bold;"
    'letter-spacing:.05em">{}</span>',
    "REHEARSAL",
)
# Latency histogram buckets (ms, upper bounds).
LATENCY_BUCKETS = (500, 750, 1000, 1250, 1500, 2000, 3000)


def report_charts(report: dict[str, Any], latencies: list[int]) -> dict[str, Chart]:
    outcomes = report.get("outcomes", {})
    outcome_chart = horizontal_bar_chart(
        [
            ChartItem(
                key=key,
                label=key.replace("_", " "),
                value=int(value["count"]),
                colour=OUTCOME_COLOURS.get(key, DEFAULT_COLOUR),
            )
            for key, value in outcomes.items()
        ],
        chart_id="rehearsal-outcomes",
        title="Predicted outcome mix (each callee's last outcome)",
    )
    misbehaviour_chart = horizontal_bar_chart(
        [
            ChartItem(key=key, label=key.replace("_", " "), value=int(count))
            for key, count in report.get("misbehaviourCounts", {}).items()
        ],
        chart_id="rehearsal-misbehaviours",
        title="Agent misbehaviours",
        empty_text="No misbehaviour found.",
    )
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    for value in latencies:
        index = next((i for i, top in enumerate(LATENCY_BUCKETS) if value <= top), -1)
        counts[index] += 1
    labels = [f"≤{top}" for top in LATENCY_BUCKETS] + [f">{LATENCY_BUCKETS[-1]}"]
    latency_chart = column_chart(
        [
            ChartItem(key=label, label=f"{label} ms", value=count, tick=label)
            for label, count in zip(labels, counts, strict=True)
        ],
        chart_id="rehearsal-latency",
        title="Reply latency (ms)",
    )
    return {
        "outcomes": outcome_chart,
        "misbehaviours": misbehaviour_chart,
        "latency": latency_chart,
    }


@admin.register(Rehearsal)
class RehearsalAdmin(OrganizationScopedAdmin):
    list_display = ["rehearsal_badge", "campaign", "status", "size", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["campaign"]
    readonly_fields = [field.name for field in Rehearsal._meta.fields]

    @admin.display(description="")
    def rehearsal_badge(self, obj: Rehearsal) -> str:
        return format_html("{} #{}", BADGE, obj.pk)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/calls/<int:session_id>/",
                self.admin_site.admin_view(self.call_view),
                name="campaigns_rehearsal_call",
            ),
            *super().get_urls(),
        ]

    def _rehearsal(self, request: HttpRequest, object_id: str) -> Rehearsal:
        rehearsal = self.get_object(request, object_id)
        if rehearsal is None:
            raise Http404("No such rehearsal.")
        if not self.has_view_permission(request, rehearsal):
            raise PermissionDenied
        return rehearsal

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        rehearsal = self._rehearsal(request, object_id)
        report = rehearsal.report or {}
        sessions = CallSession.rehearsal_objects.filter(rehearsal=rehearsal)
        latencies = [
            int(value)
            for session in sessions.prefetch_related("turns")
            for turn in session.turns.all()
            if isinstance(value := (turn.latency or {}).get("first_frame_ms"), int)
        ]
        misbehaviours = [
            {
                **item,
                "url": reverse(
                    "admin:campaigns_rehearsal_call", args=[rehearsal.pk, item["sessionId"]]
                ),
            }
            for item in report.get("misbehaviours", [])
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Rehearsal #{rehearsal.pk}: {rehearsal.campaign.name}",
            "opts": self.opts,
            "rehearsal": rehearsal,
            "report": report,
            "misbehaviours": misbehaviours,
            "charts": report_charts(report, latencies) if report else {},
            "badge": BADGE,
            "campaign_url": reverse(
                "admin:campaigns_campaign_change", args=[rehearsal.campaign_id]
            ),
        }
        return TemplateResponse(request, "campaigns/admin/rehearsal.html", context)

    def call_view(self, request: HttpRequest, object_id: str, session_id: int) -> HttpResponse:
        rehearsal = self._rehearsal(request, object_id)
        session = (
            CallSession.rehearsal_objects.filter(rehearsal=rehearsal, pk=session_id)
            .prefetch_related("turns")
            .first()
        )
        if session is None:
            raise Http404("No such call in this rehearsal.")
        details = (session.extracted or {}).get("rehearsal", {})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Rehearsal #{rehearsal.pk}, call {session.pk}",
            "opts": self.opts,
            "rehearsal": rehearsal,
            "session": session,
            "persona": details.get("persona", ""),
            "findings": details.get("findings", []),
            "turns": list(session.turns.order_by("index")),
            "badge": BADGE,
            "back_url": reverse("admin:campaigns_rehearsal_change", args=[rehearsal.pk]),
        }
        return TemplateResponse(request, "campaigns/admin/rehearsal_call.html", context)
