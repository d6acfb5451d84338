"""The admin's "test call" page: script + voice + number, then follow the call live.

It places the call through the same service and rules as `POST /calls/test`
(`campaigns.services.test_calls`: E.164, number types, do-not-call list, calling window with an
explicit override, live-call capacity) and records it unless "Record the call" is unticked.
On success it redirects to the live monitor showing this call alone, where its card appears
as soon as it is placed, with the transcript, listen-in and the hang-up control.

Choices offer only scripts and ready voices of organizations where the user may write
(owner, manager); the service checks again that the voice belongs to the script's
organization, so a forged POST cannot mix organizations.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from anvil_voice.accounts.admin_scoping import writable_organization_ids
from anvil_voice.errors import ApplicationError
from campaigns.services.test_calls import session_test_call_create
from scripts.models import Script
from voices.models import Voice, VoiceStatus

# The service's field names (as the API spells them) → this form's.
_FIELDS: dict[str, str | None] = {
    "to": "to",
    "script": "script",
    "voice": "voice",
    "from": None,  # the organization's caller ID: not on this form
    "overrideReason": "override_reason",
}


class TestCallForm(forms.Form):
    script = forms.ModelChoiceField(queryset=Script.objects.none())
    voice = forms.ModelChoiceField(queryset=Voice.objects.none())
    to = forms.CharField(
        label="Number to call",
        max_length=16,
        help_text="E.164, e.g. +14155550100 (your own phone, to hear the script).",
    )
    first_name = forms.CharField(
        label="Contact's first name",
        max_length=100,
        required=False,
        help_text="Filled into the script's {{first_name}}.",
    )
    record = forms.BooleanField(
        label="Record the call",
        required=False,
        initial=True,
        help_text="As campaign calls are recorded (after the script's disclosure if it has one).",
    )
    override_calling_window = forms.BooleanField(
        label="Call even outside the legal calling window", required=False
    )
    override_reason = forms.CharField(label="Why", max_length=500, required=False)

    def __init__(self, *args: Any, organization_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        script_field = self.fields["script"]
        voice_field = self.fields["voice"]
        assert isinstance(script_field, forms.ModelChoiceField)
        assert isinstance(voice_field, forms.ModelChoiceField)
        script_field.queryset = Script.objects.filter(
            organization_id__in=organization_ids
        ).order_by("name")
        voice_field.queryset = Voice.objects.filter(
            organization_id__in=organization_ids, status=VoiceStatus.READY
        ).order_by("name")


@staff_member_required
def test_call_page(request: HttpRequest) -> HttpResponse:
    organization_ids = (
        list(Script.objects.values_list("organization_id", flat=True).distinct())
        if request.user.is_superuser
        else writable_organization_ids(request)
    )
    if not organization_ids:
        raise PermissionDenied("Your role cannot place calls in any organization.")
    form = TestCallForm(
        request.POST if request.method == "POST" else None, organization_ids=organization_ids
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        script: Script = data["script"]
        first_name = data["first_name"].strip()
        try:
            session = session_test_call_create(
                organization=script.organization,
                to=data["to"],
                script_id=script.pk,
                voice_id=data["voice"].pk,
                variables={"first_name": first_name} if first_name else {},
                override_calling_window=data["override_calling_window"],
                override_reason=data["override_reason"],
                record=data["record"],
                user=request.user if request.user.is_authenticated else None,
            )
        except ApplicationError as error:
            for field, problems in (error.details or {}).items():
                for problem in problems:
                    form.add_error(_FIELDS.get(field), problem)
            if not error.details:
                form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"Calling {session.to_number}"
                + (" (recorded)" if data["record"] else " (not recorded)")
                + ": follow it here.",
            )
            return redirect(f"{reverse('live-monitor')}?session={session.pk}")
    context = {
        **admin.site.each_context(request),
        "title": "Test call",
        "form": form,
    }
    return TemplateResponse(request, "admin/test_call.html", context)
