"""Signals other apps listen to, so sessions never import campaigns (one direction only)."""

from django.dispatch import Signal

# Sent once, after commit, when a call session reaches a terminal status and its outcome is
# known. kwargs: session (CallSession).
session_finished = Signal()
