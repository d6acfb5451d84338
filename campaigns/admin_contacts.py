"""Admin for contact lists (with the CSV import page), the do-not-call list and caller IDs.

Every write goes through `campaigns.services`, as in the API: the import page calls
`contact_list_import`, removing a do-not-call entry calls `dnc_remove` (owners only, with a
reason, audited), and adding a caller ID calls `caller_id_register` (checked with the carrier).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.admin import TabularInline

from anvil_voice.accounts.admin_scoping import OrganizationScopedAdmin
from anvil_voice.accounts.models import Membership, Organization, Role
from anvil_voice.errors import ApplicationError
from campaigns import admin_best_time, phones, services
from campaigns import import_staging as staging
from campaigns.importing import csv_header, parse_mapping
from campaigns.models import CallerId, Contact, ContactList, DoNotCallEntry, DoNotCallRemoval
from campaigns.services.caller_ids import CallerIdRejected


def is_owner(request: HttpRequest, organization: Organization) -> bool:
    if request.user.is_superuser:
        return True
    return Membership.objects.filter(
        user_id=request.user.pk or 0, organization=organization, role=Role.OWNER
    ).exists()


def _messages_of(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [
            f"{field}: {message}"
            for field, items in error.message_dict.items()
            for message in items
        ]
    return list(error.messages)


# --- Contact lists and the import page -------------------------------------------------------


class ContactImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV in UTF-8 (a BOM is fine), separated by , ; TAB or |.",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,text/csv", "data-testid": "import-file"}
        ),
    )


# The mapping step's labels, in the order the page lists them.
MAPPING_LABELS = {
    "phoneNumber": "Phone number",
    "firstName": "First name",
    "lastName": "Last name",
    "company": "Company",
    "email": "Email",
    "timeZone": "Time zone",
    "region": "State / region",
    "consentSource": "Consent source",
    "consentAt": "Consent date",
}
NOT_USED = ""


class ColumnMappingForm(forms.Form):
    """Which column of the file fills each contact field (the file's other columns become
    script variables). Offered with what the importer recognised by itself."""

    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(NOT_USED, "- not used -"), *((name, name) for name in header)]
        for name, label in MAPPING_LABELS.items():
            self.fields[name] = forms.ChoiceField(
                label=label,
                choices=choices,
                required=False,
                widget=forms.Select(attrs={"data-testid": f"import-mapping-{name}"}),
            )

    def mapping(self) -> dict[str, str]:
        """{"phoneNumber": "Mobile", ...} for `parse_mapping`, unused fields left out."""
        chosen = {
            name: self.cleaned_data[name]
            for name in MAPPING_LABELS
            if self.cleaned_data.get(name, NOT_USED) != NOT_USED
        }
        try:
            return parse_mapping(chosen)
        except ValidationError as exc:
            raise forms.ValidationError(_messages_of(exc)) from exc


class ContactInline(TabularInline):
    model = Contact
    fields = ["phone_number", "first_name", "last_name", "company", "time_zone", "region"]
    readonly_fields = ["phone_number", "first_name", "last_name", "company", "time_zone", "region"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "contacts (the 20 newest; import from the list's import page)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        # A list can hold a million contacts: the inline shows only the newest few.
        queryset = super().get_queryset(request)
        newest = list(queryset.order_by("-id").values_list("id", flat=True)[:20])
        return queryset.filter(id__in=newest)


@admin.register(ContactList)
class ContactListAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "contact_count", "created_at", "import_link"]
    search_fields = ["name"]
    fields = [
        "organization",
        "name",
        "contact_count",
        "variable_names",
        "import_link",
        "answer_rates",
    ]
    readonly_fields = ["contact_count", "variable_names", "import_link", "answer_rates"]
    inlines = [ContactInline]

    @admin.display(description="Best time to call")
    def answer_rates(self, contact_list: ContactList) -> SafeString | str:
        if not contact_list.pk:
            return "Save the list first."
        return admin_best_time.answer_rate_charts(contact_list)

    @admin.display(description="Import")
    def import_link(self, contact_list: ContactList) -> SafeString | str:
        if not contact_list.pk:
            return "Save the list first."
        url = reverse("admin:campaigns_contactlist_import", args=[contact_list.pk])
        return format_html('<a href="{}">Import contacts from CSV...</a>', url)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:object_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="campaigns_contactlist_import",
            ),
            *super().get_urls(),
        ]

    def delete_model(self, request: HttpRequest, obj: ContactList) -> None:
        services.contact_list_delete(contact_list=obj)

    def import_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """One upload, then a preview with the column mapping (editable), then confirm. The
        file is kept server-side between the steps (`campaigns.import_staging`)."""
        contact_list = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, contact_list):
            raise PermissionDenied
        step = request.POST.get("step", "") if request.method == "POST" else ""
        upload_form = ContactImportForm(
            request.POST if step == "upload" else None,
            request.FILES if step == "upload" else None,
        )
        change_url = reverse("admin:campaigns_contactlist_change", args=[contact_list.pk])
        token = request.POST.get("token", "")
        if step == "cancel":
            staging.staged_import_discard(contact_list=contact_list, token=token)
            self.message_user(request, "The import was cancelled; nothing was written.")
            return HttpResponseRedirect(change_url)
        mapping_form: ColumnMappingForm | None = None
        report: dict[str, Any] | None = None
        import_errors: list[str] = []
        if step == "upload" and upload_form.is_valid():
            try:
                staged = staging.staged_import_store(
                    contact_list=contact_list, upload=upload_form.cleaned_data["file"]
                )
            except ValidationError as exc:
                for message in _messages_of(exc):
                    upload_form.add_error(None, _plain_import_message(message))
            else:
                token = staged.token
                step = "preview"
        if step in ("preview", "confirm"):
            try:
                header = self._staged_header(contact_list, token)
            except ValidationError as exc:
                staging.staged_import_discard(contact_list=contact_list, token=token)
                import_errors = [_plain_import_message(message) for message in _messages_of(exc)]
            else:
                first_look = request.POST.get("step") == "upload"
                mapping_form = ColumnMappingForm(
                    None if first_look else request.POST,
                    header=header,
                    initial={"token": token},
                )
                outcome = self._run_import(
                    request,
                    contact_list,
                    token,
                    mapping_form,
                    dry_run=step == "preview" or first_look,
                )
                if isinstance(outcome, HttpResponse):
                    return outcome
                report, import_errors = outcome
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import contacts into “{contact_list.name}”",
            "opts": self.model._meta,
            "original": contact_list,
            "form": upload_form,
            "mapping_form": mapping_form,
            "import_errors": import_errors,
            "token": token if mapping_form is not None else "",
            "report": report,
            "preview_columns": [
                "row",
                "phoneNumber",
                "firstName",
                "lastName",
                "company",
                "email",
                "timeZone",
                "region",
            ],
        }
        return TemplateResponse(request, "campaigns/admin/contact_list_import.html", context)

    def _staged_header(self, contact_list: ContactList, token: str) -> list[str]:
        with staging.staged_import_open(contact_list=contact_list, token=token) as staged:
            return csv_header(staged)

    def _run_import(
        self,
        request: HttpRequest,
        contact_list: ContactList,
        token: str,
        mapping_form: ColumnMappingForm,
        *,
        dry_run: bool,
    ) -> tuple[dict[str, Any] | None, list[str]] | HttpResponse:
        """A preview: (the report, or None when it could not run; plain messages). On the
        first look the columns the importer found fill the mapping form. Confirmed: the import
        itself, then a redirect with its summary."""
        first_look = not mapping_form.is_bound
        mapping: dict[str, str] = {}
        if not first_look:
            if not mapping_form.is_valid():
                return None, []
            try:
                mapping = mapping_form.mapping()
            except forms.ValidationError as exc:
                return None, list(exc.messages)
        try:
            with staging.staged_import_open(contact_list=contact_list, token=token) as staged:
                result = services.contact_list_import(
                    contact_list=contact_list,
                    upload=staged,
                    mapping=mapping,
                    dry_run=dry_run,
                    # After the first look the person's mapping is the whole truth.
                    detect=first_look,
                )
        except ValidationError as exc:
            return None, [_plain_import_message(message) for message in _messages_of(exc)]
        report = result.as_dict()
        if first_look:
            mapping_form.initial.update(report["columns"])
        if dry_run:
            return report, []
        staging.staged_import_discard(contact_list=contact_list, token=token)
        self.message_user(
            request,
            f"Imported {result.imported} contact(s); rejected {result.rejected}.",
            messages.SUCCESS if result.imported else messages.WARNING,
        )
        return HttpResponseRedirect(
            reverse("admin:campaigns_contactlist_change", args=[contact_list.pk])
        )


def _plain_import_message(message: str) -> str:
    """The importer's file errors speak of the API's `mapping` parameter; the page has selects."""
    if "No phone number column" in message:
        return "Pick the column that holds the phone number."
    return message.removeprefix("file: ").removeprefix("mapping: ")


@admin.register(Contact)
class ContactAdmin(OrganizationScopedAdmin):
    list_display = ["__str__", "contact_list", "time_zone", "region", "created_at"]
    search_fields = ["phone_number", "first_name", "last_name", "company"]
    list_select_related = ["contact_list"]
    readonly_fields = ["time_zone_source", "created_at"]
    show_full_result_count = False  # no COUNT(*) over a million rows per page

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # contacts arrive through the list's import page or the API


# --- Do-not-call ------------------------------------------------------------------------------


class DoNotCallAddForm(forms.ModelForm):
    class Meta:
        model = DoNotCallEntry
        fields = ["organization", "phone_number", "reason"]

    def clean_phone_number(self) -> str:
        try:
            return phones.normalize_phone_number(self.cleaned_data["phone_number"])
        except phones.InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from exc


class DoNotCallRemoveForm(forms.Form):
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(DoNotCallEntry)
class DoNotCallEntryAdmin(OrganizationScopedAdmin):
    form = DoNotCallAddForm
    list_display = ["phone_number", "organization", "source", "reason", "created_at"]
    list_filter = ["source"]
    search_fields = ["phone_number"]
    actions = ["remove_entries"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        if obj is not None:
            return ["organization", "phone_number", "source", "reason", "session_id_ref"]
        return []

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # removal is the audited action below, never a plain delete

    def save_model(
        self, request: HttpRequest, obj: DoNotCallEntry, form: ModelForm, change: bool
    ) -> None:
        if change:
            return  # entries are immutable
        entry, _created = services.dnc_add(
            organization=obj.organization,
            phone_number=obj.phone_number,
            source=DoNotCallEntry.Source.MANUAL,
            reason=obj.reason,
        )
        obj.pk = entry.pk

    @admin.action(description="Remove from the do-not-call list (owners; reason required)")
    def remove_entries(
        self, request: HttpRequest, queryset: QuerySet[DoNotCallEntry]
    ) -> HttpResponse | None:
        entries = list(queryset.select_related("organization"))
        if not all(is_owner(request, entry.organization) for entry in entries):
            self.message_user(
                request,
                "Only an owner of the organization can remove numbers from the list.",
                messages.ERROR,
            )
            return None
        form = DoNotCallRemoveForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            for entry in entries:
                services.dnc_remove(
                    entry=entry,
                    reason=form.cleaned_data["reason"],
                    role=Role.OWNER,
                    user=request.user if request.user.is_authenticated else None,
                )
            self.message_user(request, f"Removed {len(entries)} number(s).", messages.SUCCESS)
            return HttpResponseRedirect(request.get_full_path())
        context = {
            **self.admin_site.each_context(request),
            "title": "Remove numbers from the do-not-call list",
            "opts": self.model._meta,
            "entries": entries,
            "form": form,
            "action": "remove_entries",
        }
        return TemplateResponse(request, "campaigns/admin/do_not_call_remove.html", context)


@admin.register(DoNotCallRemoval)
class DoNotCallRemovalAdmin(OrganizationScopedAdmin):
    list_display = ["phone_number", "organization", "reason", "removed_by", "removed_at"]
    search_fields = ["phone_number"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # the audit trail is append-only


# --- Caller IDs -------------------------------------------------------------------------------


class CallerIdForm(forms.ModelForm):
    class Meta:
        model = CallerId
        fields = ["organization", "phone_number", "label", "is_default"]

    def clean_phone_number(self) -> str:
        if self.instance.pk:
            return str(self.instance.phone_number)
        try:
            number = phones.normalize_phone_number(self.cleaned_data["phone_number"])
            # Checked with the carrier before anything is saved.
            services.verify_caller_id(number)
        except (phones.InvalidPhoneNumber, CallerIdRejected) as exc:
            raise forms.ValidationError(str(exc)) from exc
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return number


@admin.register(CallerId)
class CallerIdAdmin(OrganizationScopedAdmin):
    form = CallerIdForm
    list_display = [
        "phone_number", "organization", "label", "is_default", "carrier_sid", "created_at"
    ]  # fmt: skip
    search_fields = ["phone_number", "label"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return ["organization", "phone_number", "carrier_sid"] if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: CallerId, form: ModelForm, change: bool
    ) -> None:
        if change:
            obj.save(update_fields=["label", "is_default"])
            return
        registered = services.caller_id_register(
            organization=obj.organization,
            phone_number=obj.phone_number,
            label=obj.label,
            is_default=obj.is_default,
        )
        obj.pk, obj.carrier_sid, obj.created_at = (
            registered.pk,
            registered.carrier_sid,
            registered.created_at,
        )

    def delete_model(self, request: HttpRequest, obj: CallerId) -> None:
        services.caller_id_remove(caller_id=obj)
