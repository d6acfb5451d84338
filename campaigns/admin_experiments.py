"""A campaign's script experiment in the admin (issue 19 part 1): `<id>/experiment/` shows
each arm's results (the same `experiment_results` as the API) with charts, and its
"Send all traffic to the winner" button POSTs to `<id>/experiment/promote/`.

Both are the campaign admin's own views: the campaign is read through its scoped queryset
(another organization's campaign is a 404) and the page needs the view permission there, the
button the change permission (a viewer sees it disabled and a forged POST is refused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from anvil_voice.charts import (
    DEFAULT_COLOUR,
    OUTCOME_COLOURS,
    Chart,
    ChartItem,
    IntervalChart,
    IntervalItem,
    horizontal_bar_chart,
    interval_chart,
)
from anvil_voice.errors import ApplicationError
from campaigns import experiments
from campaigns.admin_panel import campaign_page_object
from campaigns.analytics import wilson_interval
from campaigns.experiment_results import ExperimentResults, experiment_results
from campaigns.models import Experiment, ExperimentStatus
from campaigns.services.lifecycle import Actor

if TYPE_CHECKING:
    from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin

    ModelAdminBase = OrganizationScopedAdmin
else:
    ModelAdminBase = object

# Arms are told apart by colour on every chart of the page (position order).
ARM_COLOURS = ("#417690", "#ef6c00", "#2e7d32", "#6a1b9a")


def success_chart(results: ExperimentResults) -> IntervalChart:
    outcome = results.experiment.success_outcome
    return interval_chart(
        [
            IntervalItem(
                key=str(arm.arm.pk),
                label=arm.arm.label,
                rate=arm.success_rate,
                low=arm.credible_low if arm.credible_low is not None else arm.success_rate,
                high=arm.credible_high if arm.credible_high is not None else arm.success_rate,
                text=f"{arm.successes}/{arm.conversations}"
                + (
                    f" · P(best) {arm.probability_best:.0%}"
                    if arm.probability_best is not None
                    else " · stopped"
                ),
                colour=ARM_COLOURS[arm.arm.position % len(ARM_COLOURS)],
            )
            for arm in results.arms
        ],
        chart_id="experiment-success",
        title=f"“{outcome.replace('_', ' ')}” per conversation, by arm",
        caption="dot: the rate; line: its 95% credible interval",
        empty_text="No arms.",
    )


def traffic_chart(results: ExperimentResults) -> Chart:
    return horizontal_bar_chart(
        [
            ChartItem(
                key=str(arm.arm.pk),
                label=arm.arm.label,
                value=arm.calls,
                colour=ARM_COLOURS[arm.arm.position % len(ARM_COLOURS)],
            )
            for arm in results.arms
        ],
        chart_id="experiment-traffic",
        title="Calls per arm",
        empty_text="No calls yet.",
    )


def guardrail_chart(results: ExperimentResults) -> IntervalChart:
    """Opt-out and early hang-up rates per arm, with Wilson intervals (one row each)."""
    items = []
    for arm in results.arms:
        for key, label, figure, colour in (
            ("opt-out", "opt-outs", arm.opt_out, OUTCOME_COLOURS["do_not_call"]),
            ("early", "early hang-ups", arm.early_hang_up, DEFAULT_COLOUR),
        ):
            low, high = wilson_interval(figure.count, figure.total)
            items.append(
                IntervalItem(
                    key=f"{arm.arm.pk}-{key}",
                    label=f"{arm.arm.label}: {label}",
                    rate=figure.rate,
                    low=low,
                    high=high,
                    text=f"{figure.count}/{figure.total}",
                    colour=colour,
                )
            )
    return interval_chart(
        items,
        chart_id="experiment-guardrails",
        title="Guardrails: opt-outs and early hang-ups per conversation",
        caption="line: 95% Wilson interval",
    )


class ExperimentAdminMixin(ModelAdminBase):
    """Adds the experiment page to `CampaignAdmin`."""

    def experiment_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/experiment/",
                self.admin_site.admin_view(self.experiment_view),
                name="campaigns_campaign_experiment",
            ),
            path(
                "<path:object_id>/experiment/promote/",
                self.admin_site.admin_view(require_POST(self.experiment_promote_view)),
                name="campaigns_campaign_experiment_promote",
            ),
        ]

    def experiment_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = campaign_page_object(self, request, object_id)
        experiment = Experiment.objects.filter(campaign=campaign).first()
        results = experiment_results(experiment=experiment) if experiment else None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Script experiment: {campaign.name}",
            "opts": self.opts,
            "campaign": campaign,
            "experiment": experiment,
            "results": results,
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
            "can_promote": (
                experiment is not None
                and experiment.status != ExperimentStatus.PROMOTED
                and results is not None
                and (experiment.status == ExperimentStatus.WINNER_DECLARED or results.winner_ready)
                and self.has_change_permission(request, campaign)
            ),
        }
        if results is not None:
            context["success_chart"] = success_chart(results)
            context["traffic_chart"] = traffic_chart(results)
            context["guardrail_chart"] = guardrail_chart(results)
        return TemplateResponse(request, "campaigns/admin/experiment.html", context)

    def experiment_promote_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = campaign_page_object(self, request, object_id)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        user = request.user if request.user.is_authenticated else None
        try:
            experiment = experiments.experiment_promote(
                campaign=campaign,
                actor=Actor(user=user),
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            winner = experiment.winner.label if experiment.winner else "the winner"
            messages.success(request, f"All of the campaign's calls now go to {winner}.")
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaign_experiment", args=[campaign.pk])
        )
