"""The voices admin: upload samples to clone, hear samples and previews, retry, delete.

Every write goes through `voices.services` (the same code as the API): the upload page calls
`voice_clone`, the actions call `voice_preview` / `voice_clone_retry`, deleting calls
`voice_delete` so storage objects and the provider's copy go with the row.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.forms import ModelForm
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.admin import TabularInline

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin, user_can_write
from anvil_voice.accounts.models import WRITE_ROLES, Organization
from anvil_voice.accounts.selectors import organizations_for_user
from anvil_voice.errors import ApplicationError, ErrorCode
from voices import conf, selectors, services, speech, storage
from voices.forms import VoiceChangeForm, VoiceCloneForm
from voices.models import DEFAULT_SAMPLE_SENTENCE, Voice, VoicePreview, VoiceSample, VoiceStatus


def _player(url: str) -> SafeString:
    return format_html('<audio controls preload="none" src="{}"></audio>', url)


class VoiceSampleInline(TabularInline):
    model = VoiceSample
    fields = ["original_name", "format", "duration", "size_bytes", "player"]
    readonly_fields = ["original_name", "format", "duration", "size_bytes", "player"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # samples are added by cloning, never one by one

    @admin.display(description="Duration")
    def duration(self, sample: VoiceSample) -> str:
        return f"{sample.duration_seconds:.1f} s"

    @admin.display(description="Listen")
    def player(self, sample: VoiceSample) -> SafeString:
        return _player(
            reverse("admin:voices_voice_sample_audio", args=[sample.voice_id, sample.pk])
        )


class VoicePreviewInline(TabularInline):
    model = VoicePreview
    fields = ["text", "duration", "created_at", "player"]
    readonly_fields = ["text", "duration", "created_at", "player"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # use the "Generate preview" action

    @admin.display(description="Duration")
    def duration(self, preview: VoicePreview) -> str:
        return f"{preview.duration_seconds:.1f} s"

    @admin.display(description="Listen")
    def player(self, preview: VoicePreview) -> SafeString:
        return _player(
            reverse("admin:voices_voice_preview_audio", args=[preview.voice_id, preview.pk])
        )


@admin.register(Voice)
class VoiceAdmin(OrganizationScopedAdmin):
    form = VoiceChangeForm
    list_display = [
        "name", "organization", "status", "provider", "is_clone", "sample_count", "created_at"
    ]  # fmt: skip
    list_filter = ["status", "provider", "is_clone"]
    search_fields = ["name"]
    fields = [
        "organization", "name", "description", "labels", "sample_sentence", "status",
        "failure_reason", "provider", "provider_voice_id", "is_clone", "provider_note",
        "created_at", "updated_at", "preview_box",
    ]  # fmt: skip
    readonly_fields = [
        "organization", "status", "failure_reason", "provider", "provider_voice_id", "is_clone",
        "provider_note", "created_at", "updated_at", "preview_box",
    ]  # fmt: skip
    inlines = [VoiceSampleInline, VoicePreviewInline]
    actions = ["generate_preview", "retry_failed_clone"]

    class Media:
        js = ["anvil/voice_preview.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Voice]:
        return super().get_queryset(request).annotate(sample_count=Count("samples"))

    @admin.display(description="Preview")
    def preview_box(self, voice: Voice) -> SafeString | str:
        """Type a text, hear it in this voice (voice_preview.js posts it to `preview_view`).
        A text box and a button, not a form: the change form around it must not submit it."""
        if not voice.pk:
            return "Save the voice first."
        if voice.status != VoiceStatus.READY:
            return "Previews are available once the voice is ready."
        return format_html(
            '<div class="voice-preview" data-voice-preview data-url="{}" '
            'data-testid="voice-preview">'
            '<textarea rows="2" cols="60" maxlength="{}" aria-label="Text to preview" '
            'data-testid="voice-preview-text">{}</textarea> '
            '<button type="button" class="button" data-testid="voice-preview-button">'
            "Preview</button> "
            '<span data-role="status" data-testid="voice-preview-status" aria-live="polite">'
            "</span><br>"
            '<audio controls hidden data-testid="voice-preview-audio"></audio></div>',
            reverse("admin:voices_voice_preview", args=[voice.pk]),
            conf.PREVIEW_TEXT_MAX_CHARS,
            voice.sample_sentence or DEFAULT_SAMPLE_SENTENCE,
        )

    @admin.display(description="Samples", ordering="sample_count")
    def sample_count(self, voice: Voice) -> int:
        return int(getattr(voice, "sample_count", 0))

    # --- Upload (the add page) ------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Our own page instead of the model form: the admin wraps its add view in a transaction,
        # and the clone service stores files, so it must own the (durable) transaction itself.
        if not self.has_add_permission(request):
            raise PermissionDenied
        organizations = self._writable_organizations(request)
        form = VoiceCloneForm(
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,
            organizations=organizations,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                voice = services.voice_clone(
                    organization=data["organization"],
                    name=data["name"],
                    uploads=data["samples"],
                    description=data["description"],
                    labels=data["labels"],
                    sample_sentence=data["sample_sentence"],
                )
            except ApplicationError as error:
                for message in (error.details or {}).get("samples", [error.message]):
                    form.add_error("samples", message)
            else:
                self.log_addition(request, voice, [{"added": {}}])
                self._report_clone(request, voice)
                return HttpResponseRedirect(reverse("admin:voices_voice_change", args=[voice.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Clone a voice",
            "form": form,
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "voices/admin/clone_form.html", context)

    def _writable_organizations(self, request: HttpRequest) -> QuerySet[Organization]:
        organizations = organizations_for_user(user=request.user)
        if request.user.is_superuser:
            return organizations
        return organizations.filter(
            memberships__user_id=request.user.pk or 0, memberships__role__in=WRITE_ROLES
        ).distinct()

    def _report_clone(self, request: HttpRequest, voice: Voice) -> None:
        if voice.status == VoiceStatus.FAILED:
            self.message_user(
                request, f"Cloning {voice.name!r} failed: {voice.failure_reason}", messages.ERROR
            )
        elif voice.status == VoiceStatus.READY:
            note = f" ({voice.provider_note})" if voice.provider_note else ""
            self.message_user(request, f"Voice {voice.name!r} is ready{note}.", messages.SUCCESS)
        else:
            self.message_user(
                request, f"Voice {voice.name!r} is being cloned; refresh in a moment."
            )

    # --- Edit and delete ------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Voice, form: ModelForm, change: bool) -> None:
        services.voice_update(
            voice=obj,
            name=obj.name,
            description=obj.description,
            labels=obj.labels,
            sample_sentence=obj.sample_sentence,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if isinstance(obj, Voice) and selectors.voice_in_active_use(voice=obj):
            return False  # a running or paused campaign speaks with it
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Voice) -> None:
        services.voice_delete(voice=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Voice]) -> None:
        for voice in queryset:
            try:
                services.voice_delete(voice=voice)
            except ApplicationError as error:
                self.message_user(request, f"{voice.name}: {error.message}", messages.ERROR)

    # --- Actions --------------------------------------------------------------------------

    @admin.action(description="Generate preview (sample sentence)", permissions=["change"])
    def generate_preview(self, request: HttpRequest, queryset: QuerySet[Voice]) -> None:
        for voice in queryset:
            if not user_can_write(request, voice.organization):
                continue
            try:
                result = speech.voice_preview(voice=voice)
            except ApplicationError as error:
                self.message_user(request, f"{voice.name}: {error.message}", messages.ERROR)
                continue
            state = "generated" if result.created else "already stored"
            self.message_user(request, f"{voice.name}: preview {state}.", messages.SUCCESS)

    @admin.action(description="Retry failed clone", permissions=["change"])
    def retry_failed_clone(self, request: HttpRequest, queryset: QuerySet[Voice]) -> None:
        for voice in queryset:
            if not user_can_write(request, voice.organization):
                continue
            try:
                voice = services.voice_clone_retry(voice=voice)
            except ApplicationError as error:
                self.message_user(request, f"{voice.name}: {error.message}", messages.ERROR)
                continue
            self._report_clone(request, voice)

    # --- Audio ----------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:voice_id>/samples/<int:sample_id>/audio/",
                self.admin_site.admin_view(self.sample_audio_view),
                name="voices_voice_sample_audio",
            ),
            path(
                "<int:voice_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="voices_voice_preview",
            ),
            path(
                "<int:voice_id>/previews/<int:preview_id>/audio/",
                self.admin_site.admin_view(self.preview_audio_view),
                name="voices_voice_preview_audio",
            ),
        ]
        return custom + super().get_urls()

    def _visible_voice(self, request: HttpRequest, voice_id: int) -> Voice:
        voice = get_object_or_404(self.get_queryset(request), pk=voice_id)
        if not self.has_view_permission(request, voice):
            raise PermissionDenied
        return voice

    def sample_audio_view(
        self, request: HttpRequest, voice_id: int, sample_id: int
    ) -> HttpResponseBase:
        voice = self._visible_voice(request, voice_id)
        sample = get_object_or_404(VoiceSample, voice=voice, pk=sample_id)
        return storage.audio_response(name=str(sample.file.name), audio_format=sample.format)

    def preview_audio_view(
        self, request: HttpRequest, voice_id: int, preview_id: int
    ) -> HttpResponseBase:
        voice = self._visible_voice(request, voice_id)
        preview = get_object_or_404(VoicePreview, voice=voice, pk=preview_id)
        return storage.audio_response(name=str(preview.file.name), audio_format="mp3")

    def preview_view(self, request: HttpRequest, voice_id: int) -> JsonResponse:
        """POST `text`: synthesise it with the voice (once per distinct text) and answer with
        the stored preview's audio URL, for the page to play. Writers of the voice's
        organization only: a preview is a stored file."""
        if request.method != "POST":
            return JsonResponse({"error": "Send the text with POST."}, status=405)
        voice = self._visible_voice(request, voice_id)
        if not self.has_change_permission(request, voice):
            raise PermissionDenied
        try:
            result = speech.voice_preview(voice=voice, text=request.POST.get("text", ""))
        except ApplicationError as error:
            messages_ = [
                str(message)
                for items in (error.details or {}).values()
                for message in (items if isinstance(items, list) else [items])
            ]
            status = 503 if error.code == ErrorCode.SERVICE_UNAVAILABLE else 400
            return JsonResponse({"error": " ".join(messages_) or error.message}, status=status)
        preview = result.preview
        return JsonResponse(
            {
                "previewId": preview.pk,
                "url": reverse("admin:voices_voice_preview_audio", args=[voice.pk, preview.pk]),
                "durationSeconds": preview.duration_seconds,
                "text": preview.text,
                "created": result.created,
            }
        )
