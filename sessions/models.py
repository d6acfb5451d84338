"""Call sessions: one per placed call, with its status history, transcript and outcome."""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from anvil_voice.accounts.models import Organization
from anvil_voice.state_machine import StateMachine

# Twilio opens the media stream seconds after answering; a ring can last a minute or two, so the
# token outlives the longest call we place (time_limit) with room to spare.
SESSION_TOKEN_TTL = timedelta(hours=6)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_expiry() -> object:
    return timezone.now() + SESSION_TOKEN_TTL


class CallStatus(models.TextChoices):
    """Twilio's call statuses (ours use underscores); ordered by how far a call got."""

    QUEUED = "queued", "Queued"
    INITIATED = "initiated", "Initiated"
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    BUSY = "busy", "Busy"
    NO_ANSWER = "no_answer", "No answer"
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"


TERMINAL_CALL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
        CallStatus.FAILED,
    }
)
# Statuses of a call that holds a line or is about to (queued for placement, dialling, ringing,
# talking): what the deployment's live-call capacity counts (`live_call_count`).
LIVE_CALL_STATUSES = (
    CallStatus.QUEUED,
    CallStatus.INITIATED,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
)
# A call never moves backwards: a status applies only if its rank is above the current one.
CALL_STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: 4,
    CallStatus.BUSY: 4,
    CallStatus.NO_ANSWER: 4,
    CallStatus.CANCELED: 4,
    CallStatus.FAILED: 4,
}


# Every move a call's status may make (`anvil_voice.state_machine.transition` applies them):
# forward along the call, never out of a terminal status. A status may repeat while the call
# is live (a later sequence number of the same status). One move goes back: initiated →
# queued gives back a placement claim that never reached the carrier (`sessions.carrier.placement`).
CALL_STATUSES = StateMachine.of(
    "status",
    {
        **{
            status: [
                later
                for later in CallStatus
                if CALL_STATUS_RANK[later] >= CALL_STATUS_RANK[status]
                and (later != status or status not in TERMINAL_CALL_STATUSES)
            ]
            for status in CallStatus
            if status not in TERMINAL_CALL_STATUSES
        },
        CallStatus.INITIATED: [
            CallStatus.QUEUED,
            *[
                s
                for s in CallStatus
                if CALL_STATUS_RANK[s] >= CALL_STATUS_RANK[CallStatus.INITIATED]
            ],
        ],
    },
)


class ConversationState(models.TextChoices):
    """Whether the live pipeline runs on the call: it holds `session_finished` back while open
    (`sessions.live.conversation`), so the agent's outcome, not the carrier's, reaches campaigns."""

    NONE = "none", "No conversation"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


# Audit rows: the `conversation_started` / `conversation_ended` call events.
CONVERSATION_STATES = StateMachine.of(
    "conversation_state",
    {
        ConversationState.NONE: [ConversationState.OPEN],
        ConversationState.OPEN: [ConversationState.CLOSED],
    },
)


# The one way back from closed: a caller a warm transfer could not place returns to the agent
# on a new stream (`sessions.transfers.session_transfer_resume`, which claims the transfer's
# `resumed_at` first, so it happens at most once per transfer).
CONVERSATION_RESUME = StateMachine.of(
    "conversation_state", {ConversationState.CLOSED: [ConversationState.OPEN]}
)


class AnsweredBy(models.TextChoices):
    UNKNOWN = "", "Unknown"
    HUMAN = "human", "Human"
    MACHINE = "machine", "Machine"
    # A phone menu (IVR) answered: the agent heard menu options (and pressed keys); whether a
    # person was reached after it is the outcome (`ivr_unresolved` when not).
    IVR = "ivr", "Phone menu"
    FAX = "fax", "Fax"


class Outcome(models.TextChoices):
    INTERESTED = "interested", "Interested"
    NOT_INTERESTED = "not_interested", "Not interested"
    CALLBACK_REQUESTED = "callback_requested", "Callback requested"
    DO_NOT_CALL = "do_not_call", "Do not call"
    NO_CONVERSATION = "no_conversation", "No conversation"
    VOICEMAIL = "voicemail", "Voicemail"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    FAILED = "failed", "Failed"
    COMPLETED = "completed", "Completed"
    # A phone menu answered and the agent never reached a person (the script's IVR target).
    IVR_UNRESOLVED = "ivr_unresolved", "Phone menu unresolved"
    # The agent handed the caller to a person (`Transfer`); a transfer nobody took becomes
    # callback_requested (`sessions.transfers`).
    TRANSFERRED = "transferred", "Transferred"


class SessionKind(models.TextChoices):
    CAMPAIGN = "campaign", "Campaign call"
    CALLBACK = "callback", "Scheduled callback"
    TEST = "test", "Test call"


class RealSessionManager(models.Manager["CallSession"]):
    """Calls to real people only: a campaign rehearsal's simulated calls (`rehearsal` set) are
    left out here, the default manager, so every list, statistic, dashboard and export built on
    `CallSession.objects` excludes them by construction. The rehearsal reads its own through
    `CallSession.rehearsal_objects`."""

    def get_queryset(self) -> models.QuerySet[CallSession]:
        return super().get_queryset().filter(rehearsal__isnull=True)


class RehearsalSessionManager(models.Manager["CallSession"]):
    def get_queryset(self) -> models.QuerySet[CallSession]:
        return super().get_queryset().filter(rehearsal__isnull=False)


class CallSession(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="call_sessions"
    )
    kind = models.CharField(
        max_length=16, choices=SessionKind.choices, default=SessionKind.CAMPAIGN
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    target = models.ForeignKey(
        "campaigns.CampaignContact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    contact = models.ForeignKey(
        "campaigns.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    # Which attempt of the target this call is; with `target` it is unique, so a redelivered
    # task or a second dispatcher can never create a second call for the same attempt.
    attempt_number = models.PositiveIntegerField(default=1)
    script_version = models.ForeignKey(
        "scripts.ScriptVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    voice = models.ForeignKey(
        "voices.Voice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_number = models.CharField(max_length=16)
    from_number = models.CharField(max_length=16)
    variables = models.JSONField(default=dict, blank=True)

    # Carrier.
    token = models.CharField(max_length=64, unique=True, default=new_session_token, editable=False)
    token_expires_at = models.DateTimeField(default=token_expiry)
    carrier = models.CharField(max_length=32, default="twilio")
    carrier_call_sid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.QUEUED)
    last_sequence_number = models.IntegerField(default=-1)
    answered_by = models.CharField(
        max_length=16, choices=AnsweredBy.choices, default=AnsweredBy.UNKNOWN, blank=True
    )
    stream_sid = models.CharField(max_length=64, blank=True)
    # A database default too: bulk loads (COPY) that do not name the column get "none".
    conversation_state = models.CharField(
        max_length=8,
        choices=ConversationState.choices,
        default=ConversationState.NONE,
        db_default=ConversationState.NONE,
    )

    # Timeline.
    queued_at = models.DateTimeField(default=timezone.now)
    placed_at = models.DateTimeField(null=True, blank=True)
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    # Result.
    end_reason = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    summary = models.TextField(blank=True)
    extracted = models.JSONField(default=dict, blank=True)
    compliance = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    recording = models.FileField(upload_to="recordings/%Y/%m/", blank=True)
    recording_sid = models.CharField(max_length=64, blank=True)
    recording_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When the carrier began recording: the answer for from-answer recordings, the moment
    # after the disclosure was heard for consent-gated ones (`sessions.carrier.recording`).
    # Offsets into the stored recording (e.g. redaction spans) count from here.
    recording_started_at = models.DateTimeField(null=True, blank=True)
    # A test call records like a campaign call unless its request said not to (issue 17);
    # campaign calls follow their campaign's `record_calls` and ignore this.
    test_call_recorded = models.BooleanField(default=False, db_default=False)
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(max_length=3, blank=True)
    # Set only on a campaign rehearsal's simulated calls (`campaigns.rehearsal`): never dialled,
    # hidden from `objects` (above). A rehearsal session is never a real call.
    rehearsal = models.ForeignKey(
        "campaigns.Rehearsal",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sessions",
        editable=False,
    )
    # When the app above (campaigns) applied the finished call to its contact and counters;
    # its sweeper claims rows where this is still null (`campaigns.dialling.outcomes`).
    outcome_applied_at = models.DateTimeField(null=True, blank=True)
    # The script experiment's arm the dialler chose for this call (its script version and voice
    # are the two columns above): experiment results are computed from these rows alone.
    experiment_arm = models.ForeignKey(
        "campaigns.ExperimentArm",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # The first manager is the default one: real calls only (`RealSessionManager`).
    objects = RealSessionManager()
    rehearsal_objects = RehearsalSessionManager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "attempt_number"],
                condition=models.Q(target__isnull=False),
                name="session_unique_attempt",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-id"], name="session_org_recent_idx"),
            # Organization last: the scoped `?campaign=&status=` count reads the index alone
            # (without it PostgreSQL visited ~150 000 heap rows per count at 1M sessions).
            models.Index(
                fields=["campaign", "status", "organization"], name="session_campaign_status_idx"
            ),
            models.Index(fields=["organization", "outcome"], name="session_org_outcome_idx"),
            # The list's filters and orderings at a million sessions (benchmarks.sessions_list):
            # exact `meta.total` counts for "started between" and "minimum duration" read these
            # instead of the table, and `ordering=-duration` walks the null-free duration key.
            # The list's default ordering ("startedAt": queued_at, then id) walks the first one,
            # so a page of any "started between" range, however old, starts with a seek.
            models.Index(
                fields=["organization", "queued_at", "id"], name="session_org_started_id_idx"
            ),
            models.Index(
                fields=["organization", "duration_seconds"], name="session_org_duration_idx"
            ),
            models.Index(
                F("organization"),
                Coalesce(F("duration_seconds"), Value(0)).desc(),
                F("id").desc(),
                name="session_org_duration_key_idx",
            ),
            # Read by `sessions.selectors.live_call_count` on every dialler claim: the few
            # live calls among millions of finished ones.
            models.Index(
                fields=["status"],
                condition=models.Q(status__in=LIVE_CALL_STATUSES),
                name="session_live_status_idx",
            ),
            # Read by `session_close_abandoned_conversations`: the few calls talking right now.
            models.Index(
                fields=["ended_at"],
                condition=models.Q(conversation_state="open"),
                name="session_conversation_open_idx",
            ),
            # Read by `campaigns.dialling.outcomes.apply_missed_outcomes`: finished campaign
            # attempts (campaign calls, and callbacks placed as an attempt: those with a target)
            # whose outcome no one applied yet (normally none older than a second).
            models.Index(
                fields=["ended_at"],
                condition=models.Q(
                    target__isnull=False, outcome_applied_at__isnull=True, ended_at__isnull=False
                ),
                name="session_outcome_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_CALL_STATUSES


class Speaker(models.TextChoices):
    AGENT = "agent", "Agent"
    CONTACT = "contact", "Contact"


class TranscriptTurn(models.Model):
    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    speaker = models.CharField(max_length=16, choices=Speaker.choices)
    text = models.TextField()
    start_ms = models.PositiveIntegerField(default=0)
    end_ms = models.PositiveIntegerField(default=0)
    interrupted = models.BooleanField(default=False)
    # Per-turn timings (end of speech → STT final → first token → first audio → first frame).
    latency = models.JSONField(default=dict, blank=True)
    # False: the caller spoke and recognition failed or did not answer in time (`text` empty).
    # A database default too: bulk loads (COPY) that do not name the column mean heard turns.
    recognized = models.BooleanField(default=True, db_default=True)
    # Keys instead of words: the contact pressed them (text "[pressed 1]") or the agent did.
    # A database default like `recognized`: bulk loads that do not name the column mean speech.
    keypad = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        # `index` is the order turns were finished in (and the row's key within the session);
        # speakers overlap, so a transcript reads by when each turn began.
        ordering = ["session", "start_ms", "index"]
        constraints = [
            models.UniqueConstraint(fields=["session", "index"], name="turn_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.speaker}: {self.text[:40]}"


class CallEventKind(StrEnum):
    """`CallEvent.kind` values written by the carrier side and the live call (the pipeline's own
    events keep their `PipelineEventKind` names)."""

    PLACEMENT_CLAIMED = "placement_claimed"
    PLACEMENT_RELEASED = "placement_released"
    PLACEMENT_UNKNOWN = "placement_unknown"
    PLACEMENT_UNCONFIRMED = "placement_unconfirmed"
    CALL_CREATED = "call_created"
    CALL_CONFLICT = "call_conflict"
    CARRIER_STATUS = "carrier_status"
    CARRIER_AMD = "carrier_amd"
    CARRIER_RECORDING = "carrier_recording"
    RECORDING_STORED = "recording_stored"
    # The organization redacts personal data and the file could not be muted: not kept.
    RECORDING_DISCARDED = "recording_discarded"
    # Recording consent (`sessions.carrier.recording`): the disclosure's last mark came back
    # and the carrier was asked to record; or why it was not.
    RECORDING_STARTED = "recording_started"
    RECORDING_NOT_STARTED = "recording_not_started"
    HANG_UP_REQUESTED = "hang_up_requested"
    # A machine answered, the campaign leaves the script's message, the script has none.
    VOICEMAIL_NOT_LEFT = "voicemail_not_left"
    STREAM_STARTED = "stream_started"
    STREAM_STOPPED = "stream_stopped"
    STREAM_DISCONNECTED = "stream_disconnected"
    # The live pipeline ran on the stream (sessions.live.conversation); `finished` waits for ENDED.
    CONVERSATION_STARTED = "conversation_started"
    CONVERSATION_ENDED = "conversation_ended"
    FINISHED = "finished"
    # A transfer to a person (`sessions.transfers`): asked of the carrier, and how its leg ended.
    TRANSFER_REQUESTED = "transfer_requested"
    TRANSFER_ENDED = "transfer_ended"
    # A person cancelled the session's pending callback (the audit row of `callback_cancel`).
    CALLBACK_CANCELLED = "callback_cancelled"


class CallEvent(models.Model):
    """Append-only log of what happened to a call: carrier callbacks, engine events, errors."""

    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=48)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["session", "kind"], name="call_event_kind_idx")]

    def __str__(self) -> str:
        return self.kind


class CallbackStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its time
    PLACED = "placed", "Placed"  # the dialler created its call session
    CANCELLED = "cancelled", "Cancelled"  # cancelled by a person before it was placed
    SKIPPED = "skipped", "Skipped"  # due, but compliance forbade the call (see skip_reason)


class CallbackRequestedBy(models.TextChoices):
    PERSON = "person", "A person"  # the API or the admin (`created_by` / `created_by_key`)
    CALLEE = "callee", "The callee"  # asked for it on the call (`source_session`)


# The scheduled callback's status machine: the dialler places or skips a due pending callback
# (`campaigns.dialling.dispatch.claim_due_callbacks`), a person cancels one
# (`campaigns.dialling.callbacks.callback_cancel`); a placed, cancelled or skipped callback is
# final (asking again schedules a new row).
CALLBACK_STATES = StateMachine.of(
    "status",
    {
        CallbackStatus.PENDING: {
            CallbackStatus.PLACED,
            CallbackStatus.SKIPPED,
            CallbackStatus.CANCELLED,
        },
        CallbackStatus.PLACED: set(),
        CallbackStatus.CANCELLED: set(),
        CallbackStatus.SKIPPED: set(),
    },
)


class ScheduledCallback(models.Model):
    """A call back to a session's contact at a chosen time, in the session's campaign.

    The dialler places it when due whatever the campaign's status (a completed campaign's
    callbacks still happen), re-checking do-not-call and the calling window first. At most one
    pending callback per contact and campaign (a partial unique constraint); `placed_session`
    is unique, and the pending → placed move happens in the transaction that creates the
    session, so a callback is placed at most once.

    Whoever asked for it (`requested_by`): a person through the API or the admin, or the callee
    on a campaign call (the outcome handler schedules it). While it is pending the contact's
    campaign attempts wait for it; when it is placed and the contact is still pending in the
    campaign, the callback call is the contact's next attempt (`target` on the session).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="scheduled_callbacks"
    )
    source_session = models.ForeignKey(
        CallSession, on_delete=models.CASCADE, related_name="scheduled_callbacks"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="scheduled_callbacks"
    )
    contact = models.ForeignKey(
        "campaigns.Contact", on_delete=models.CASCADE, related_name="scheduled_callbacks"
    )
    target = models.ForeignKey(
        "campaigns.CampaignContact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scheduled_callbacks",
    )
    # When to call (inside the calling window), and what was asked when `adjust` moved it.
    at = models.DateTimeField()
    requested_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(
        max_length=8, choices=CallbackRequestedBy.choices, default=CallbackRequestedBy.PERSON
    )
    status = models.CharField(
        max_length=16, choices=CallbackStatus.choices, default=CallbackStatus.PENDING
    )
    skip_reason = models.CharField(max_length=64, blank=True)
    placed_session = models.OneToOneField(
        CallSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callback_origin",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=models.Q(status="pending"),
                name="callback_one_pending_per_contact",
            )
        ]
        indexes = [
            # The dispatcher's query: pending callbacks due now, oldest first.
            models.Index(fields=["status", "at"], name="callback_due_idx"),
            # A session list page's newest callback per row (`sessions.api.views`): one seek
            # each, whatever the planner guesses of how many callbacks a session has (on the
            # foreign key's index alone it could walk the primary key backwards instead).
            models.Index(fields=["source_session", "-id"], name="callback_source_newest_idx"),
        ]

    def __str__(self) -> str:
        return f"Callback {self.pk} at {self.at:%Y-%m-%d %H:%M} ({self.status})"


class TransferMode(models.TextChoices):
    # `scripts.engine.TransferMode`'s values: the engine is pure Python and cannot use these.
    COLD = "cold", "Cold"
    WARM = "warm", "Warm"


class TransferState(models.TextChoices):
    REQUESTED = "requested", "Requested"  # the agent decided; the carrier not asked yet
    DIALLING = "dialling", "Dialling"  # the carrier rings the person
    ANSWERED = "answered", "Answered"  # the person picked up (known live for warm transfers)
    COMPLETED = "completed", "Completed"  # they talked and the leg ended
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    FAILED = "failed", "Failed"  # refused target, carrier error, or the leg failed


TRANSFER_FINAL_STATES = frozenset(
    {TransferState.COMPLETED, TransferState.NO_ANSWER, TransferState.BUSY, TransferState.FAILED}
)
# A transfer that did not reach a person: the caller is told and a callback is offered.
TRANSFER_UNANSWERED_STATES = frozenset(
    {TransferState.NO_ANSWER, TransferState.BUSY, TransferState.FAILED}
)

# A cold transfer learns the leg's end (answered and talked, or not) from one callback, so
# dialling may go straight to a final state; `answered` is for legs reported as they go.
TRANSFER_STATES = StateMachine.of(
    "state",
    {
        TransferState.REQUESTED: {TransferState.DIALLING, TransferState.FAILED},
        TransferState.DIALLING: {TransferState.ANSWERED, *TRANSFER_FINAL_STATES},
        TransferState.ANSWERED: {TransferState.COMPLETED, TransferState.FAILED},
        **{state: set() for state in TRANSFER_FINAL_STATES},
    },
)


class Transfer(models.Model):
    """The agent handing a call's caller to a person (issue 16): where, why, and how it went.

    One row per transfer attempt; its `state` moves only through `TRANSFER_STATES`
    (`sessions.transfers`), and the carrier's report of the leg is applied once."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="transfers"
    )
    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="transfers")
    mode = models.CharField(max_length=8, choices=TransferMode.choices, default=TransferMode.COLD)
    target_number = models.CharField(max_length=16)
    # Which of the script's rules fired (`scripts.engine.TransferReason`).
    reason = models.CharField(max_length=16, blank=True)
    state = models.CharField(
        max_length=16, choices=TransferState.choices, default=TransferState.REQUESTED
    )
    timeout_seconds = models.PositiveSmallIntegerField(default=20)
    requested_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # How long the caller and the person talked (the carrier's duration of the answered leg).
    talk_seconds = models.PositiveIntegerField(null=True, blank=True)
    carrier_leg_sid = models.CharField(max_length=64, blank=True)
    carrier_status = models.CharField(max_length=32, blank=True)  # the carrier's own word
    error_message = models.CharField(max_length=500, blank=True)
    # Warm transfers: the person's leg is a call of its own (the caller waits in a conference);
    # its status callbacks as they came (`{status, sequence, at}`, in arrival order).
    leg_events = models.JSONField(default=list, blank=True)
    # Warm transfers nobody took: when the caller was sent back to the agent (a new media
    # stream), and when that stream was accepted (once: the claim for the resumed conversation).
    returned_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Transfer {self.pk} to {self.target_number[:-4]}… ({self.state})"


class SessionCost(models.Model):
    """What one call used and what it cost, by component (`sessions.costs`).

    Usage is written once per conversation when it closes (the close's claim makes it once);
    the cost is computed from the usage, the carrier's duration and the price table when the
    session finishes, and recomputed identically if asked again (idempotent). The prices used
    are kept with it, so a later change of the table does not rewrite what a call cost.
    `CallSession.cost` / `cost_currency` carry the total (the campaign counters read them)."""

    session = models.OneToOneField(
        CallSession, on_delete=models.CASCADE, primary_key=True, related_name="cost_detail"
    )
    # Usage.
    carrier = models.CharField(max_length=32, blank=True)
    carrier_seconds = models.PositiveIntegerField(default=0)
    carrier_billed_minutes = models.PositiveIntegerField(default=0)
    transfer_billed_minutes = models.PositiveIntegerField(default=0)
    stt_provider = models.CharField(max_length=32, blank=True)
    stt_audio_seconds = models.FloatField(default=0)
    tts_provider = models.CharField(max_length=32, blank=True)
    tts_characters = models.PositiveIntegerField(default=0)
    llm_provider = models.CharField(max_length=32, blank=True)
    llm_prompt_tokens = models.PositiveIntegerField(default=0)
    llm_completion_tokens = models.PositiveIntegerField(default=0)
    llm_requests = models.PositiveIntegerField(default=0)
    llm_requests_without_usage = models.PositiveIntegerField(default=0)
    compute_cpu_seconds = models.FloatField(default=0)
    # Cost by component; `total` is null until computed.
    carrier_cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    stt_cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    tts_cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    llm_cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    compute_cost = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    total = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    prices = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Cost of session {self.session_id}: {self.total} {self.currency}"
