"""What sessions tell the apps above them (campaigns depends on sessions, never the reverse)."""

from django.dispatch import Signal

# Sent once, after commit, when a call session reaches a terminal status and its outcome is
# known. kwargs: session (CallSession).
session_finished = Signal()
