"""Wire shapes for campaigns, contact lists, contacts, the do-not-call list and caller IDs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from anvil_voice.api.serializers import (
    BoundedJSONField,
    CamelCaseModelSerializer,
    CamelCaseSerializer,
)
from campaigns import next_dial, selectors
from campaigns.api.costs import BudgetSerializer, BudgetStatusSerializer, campaign_budget
from campaigns.contact_fields import TEXT_LIMITS, VARIABLE_VALUE_MAX
from campaigns.models import (
    CallerId,
    Campaign,
    Contact,
    ContactList,
    DialOrder,
    DoNotCallEntry,
    TransferTargetKind,
    VoicemailBehaviour,
)
from campaigns.services.lifecycle import SETTING_FIELDS
from sessions.models import CallSession

TIME_FORMAT = "%H:%M"
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S"]


# --- Contact lists and contacts ------------------------------------------------------------


class ContactListSerializer(CamelCaseModelSerializer):
    class Meta:
        model = ContactList
        fields = ["id", "name", "contact_count", "variable_names", "created_at"]
        read_only_fields = ["id", "contact_count", "variable_names", "created_at"]


class ContactSerializer(CamelCaseModelSerializer):
    class Meta:
        model = Contact
        fields = [
            "id",
            "phone_number",
            "first_name",
            "last_name",
            "company",
            "email",
            "time_zone",
            "time_zone_source",
            "region",
            "variables",
            "consent_source",
            "consent_at",
            "created_at",
        ]
        read_only_fields = fields


class ContactCreateSerializer(CamelCaseSerializer):
    phone_number = serializers.CharField(max_length=40)
    first_name = serializers.CharField(
        max_length=TEXT_LIMITS["first_name"], required=False, allow_blank=True
    )
    last_name = serializers.CharField(
        max_length=TEXT_LIMITS["last_name"], required=False, allow_blank=True
    )
    company = serializers.CharField(
        max_length=TEXT_LIMITS["company"], required=False, allow_blank=True
    )
    email = serializers.CharField(max_length=TEXT_LIMITS["email"], required=False, allow_blank=True)
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="IANA zone; inferred from the number when omitted.",
    )
    region = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="US state code or name."
    )
    variables = serializers.DictField(
        child=serializers.CharField(max_length=VARIABLE_VALUE_MAX, allow_blank=True),
        required=False,
        default=dict,
    )
    consent_source = serializers.CharField(
        max_length=TEXT_LIMITS["consent_source"], required=False, allow_blank=True
    )
    consent_at = serializers.DateTimeField(required=False, allow_null=True)


class JsonTextField(BoundedJSONField):
    """A JSON value sent as a multipart form field (text) or as JSON."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            self.binary = True
            data = data.encode()
        return super().to_internal_value(data)


class ContactImportSerializer(CamelCaseSerializer):
    file = serializers.FileField(help_text="CSV, UTF-8 (a BOM is fine); , ; TAB or | separated.")
    mapping = JsonTextField(
        required=False,
        help_text='Optional {"phoneNumber": "Mobile", "firstName": "Given name", ...}; unmapped '
        "fields are detected from the header; other columns become variables.",
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Validate and report; write nothing."
    )


class ImportRejectionSerializer(CamelCaseSerializer):
    row = serializers.IntegerField()
    reason = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(CamelCaseSerializer):
    """Documentation of the import report (the service builds the dict)."""

    dry_run = serializers.BooleanField()
    delimiter = serializers.CharField()
    columns = serializers.DictField(child=serializers.CharField())
    variables = serializers.DictField(child=serializers.CharField())
    rows_read = serializers.IntegerField()
    imported = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rejected_by_reason = serializers.DictField(child=serializers.IntegerField())
    rejections = ImportRejectionSerializer(many=True)
    rejections_truncated = serializers.BooleanField()
    preview = serializers.ListField(child=serializers.DictField())


# --- Do-not-call and caller IDs --------------------------------------------------------------


class DoNotCallSerializer(CamelCaseModelSerializer):
    phone_number = serializers.CharField(max_length=40)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)

    class Meta:
        model = DoNotCallEntry
        fields = ["id", "phone_number", "source", "reason", "created_at"]
        read_only_fields = ["id", "source", "created_at"]


class DoNotCallRemovalSerializer(CamelCaseSerializer):
    reason = serializers.CharField(max_length=300)


class CallerIdSerializer(CamelCaseModelSerializer):
    phone_number = serializers.CharField(max_length=40)
    # The metaclass moves declared fields off the class, so this never shadows Field.label.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )

    class Meta:
        model = CallerId
        fields = ["id", "phone_number", "label", "is_default", "carrier_sid", "created_at"]
        read_only_fields = ["id", "carrier_sid", "created_at"]
        extra_kwargs = {
            "is_default": {
                "required": False,
                "help_text": "Campaigns created without a callerId call from the default. "
                "At most one per organization: registering a new default replaces the old one.",
            }
        }


# --- Campaigns ----------------------------------------------------------------------------


class CampaignWriteSerializer(CamelCaseSerializer):
    name = serializers.CharField(max_length=200)
    script_id = serializers.IntegerField()
    voice_id = serializers.IntegerField()
    contact_list_id = serializers.IntegerField()
    caller_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of a registered phone number (/phone-numbers). Optional: omitted, "
        "the organization's default caller ID (isDefault), else its only one; with several "
        "and none the default, 400 VALIDATION_ERROR naming callerId.",
    )
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    days_of_week = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="0 = Monday ... 6 = Sunday."
    )
    window_start = serializers.TimeField(
        required=False, format=TIME_FORMAT, input_formats=TIME_INPUT_FORMATS
    )
    window_end = serializers.TimeField(
        required=False, format=TIME_FORMAT, input_formats=TIME_INPUT_FORMATS
    )
    max_concurrent_calls = serializers.IntegerField(required=False)
    calls_per_second = serializers.DecimalField(max_digits=6, decimal_places=2, required=False)
    max_attempts = serializers.IntegerField(required=False)
    retry_no_answer_minutes = serializers.IntegerField(required=False)
    retry_busy_minutes = serializers.IntegerField(required=False)
    retry_voicemail_minutes = serializers.IntegerField(required=False)
    voicemail_behaviour = serializers.ChoiceField(
        choices=VoicemailBehaviour.choices, required=False
    )
    record_calls = serializers.BooleanField(required=False)
    transfer_number = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="Overrides the script's transfer number (E.164); empty: the script's own.",
    )
    transfer_target_kind = serializers.ChoiceField(
        choices=TransferTargetKind.choices,
        required=False,
        help_text="Who answers transferNumber. person (default): a transfer is refused outside "
        "the calling window at the number. business: a staffed line, rung at any hour.",
    )
    dial_order = serializers.ChoiceField(
        choices=DialOrder.choices,
        required=False,
        help_text="plain (default): oldest due contact first, retries after their delay. "
        "best_time: due contacts whose local hour answers best first, and retries moved (by up "
        "to a day) toward the hours that answer, always inside the calling window; rates from "
        "GET /contact-lists/{id}/answer-rates.",
    )
    budget = BudgetSerializer(
        required=False,
        allow_null=True,
        help_text="A spending limit: near it dialling slows to half pace, at it the campaign "
        "pauses (PUT /campaigns/:id/budget changes it).",
    )


class NextDialLocalSerializer(CamelCaseSerializer):
    """`dialling.nextDialLocal`: `nextDialAt` on the clock of the contact due then."""

    time = serializers.CharField(
        read_only=True,
        help_text="The same moment as nextDialAt, as ISO 8601 with the zone's UTC offset.",
    )
    time_zone = serializers.CharField(
        read_only=True,
        help_text=(
            "The IANA time zone of the contact due next (the campaign's first contact when "
            "none is due yet, e.g. a scheduled start)."
        ),
    )


class CampaignDiallingSerializer(CamelCaseSerializer):
    """`dialling`: whether the campaign places calls now, and if not why (`selectors.Dialling`,
    `next_dial.campaign_dialling_line`)."""

    state = serializers.ChoiceField(choices=selectors.DIALLING_STATES, read_only=True)
    reason = serializers.ChoiceField(
        choices=selectors.DIALLING_REASONS,
        allow_null=True,
        read_only=True,
        help_text=(
            "Why a running, paused or scheduled campaign places no call: capacity (the "
            "deployment's live calls are all in use; due contacts wait queued), pacing (the "
            "campaign's own concurrency or calls-per-second limit), window (outside the "
            "contacts' calling window), nothing_due (no contact due: retries later or all "
            "called), paused, scheduled (a start time ahead), budget (paused by the dialler: "
            "its budget is spent)."
        ),
    )
    next_dial_at = serializers.DateTimeField(
        allow_null=True,
        read_only=True,
        help_text="When it expects to dial next, if known (a window opening, a retry, a start).",
    )
    waiting_for_capacity = serializers.IntegerField(
        read_only=True, help_text="Due contacts left queued for lack of live-call capacity."
    )
    next_dial_local = NextDialLocalSerializer(
        allow_null=True,
        read_only=True,
        help_text="nextDialAt in the local time of the contact due then (null without it).",
    )
    message = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text=(
            "The same, as a sentence for people: why it is not dialling and when it next "
            "dials in the contacts' local time (null for an idle campaign)."
        ),
    )


class CampaignSerializer(CamelCaseModelSerializer):
    script_id = serializers.IntegerField(read_only=True)
    voice_id = serializers.IntegerField(read_only=True)
    contact_list_id = serializers.IntegerField(read_only=True)
    caller_id = serializers.IntegerField(source="caller_id_id", read_only=True)
    caller_id_number = serializers.CharField(source="caller_id.phone_number", read_only=True)
    window_start = serializers.TimeField(format=TIME_FORMAT, read_only=True)
    window_end = serializers.TimeField(format=TIME_FORMAT, read_only=True)
    calls_per_second = serializers.DecimalField(
        max_digits=6, decimal_places=2, coerce_to_string=False, read_only=True
    )
    dialling = serializers.SerializerMethodField()
    stats = serializers.SerializerMethodField()
    budget = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "script_id",
            "voice_id",
            "contact_list_id",
            "caller_id",
            "caller_id_number",
            # The settings a create or update may set, in the same order.
            *SETTING_FIELDS,
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
            "dialling",
            "stats",
            "budget",
        ]
        read_only_fields = fields

    @extend_schema_field(CampaignDiallingSerializer)
    def get_dialling(self, campaign: Campaign) -> dict[str, Any]:
        dialling = selectors.campaign_dialling(campaign)
        line = next_dial.campaign_dialling_line(campaign, dialling=dialling)
        local = line.next_dial if line is not None else None
        payload = {
            "state": dialling.state,
            "reason": dialling.reason,
            "next_dial_at": dialling.next_dial_at,
            "waiting_for_capacity": dialling.waiting_for_capacity,
            "next_dial_local": (
                {"time": local.local.isoformat(), "time_zone": local.time_zone}
                if local is not None
                else None
            ),
            "message": line.text if line is not None else None,
        }
        return dict(CampaignDiallingSerializer(payload).data)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_stats(self, campaign: Campaign) -> dict[str, Any]:
        return selectors.campaign_stats(campaign)

    @extend_schema_field(BudgetStatusSerializer(allow_null=True))
    def get_budget(self, campaign: Campaign) -> dict[str, Any] | None:
        return campaign_budget(campaign)


class CampaignSessionSerializer(CamelCaseModelSerializer):
    """A campaign's call session (the sessions resource has the full transcript)."""

    contact_id = serializers.IntegerField(read_only=True)
    callback_at = serializers.SerializerMethodField()

    class Meta:
        model = CallSession
        fields = [
            "id",
            "kind",
            "contact_id",
            "attempt_number",
            "to_number",
            "from_number",
            "status",
            "answered_by",
            "outcome",
            "queued_at",
            "placed_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "end_reason",
            "callback_at",
            "cost",
            "cost_currency",
            "compliance",
        ]
        read_only_fields = fields

    def get_callback_at(self, session: CallSession) -> str | None:
        value = (session.extracted or {}).get("callback_at")
        return str(value) if value else None
