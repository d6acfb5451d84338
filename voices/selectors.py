"""Reads for voices. Tenant scoping is the caller's (the base viewset, the admin helper)."""

from __future__ import annotations

import functools
import hashlib

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import (
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)

from anvil_voice.accounts.models import Organization
from scripts.models import Script
from scripts.services import script_render
from voices.models import Voice, VoicePreview, VoiceSample

# Who a script preview is addressed to (a contact has these fields; see scripts.validation).
PREVIEW_CONTACT = {
    "first_name": "Jordan",
    "last_name": "Lee",
    "full_name": "Jordan Lee",
    "company": "Example Co",
    "agent_name": "Alex",
}

# Campaign statuses in which a voice is (or is about to be) on the phone again.
ACTIVE_CAMPAIGN_STATUSES = ("running", "paused")


def voice_list() -> QuerySet[Voice]:
    """Voices with their sample count and total sample seconds (one query for a page).

    A clone of one queryset built once (`_voice_list`): resolving the two subqueries costs
    several times what cloning the resolved query does, on every request (the same as a DRF
    view's class-level `queryset`, which DRF clones per request).
    """
    return _voice_list().all()


@functools.cache
def _voice_list() -> QuerySet[Voice]:
    """The annotated voice queryset (never evaluated itself: callers get clones).

    Each is a correlated subquery on the samples' voice index, computed for the page's rows
    only; a join with GROUP BY aggregated every voice of the organization (and grouped by
    every column on SQLite) before the page was cut, and made the total's count a query
    around the whole grouped listing. COUNT and SUM without GROUP BY answer one row even for a
    voice with no samples (0 and NULL, as the join did).
    """
    samples = VoiceSample.objects.filter(voice=OuterRef("pk")).order_by()
    return Voice.objects.annotate(
        sample_count=Subquery(
            samples.annotate(n=Func(F("id"), function="COUNT")).values("n"),
            output_field=IntegerField(),
        ),
        sample_seconds=Subquery(
            samples.annotate(s=Func(F("duration_seconds"), function="SUM")).values("s"),
            output_field=FloatField(),
        ),
    )


def voice_detail() -> QuerySet[Voice]:
    return voice_list().prefetch_related(
        Prefetch("samples", queryset=VoiceSample.objects.order_by("id"))
    )


def voice_in_active_use(*, voice: Voice) -> bool:
    """True if a running or paused campaign speaks with this voice.

    The campaigns app is built after this one: until `campaigns.Campaign` exists with a `voice`
    foreign key and a `status`, no campaign can use a voice and this answers False. Once it
    exists the check starts working without a change here.
    """
    try:
        campaign_model = apps.get_model("campaigns", "Campaign")
    except LookupError:
        return False
    try:
        campaign_model._meta.get_field("voice")
        campaign_model._meta.get_field("status")
    except FieldDoesNotExist:
        return False
    return bool(
        campaign_model._default_manager.filter(
            voice=voice, status__in=ACTIVE_CAMPAIGN_STATUSES
        ).exists()
    )


def preview_text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def preview_find(*, voice: Voice, text: str) -> VoicePreview | None:
    return VoicePreview.objects.filter(voice=voice, text_sha256=preview_text_sha256(text)).first()


def voice_stored_names(*, voice: Voice) -> list[str]:
    """Every object key the voice owns in storage (samples and previews)."""
    samples = VoiceSample.objects.filter(voice=voice).values_list("file", flat=True)
    previews = VoicePreview.objects.filter(voice=voice).values_list("file", flat=True)
    return [*samples, *previews]


def script_opening_line_for_preview(*, organization: Organization, script_id: int) -> str | None:
    """The script's opening line as a sample contact would hear it; None if the organization
    has no such script."""
    script = Script.objects.filter(organization=organization, pk=script_id).first()
    if script is None:
        return None
    return script_render(script=script, variables=PREVIEW_CONTACT)["opening_line"]
