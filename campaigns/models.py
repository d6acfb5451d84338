"""Contacts, caller IDs, the do-not-call list, campaigns and the per-contact dialling state."""

from __future__ import annotations

import secrets
from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from anvil_voice.accounts.models import ApiKey, Organization
from anvil_voice.state_machine import StateMachine

# E.164: "+" then up to 15 digits; phonenumbers validates, the column just holds the result.
PHONE_MAX_LENGTH = 16


class TimeZoneSource(models.TextChoices):
    EXPLICIT = "explicit", "Given with the contact"
    # Inferred from the number: the compliance gate re-derives every zone the number may be in
    # and requires the calling window in all of them (the stored zone is the west-most).
    NUMBER = "number", "Inferred from the number"
    DEFAULT = "default", "The configured default (the number gave no zone)"


class ContactList(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contact_lists"
    )
    name = models.CharField(max_length=200)
    # Custom variable names seen on import: scripts may use them as placeholders without a
    # scan over every contact.
    variable_names = models.JSONField(default=list, blank=True)
    # Kept by the contact services (import, add) so lists never COUNT(*) a million rows.
    contact_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="contacts")
    phone_number = models.CharField(max_length=PHONE_MAX_LENGTH)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    # IANA zone; explicit on import or inferred from the number (most restrictive of several).
    time_zone = models.CharField(max_length=64)
    time_zone_source = models.CharField(
        max_length=8, choices=TimeZoneSource.choices, default=TimeZoneSource.EXPLICIT
    )
    # US state / region code ("NY") for state calling rules: explicit or inferred from the number.
    region = models.CharField(max_length=8, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    consent_source = models.CharField(max_length=200, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_list", "phone_number"], name="contact_unique_per_list"
            )
        ]
        indexes = [models.Index(fields=["organization", "phone_number"])]

    def __str__(self) -> str:
        return f"{self.full_name or 'Contact'} ({self.phone_number[:-4]}····)"

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def template_variables(self) -> dict[str, str]:
        """What script placeholders see: custom variables, then the contact's own fields."""
        values = {str(key): str(value) for key, value in (self.variables or {}).items()}
        values.update(
            {
                "first_name": self.first_name,
                "last_name": self.last_name,
                "full_name": self.full_name,
                "company": self.company,
                "email": self.email,
                "phone_number": self.phone_number,
            }
        )
        return values


class DoNotCallEntry(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Added by a person"
        IMPORT = "import", "Imported"
        OPT_OUT = "opt_out", "Callee opted out on a call"
        DTMF = "dtmf", "Callee pressed the opt-out key"
        API = "api", "Added through the API"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="do_not_call_entries"
    )
    phone_number = models.CharField(max_length=PHONE_MAX_LENGTH)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    reason = models.CharField(max_length=300, blank=True)
    session_id_ref = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call list"
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone_number"], name="dnc_unique")
        ]

    def __str__(self) -> str:
        return f"{self.phone_number[:-4]}···· ({self.source})"


class DoNotCallRemoval(models.Model):
    """Audit row: removal from the list is privileged and never silent."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    phone_number = models.CharField(max_length=PHONE_MAX_LENGTH)
    reason = models.CharField(max_length=300)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    removed_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    original_source = models.CharField(max_length=16)
    original_created_at = models.DateTimeField()
    removed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.phone_number[:-4]}···· removed {self.removed_at:%Y-%m-%d}"


class CallerId(models.Model):
    """A number the organization may call from (compliance rule 4)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="caller_ids"
    )
    phone_number = models.CharField(max_length=PHONE_MAX_LENGTH)
    label = models.CharField(max_length=100, blank=True)
    carrier_sid = models.CharField(max_length=64, blank=True)
    # The number a campaign created without a caller ID calls from (at most one per org).
    is_default = models.BooleanField(
        default=False,
        help_text="Campaigns created without a caller ID call from this one.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # A number belongs to one organization: a second tenant registering it could call
            # (and be called back) as the first. Numbers are stored normalised (E.164) by
            # `caller_id_register`, so equal numbers are equal strings.
            models.UniqueConstraint(
                fields=["phone_number"],
                name="caller_id_number_one_organization",
                violation_error_message="This number is already registered.",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="caller_id_one_default",
                violation_error_message="The organization already has a default caller ID.",
            ),
        ]

    def __str__(self) -> str:
        return self.phone_number


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"


# Every status change goes through `campaigns.services.lifecycle.campaign_transition` (row lock,
# conditional update, `CampaignTransition` audit row). Stopped and completed are final.
CAMPAIGN_STATES = StateMachine.of(
    "status",
    {
        CampaignStatus.DRAFT: {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING},
        CampaignStatus.SCHEDULED: {CampaignStatus.RUNNING, CampaignStatus.STOPPED},
        CampaignStatus.RUNNING: {
            CampaignStatus.PAUSED,
            CampaignStatus.STOPPED,
            CampaignStatus.COMPLETED,
        },
        CampaignStatus.PAUSED: {CampaignStatus.RUNNING, CampaignStatus.STOPPED},
        CampaignStatus.STOPPED: set(),
        CampaignStatus.COMPLETED: set(),
    },
)


class VoicemailBehaviour(models.TextChoices):
    HANG_UP = "hang_up", "Hang up"
    LEAVE_MESSAGE = "leave_message", "Leave the script's voicemail message"


def default_days() -> list[int]:
    return [0, 1, 2, 3, 4, 5, 6]  # Monday = 0, as datetime.weekday()


class TransferTargetKind(models.TextChoices):
    """Who answers a campaign's transfer number (`scripts.engine.TransferTargetKind`)."""

    PERSON = "person", "A person (only inside the calling window at the number)"
    BUSINESS = "business", "A business line (a staffed desk or switchboard, any hour)"


class DiallingReason(models.TextChoices):
    """Why the dispatcher's last tick of a running campaign placed no call (blank: it did)."""

    CAPACITY = "capacity", "The deployment is at its live-call capacity"
    PACING = "pacing", "The campaign's own concurrency or calls-per-second limit"
    WINDOW = "window", "Outside the contacts' calling window"
    NOTHING_DUE = "nothing_due", "No contact is due"


class DialOrder(models.TextChoices):
    """Which due contact the dialler calls first, and when a retry is planned
    (`campaigns.best_time`)."""

    PLAIN = "plain", "Oldest due first, retries after their delay"
    BEST_TIME = "best_time", "Best time to call: the hours this list answers"


class BudgetState(models.TextChoices):
    """Where a campaign with a budget stands (`campaigns.costs`; blank: under the slow-down
    share, or no budget)."""

    SLOW = "slow", "Near its budget: dialling at half pace"
    SPENT = "spent", "Budget spent: paused"


class Campaign(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="campaigns"
    )
    name = models.CharField(max_length=200)
    # PROTECT: a script, voice or list in use cannot disappear under a campaign.
    script = models.ForeignKey("scripts.Script", on_delete=models.PROTECT, related_name="campaigns")
    voice = models.ForeignKey("voices.Voice", on_delete=models.PROTECT, related_name="campaigns")
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.PROTECT, related_name="campaigns"
    )
    caller_id = models.ForeignKey(CallerId, on_delete=models.PROTECT, related_name="campaigns")
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    # Schedule: narrows (never widens) the legal calling window in the contact's local time.
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    days_of_week = models.JSONField(default=default_days)
    window_start = models.TimeField(default=time(8, 0))
    window_end = models.TimeField(default=time(21, 0))
    # Pacing.
    max_concurrent_calls = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    calls_per_second = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
    )
    # Attempts.
    max_attempts = models.PositiveIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    retry_no_answer_minutes = models.PositiveIntegerField(default=60)
    retry_busy_minutes = models.PositiveIntegerField(default=15)
    retry_voicemail_minutes = models.PositiveIntegerField(default=240)
    voicemail_behaviour = models.CharField(
        max_length=16, choices=VoicemailBehaviour.choices, default=VoicemailBehaviour.HANG_UP
    )
    record_calls = models.BooleanField(default=False)
    # Due contacts first by the list's learned answer rate at their local hour, retries moved
    # toward the hours that answer, inside the window (`campaigns.best_time`).
    dial_order = models.CharField(max_length=16, choices=DialOrder.choices, default=DialOrder.PLAIN)
    # Overrides the number the script transfers callers to (`Script.transfer`); empty: the
    # script's own. E.164, not on the do-not-call list (`campaign_transfer_errors`).
    transfer_number = models.CharField(max_length=16, blank=True)
    # Who answers `transfer_number`: a person's number is refused outside its calling window,
    # a business line (a staffed desk, a switchboard) is not (`sessions.transfers`).
    transfer_target_kind = models.CharField(
        max_length=16, choices=TransferTargetKind.choices, default=TransferTargetKind.PERSON
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Materialisation of CampaignContact rows, in batches by contact id: the list's contacts up
    # to `materialize_until_id` (its newest contact when the campaign started) take part;
    # `materialized_through_id` is how far the batches got (advanced with a conditional update).
    materialize_until_id = models.BigIntegerField(null=True, blank=True, editable=False)
    materialized_through_id = models.BigIntegerField(default=0, editable=False)
    # The dispatcher's last word on a running campaign (`dialling.dispatch`, written only when
    # it changes): why its last tick placed no call, how many due contacts wait for capacity,
    # when it expects to dial next (known for a window or a retry time), and when it last
    # placed a call (ticks serve the campaign that waited longest first).
    dialling_reason = models.CharField(
        max_length=16, choices=DiallingReason.choices, blank=True, editable=False
    )
    dialling_waiting = models.PositiveIntegerField(default=0, editable=False)
    next_dial_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_dialled_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A spending limit (`campaigns.costs`): near it the dialler halves the pace, at it the
    # campaign pauses. The currency is the price table's (`COST_CURRENCY`). `budget_state` is
    # the dialler's last word on it, written when it changes.
    budget_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    budget_currency = models.CharField(max_length=3, blank=True)
    budget_state = models.CharField(
        max_length=8, choices=BudgetState.choices, blank=True, default="", editable=False
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"], name="campaign_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__lt=models.F("window_end")),
                name="campaign_window_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignTransition(models.Model):
    """Audit row for every status change: who, when, from, to."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    to_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_system = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class CampaignContactState(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its next attempt (next_attempt_at)
    IN_PROGRESS = "in_progress", "In progress"  # claimed: a session exists for the attempt
    COMPLETED = "completed", "Completed"  # a conversation happened; no more attempts
    FAILED = "failed", "Failed"  # invalid number or permanent carrier failure
    DO_NOT_CALL = "do_not_call", "Do not call"
    EXHAUSTED = "exhausted", "Attempts exhausted"


# Rows are created pending (or do_not_call when the number is listed) by materialisation. The
# dispatcher claims pending → in_progress, or the gate moves a pending contact to do_not_call,
# exhausted or failed (`campaigns.dialling.dispatch`); a finished call moves in_progress to
# its verdict (`campaigns.dialling.outcomes`). A reschedule (new next_attempt_at) keeps the
# contact pending and is not a transition. The four finished states are final.
CAMPAIGN_CONTACT_STATES = StateMachine.of(
    "state",
    {
        CampaignContactState.PENDING: {
            CampaignContactState.IN_PROGRESS,
            CampaignContactState.DO_NOT_CALL,
            CampaignContactState.EXHAUSTED,
            CampaignContactState.FAILED,
        },
        CampaignContactState.IN_PROGRESS: {
            CampaignContactState.PENDING,
            CampaignContactState.COMPLETED,
            CampaignContactState.FAILED,
            CampaignContactState.DO_NOT_CALL,
            CampaignContactState.EXHAUSTED,
        },
        CampaignContactState.COMPLETED: set(),
        CampaignContactState.FAILED: set(),
        CampaignContactState.DO_NOT_CALL: set(),
        CampaignContactState.EXHAUSTED: set(),
    },
)

FINISHED_CONTACT_STATES = frozenset(
    {
        CampaignContactState.COMPLETED,
        CampaignContactState.FAILED,
        CampaignContactState.DO_NOT_CALL,
        CampaignContactState.EXHAUSTED,
    }
)


class CampaignContact(models.Model):
    """One contact's progress through one campaign: the dialler's unit of work."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="targets")
    state = models.CharField(
        max_length=16, choices=CampaignContactState.choices, default=CampaignContactState.PENDING
    )
    # Claims so far; the claim's CallSession carries it as attempt_number (unique per target).
    attempts = models.PositiveIntegerField(default=0)
    # Claims that never reached the carrier (cancelled before dialling by the pre-dial gate, a
    # pause or a stop): they keep their attempt number but do not count against max_attempts.
    skipped_attempts = models.PositiveIntegerField(default=0)
    # Never null: the dispatcher's range scan `next_attempt_at <= now` walks the due index in
    # order and stops at its LIMIT, which an `OR next_attempt_at IS NULL` would defeat.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_outcome = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_contact_unique")
        ]
        indexes = [
            # The dispatcher's query: due pending contacts of one campaign, oldest due first.
            models.Index(
                fields=["campaign", "state", "next_attempt_at"], name="campaign_contact_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.campaign_id} ({self.state})"

    @property
    def counted_attempts(self) -> int:
        return self.attempts - self.skipped_attempts


class CampaignStats(models.Model):
    """Counters behind `GET /campaigns/:id`, updated with F() expressions in the same transaction
    as the change they count (materialisation, claim, outcome), so reading stats is one row
    at any campaign size. `campaign_stats_rebuild` recomputes them from the rows."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="stats")
    contacts_total = models.PositiveIntegerField(default=0)
    contacts_materialized = models.PositiveIntegerField(default=0)
    pending = models.IntegerField(default=0)
    in_progress = models.IntegerField(default=0)
    completed = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    do_not_call = models.IntegerField(default=0)
    exhausted = models.IntegerField(default=0)
    # Calls: sessions created by claims, those that never reached the carrier, and results.
    sessions_created = models.IntegerField(default=0)
    sessions_skipped = models.IntegerField(default=0)
    calls_finished = models.IntegerField(default=0)
    calls_answered = models.IntegerField(default=0)
    answered_human = models.IntegerField(default=0)
    answered_machine = models.IntegerField(default=0)
    calls_busy = models.IntegerField(default=0)
    calls_no_answer = models.IntegerField(default=0)
    calls_failed = models.IntegerField(default=0)
    talk_seconds = models.BigIntegerField(default=0)
    cost_total = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    cost_calls = models.IntegerField(default=0)
    cost_currency = models.CharField(max_length=3, blank=True)
    # One column per Outcome value (F() cannot update a JSON key).
    outcome_interested = models.IntegerField(default=0)
    outcome_not_interested = models.IntegerField(default=0)
    outcome_callback_requested = models.IntegerField(default=0)
    outcome_do_not_call = models.IntegerField(default=0)
    outcome_no_conversation = models.IntegerField(default=0)
    outcome_voicemail = models.IntegerField(default=0)
    outcome_no_answer = models.IntegerField(default=0)
    outcome_busy = models.IntegerField(default=0)
    outcome_failed = models.IntegerField(default=0)
    outcome_completed = models.IntegerField(default=0)
    outcome_ivr_unresolved = models.IntegerField(default=0)
    outcome_transferred = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "campaign stats"

    def __str__(self) -> str:
        return f"Stats of campaign {self.campaign_id}"


class PacingBucket(models.Model):
    """A token bucket in the database: calls-per-second budgets shared by every dispatcher
    process (a lock on the row serialises takers; nothing lives in process memory)."""

    key = models.CharField(max_length=64, unique=True)
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.2f}"


# --- Script experiments (issue 19 part 1; the rules live in `campaigns.experiments`) ---------


def new_experiment_seed() -> int:
    return secrets.randbits(31)


class ExperimentStatus(models.TextChoices):
    RUNNING = "running", "Running: the bandit splits traffic between the arms"
    WINNER_DECLARED = "winner_declared", "Winner declared: waiting to be promoted"
    PROMOTED = "promoted", "Promoted: all traffic goes to the winner"


# Changed only by `campaigns.experiments` under the campaign's row lock, with an
# `ExperimentEvent` for each move. A declared winner stays declared (later calls refine its
# figures but do not take the title back); promoting it is a person's decision.
EXPERIMENT_STATES = StateMachine.of(
    "status",
    {
        ExperimentStatus.RUNNING: {ExperimentStatus.WINNER_DECLARED},
        ExperimentStatus.WINNER_DECLARED: {ExperimentStatus.PROMOTED},
        ExperimentStatus.PROMOTED: set(),
    },
)


class Experiment(models.Model):
    """A campaign's script experiment: two to four arms, split by Thompson sampling on one
    success outcome, with guardrails. Its results are computed from the sessions alone
    (`campaigns.experiments.experiment_results`); the arm rows only name what an arm dials."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="experiment")
    # An `Outcome` value: a conversation "succeeds" when its session ends with it.
    success_outcome = models.CharField(max_length=32)
    # Share of calls (after the burn-in) given to a uniformly drawn arm whatever the bandit says.
    exploration_share = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)]
    )
    # Conversations per arm before the bandit, the guardrails or a winner may act on it.
    min_conversations = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(10_000)]
    )
    winner_threshold = models.FloatField(
        default=0.95, validators=[MinValueValidator(0.5), MaxValueValidator(0.999)]
    )
    # Conversations the leading arm needs before it may be declared the winner: P(best)
    # watched at every recount crosses a threshold by chance far more often than once
    # (docs/benchmarks.md, "Script experiments": 100 keeps wrong winners of close arms rare).
    winner_min_conversations = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(5), MaxValueValidator(100_000)]
    )
    # Absolute margins (0.05 = 5 points) by which an arm's rate must exceed the others'.
    opt_out_margin = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    early_hang_up_margin = models.FloatField(
        default=0.10, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    # Seeds the arm draws (with the number of calls assigned so far) and the Monte Carlo
    # estimate of P(best): the same sessions give the same figures and the same next draws.
    seed = models.BigIntegerField(default=new_experiment_seed)
    status = models.CharField(
        max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.RUNNING
    )
    winner = models.ForeignKey(
        "ExperimentArm", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    declared_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    # When the dialler last recounted the arms from the sessions (`experiment_refresh`).
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Experiment of campaign {self.campaign_id}"


class ExperimentArmStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped by a guardrail"


class ExperimentArm(models.Model):
    """One arm: a script version and a voice. Sessions record their arm
    (`CallSession.experiment_arm`) as well as the version and voice they used."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=40)
    script_version = models.ForeignKey(
        "scripts.ScriptVersion", on_delete=models.PROTECT, related_name="+"
    )
    voice = models.ForeignKey("voices.Voice", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=ExperimentArmStatus.choices, default=ExperimentArmStatus.ACTIVE
    )
    stopped_reason = models.CharField(max_length=300, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # The dialler's working copy between recounts: calls assigned (bumped by each claim) and
    # the posterior's counts as of `Experiment.refreshed_at`. Never read by the results.
    assigned = models.PositiveIntegerField(default=0, editable=False)
    conversations = models.PositiveIntegerField(default=0, editable=False)
    successes = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "position"], name="experiment_arm_position_unique"
            ),
            models.UniqueConstraint(
                fields=["experiment", "label"], name="experiment_arm_label_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class ExperimentEvent(models.Model):
    """Audit row: the experiment created, an arm stopped, a winner declared or promoted."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        ARM_STOPPED = "arm_stopped", "Arm stopped by a guardrail"
        WINNER_DECLARED = "winner_declared", "Winner declared"
        PROMOTED = "promoted", "Winner promoted"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    arm = models.ForeignKey(
        ExperimentArm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_system = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


# Registered with this app; the rehearsal's own module keeps its code apart (issue 19).
from campaigns.rehearsal.models import Rehearsal  # noqa: E402, F401
