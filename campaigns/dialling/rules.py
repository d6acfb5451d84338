"""The rules that read a finished session the campaign's way: was it an attempt, what outcome.

Shared by the outcome handler (`dialling.outcomes`) and the counters' rebuild
(`services.stats`, which mirrors them in SQL), so neither imports the other.
"""

from __future__ import annotations

from anvil_voice.telephony.carrier import PlaceCallErrorKind
from sessions.models import AnsweredBy, CallSession, CallStatus, Outcome

# The carrier adapter says "this number cannot be called" (Twilio's 21211 and friends, listed
# once in `anvil_voice.telephony.twilio`) as `PlaceCallErrorKind.INVALID_NUMBER`, which the
# placement service writes as the session's end reason.
INVALID_NUMBER_REASONS = frozenset({str(PlaceCallErrorKind.INVALID_NUMBER), "invalid-number"})
# End reasons the placement service writes when it refuses to dial (nothing reached the carrier).
PRE_DIAL_DO_NOT_CALL = frozenset({"do_not_call", "compliance:do_not_call"})


def was_dialled(session: CallSession) -> bool:
    """Did this session (possibly) reach the carrier? Only those count as attempts."""
    if session.carrier_call_sid:
        return True
    if session.status == CallStatus.CANCELED:
        return False  # cancelled before the carrier gave it a call id
    if session.end_reason in PRE_DIAL_DO_NOT_CALL or session.end_reason.startswith("compliance:"):
        return False
    # Claimed for placement: the create may have gone through even if its answer was lost.
    return session.placed_at is not None


def effective_outcome(session: CallSession) -> str:
    """The session's outcome, or one derived from how the call ended when none was set."""
    if session.outcome:
        return str(session.outcome)
    if session.status == CallStatus.BUSY:
        return Outcome.BUSY
    if session.status in (CallStatus.NO_ANSWER, CallStatus.CANCELED):
        return Outcome.NO_ANSWER
    if session.status == CallStatus.FAILED:
        return Outcome.FAILED
    if session.answered_by == AnsweredBy.MACHINE:
        return Outcome.VOICEMAIL
    if session.answered_by == AnsweredBy.HUMAN:
        return Outcome.COMPLETED
    return Outcome.NO_CONVERSATION


def is_invalid_number(session: CallSession) -> bool:
    return session.end_reason in INVALID_NUMBER_REASONS
