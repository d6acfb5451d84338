"""Signals other apps listen to, so sessions never import campaigns (one direction only)."""

from django.dispatch import Signal

# Sent once, after commit, when a call session reaches a terminal status and its outcome is
# known. kwargs: session (CallSession).
session_finished = Signal()

# Sent by placement after the claim and before the carrier dials. kwargs: session. A receiver
# answers (allowed, reason); any refusal cancels the call (campaigns re-checks its calling
# window, schedule and status here).
session_before_dial = Signal()
