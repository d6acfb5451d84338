"""The live monitor page in the admin: live calls as cards, their transcripts streaming in,
listen-in, and the hang-up / transfer-to-me controls.

Every view is staff-only and organization-scoped by construction (another organization's
session is a 404, as everywhere); the controls also need a writing role (owner or manager) in
the session's organization: a viewer sees and reads, but cannot listen, hang up or take calls.
The controls are POSTs with the admin's CSRF protection, answered in JSON for the page's script.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from anvil_voice.accounts.admin_scoping import role_in, scope_queryset_for_user, user_can_write
from anvil_voice.accounts.models import WRITE_ROLES, Membership, validate_e164
from sessions.live.cards import (
    FINISHED_STATUSES,
    STATUS_LABELS,
    STATUS_ORDER,
    live_sessions,
    monitor_card,
)
from sessions.live.controls import (
    ControlResult,
    session_staff_hang_up,
    session_staff_transfer,
)
from sessions.models import CallSession

MAX_CARDS = 50


class PhoneNumberForm(forms.Form):
    phone_number = forms.CharField(
        label="Your phone number (for “Transfer to me”)",
        max_length=16,
        required=False,
        validators=[validate_e164],
        widget=forms.TextInput(attrs={"placeholder": "+14155550100", "size": 16}),
    )


def _scoped_sessions(request: HttpRequest) -> Any:
    return scope_queryset_for_user(CallSession.objects.all(), request=request)


def _may_control(request: HttpRequest, session: CallSession) -> bool:
    return role_in(request, session.organization_id) in WRITE_ROLES


def _card(request: HttpRequest, session: CallSession) -> dict[str, Any]:
    return {**monitor_card(session), "canControl": _may_control(request, session)}


def _session_or_404(request: HttpRequest, session_id: int) -> CallSession:
    session = _scoped_sessions(request).filter(pk=session_id).first()
    if session is None:
        raise Http404("No such call session.")
    return session


@staff_member_required
@require_GET
def live_monitor(request: HttpRequest) -> HttpResponse:
    live = live_sessions(_scoped_sessions(request))
    only = request.GET.get("session", "")
    if only.isdigit() and len(only) <= 18:
        # Followed from the test-call form: this call alone (it may not be live yet).
        live = live.filter(pk=int(only))
    own_number = (
        Membership.objects.filter(user_id=request.user.pk or 0)
        .exclude(phone_number="")
        .values_list("phone_number", flat=True)
        .first()
        or ""
    )
    context = {
        **admin.site.each_context(request),
        "title": "Live calls",
        "cards": [_card(request, session) for session in live[:MAX_CARDS]],
        "monitor_config": {
            "statusLabels": STATUS_LABELS,
            "finishedStatuses": FINISHED_STATUSES,
            "statusOrder": STATUS_ORDER,
            "only": int(only) if only.isdigit() and len(only) <= 18 else None,
        },
        "phone_form": PhoneNumberForm(initial={"phone_number": own_number}),
        "own_number": own_number,
        "can_place_calls": user_can_write(request),
    }
    return TemplateResponse(request, "admin/live_monitor.html", context)


@staff_member_required
@require_GET
def live_monitor_card(request: HttpRequest, session_id: int) -> JsonResponse:
    """One card, for a call the page first hears of over the websocket."""
    session = _session_or_404(request, session_id)
    session = live_sessions(CallSession.objects.filter(pk=session.pk)).first() or session
    return JsonResponse(_card(request, session))


def _control(request: HttpRequest, session_id: int, action: Any) -> JsonResponse:
    session = _session_or_404(request, session_id)
    if not _may_control(request, session):
        return JsonResponse(
            {"done": False, "message": "Your role in this organization cannot do that."},
            status=403,
        )
    result: ControlResult = action(session=session, user=request.user)
    return JsonResponse(
        {"done": result.done, "message": result.message}, status=200 if result.done else 409
    )


@staff_member_required
@require_POST
def live_monitor_hang_up(request: HttpRequest, session_id: int) -> JsonResponse:
    return _control(request, session_id, session_staff_hang_up)


@staff_member_required
@require_POST
def live_monitor_transfer(request: HttpRequest, session_id: int) -> JsonResponse:
    return _control(request, session_id, session_staff_transfer)


@staff_member_required
@require_POST
def live_monitor_phone(request: HttpRequest) -> HttpResponse:
    """The member's own phone, for "transfer to me" (the same person in each organization)."""
    form = PhoneNumberForm(request.POST)
    if form.is_valid():
        number = form.cleaned_data["phone_number"]
        Membership.objects.filter(user_id=request.user.pk or 0).update(phone_number=number)
        messages.success(
            request,
            f"Calls you take will ring {number}." if number else "Your phone number is removed.",
        )
    else:
        for error in form.errors.get("phone_number", []):
            messages.error(request, str(error))
    return redirect("live-monitor")
