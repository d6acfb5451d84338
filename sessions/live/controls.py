"""What a staff member may do to a live call from the monitor: hang it up, or take it.

Both go through the carrier exactly as the agent's own decisions do (`session_hang_up`, and
`session_transfer_start` as a cold transfer to the member's own phone number), and both are
written to the session's event log first, with who asked: an audited action, whether the
carrier then succeeds or not. The entry points (`sessions.live.monitor_page`) check the
organization and the role; these functions check the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from anvil_voice.accounts.models import Membership
from scripts.engine import TransferCall, TransferMode, TransferReason, TransferTargetKind
from scripts.engine.types import DEFAULT_TRANSFER_TIMEOUT_SECONDS
from sessions.carrier.status import session_hang_up
from sessions.models import CallEvent, CallSession, Outcome, TransferState
from sessions.transfers import TransferCarrier, session_transfer_start, transfer_target_problem

logger = logging.getLogger(__name__)

STAFF_HANG_UP = "staff.hang_up"
STAFF_TRANSFER = "staff.transfer_to_me"


@dataclass(frozen=True)
class ControlResult:
    done: bool
    message: str


def _actor(user: Any) -> dict[str, Any]:
    return {"user": user.pk, "username": user.get_username()}


def _live(session: CallSession) -> str:
    """Why `session` has no call to act on ("" when it has one)."""
    session.refresh_from_db(fields=["status", "carrier_call_sid"])
    if session.is_finished:
        return "This call has already ended."
    if not session.carrier_call_sid:
        return "This call has not reached the carrier yet."
    return ""


def session_staff_hang_up(*, session: CallSession, user: Any) -> ControlResult:
    if problem := _live(session):
        return ControlResult(False, problem)
    CallEvent.objects.create(session=session, kind=STAFF_HANG_UP, data=_actor(user))
    done = session_hang_up(session_id=session.pk)
    logger.info("event=staff_hang_up session=%s user=%s done=%s", session.pk, user.pk, done)
    if not done:
        return ControlResult(False, "This call has already ended.")
    return ControlResult(True, "Hanging up: the call ends in a moment.")


def staff_phone_number(*, user: Any, organization_id: int) -> str:
    return (
        Membership.objects.filter(user=user, organization_id=organization_id)
        .values_list("phone_number", flat=True)
        .first()
        or ""
    )


def session_staff_transfer(
    *, session: CallSession, user: Any, carrier: TransferCarrier | None = None
) -> ControlResult:
    """Move the caller to the staff member's own phone (a cold transfer: they hear the caller
    at once; the monitor already showed them the conversation)."""
    if problem := _live(session):
        return ControlResult(False, problem)
    number = staff_phone_number(user=user, organization_id=session.organization_id)
    if not number:
        return ControlResult(
            False, "Add your phone number on the live monitor first: the call is sent there."
        )
    if problem := transfer_target_problem(session=session, number=number, person=False):
        return ControlResult(False, problem)
    CallEvent.objects.create(
        session=session, kind=STAFF_TRANSFER, data={**_actor(user), "number": number}
    )
    transfer = session_transfer_start(
        session_id=session.pk,
        action=TransferCall(
            number=number,
            mode=TransferMode.COLD,
            timeout_seconds=DEFAULT_TRANSFER_TIMEOUT_SECONDS,
            reason=TransferReason.STAFF,
            # The member asked for this call from the monitor, now: the calling window
            # protects the people we call, not our own staff taking a call they requested.
            target_kind=TransferTargetKind.BUSINESS,
        ),
        carrier=carrier,
    )
    if transfer is None:
        return ControlResult(False, "This call has already ended.")
    if transfer.state == TransferState.FAILED:
        return ControlResult(False, f"The transfer failed: {transfer.error_message}")
    with transaction.atomic():
        # A person has the caller now: the conversation's close keeps this outcome unless the
        # leg is not taken (`sessions.transfers` then makes it a callback).
        CallSession.objects.filter(pk=session.pk, outcome="").update(
            outcome=Outcome.TRANSFERRED, end_reason="staff_transfer"
        )
    logger.info("event=staff_transfer session=%s user=%s", session.pk, user.pk)
    return ControlResult(True, f"Transferring the call to {number}: your phone rings now.")
