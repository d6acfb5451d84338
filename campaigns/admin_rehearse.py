"""The campaign page's "Rehearse" action (issue 19 part 2): `<id>/rehearse/`.

A small form (size; a weight per simulator persona, or "estimate from past calls") that asks for
a rehearsal through the API's own service (`campaigns.rehearsal.services.rehearsal_create`:
same size range, same mix validation, same refusal of a stopped campaign or of an estimate
without enough past calls), then opens the rehearsal's report page, where it shows as queued
until the worker has run it.

It is the campaign admin's own view, so the campaign is read through its scoped queryset
(another organization's campaign is a 404) and starting one needs the change permission in the
campaign's organization, as `POST /campaigns/:id/rehearsals` needs a writing role: a viewer is
refused (403), and the panel does not offer the button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from anvil_voice.errors import ApplicationError
from campaigns.admin_panel import campaign_page_object
from campaigns.rehearsal import population
from campaigns.rehearsal.services import rehearsal_create

if TYPE_CHECKING:
    from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin

    ModelAdminBase = OrganizationScopedAdmin
else:
    ModelAdminBase = object

_PERSONA_PREFIX = "persona_"


def persona_field(key: str) -> str:
    return _PERSONA_PREFIX + key.replace("-", "_")


class RehearseForm(forms.Form):
    size = forms.IntegerField(
        label="Simulated callees",
        initial=50,
        help_text=f"How many synthetic callees to call (1 to {population.MAX_SIZE}).",
    )
    estimate = forms.BooleanField(
        label="Estimate the mix from past calls",
        required=False,
        help_text=(
            "Use the proportions this organization's finished campaign calls of the last "
            f"{population.HISTORY_DAYS} days suggest (at least "
            f"{population.HISTORY_MIN_SESSIONS} needed) instead of the weights below."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key in population.REHEARSAL_PERSONAS:
            # Whole-number weights, normalised by the service; blank is 0.
            self.fields[persona_field(key)] = forms.IntegerField(
                label=key.replace("-", " "), required=False, min_value=0, max_value=10000
            )

    def mix(self) -> dict[str, int] | None:
        """The mix to ask for (None: estimate it); the service says what is wrong with it."""
        data = self.cleaned_data
        if data["estimate"]:
            return None
        return {key: data.get(persona_field(key)) or 0 for key in population.REHEARSAL_PERSONAS}

    def persona_fields(self) -> list[forms.BoundField]:
        return [self[persona_field(key)] for key in population.REHEARSAL_PERSONAS]


class RehearseAdminMixin(ModelAdminBase):
    """Adds the "Rehearse" page to `CampaignAdmin`."""

    def rehearse_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/rehearse/",
                self.admin_site.admin_view(self.rehearse_view),
                name="campaigns_campaign_rehearse",
            )
        ]

    def rehearse_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = campaign_page_object(
            self, request, object_id, change=True, denied="Your role cannot rehearse this campaign."
        )
        form = RehearseForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                rehearsal = rehearsal_create(
                    campaign=campaign,
                    size=form.cleaned_data["size"],
                    mix=form.mix(),
                    user=request.user if request.user.is_authenticated else None,
                )
            except ApplicationError as error:
                # `size` beside its field; the mix and the campaign's state above the form.
                for field, problems in (error.details or {}).items():
                    for problem in problems:
                        form.add_error("size" if field == "size" else None, problem)
                if not error.details:
                    form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    f"Rehearsal #{rehearsal.pk} queued: {rehearsal.size} simulated callees, "
                    "nobody is called. This page shows its report once it has run.",
                )
                return HttpResponseRedirect(
                    reverse("admin:campaigns_rehearsal_change", args=[rehearsal.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Rehearse: {campaign.name}",
            "opts": self.opts,
            "campaign": campaign,
            "form": form,
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }
        return TemplateResponse(request, "campaigns/admin/rehearse.html", context)
