"""Factories for call sessions and what hangs off them (tests and seeding).

Sub-factories keep one organization across the graph: a session's campaign, contact, script
version and voice all belong to the session's organization.
"""

from __future__ import annotations

import factory

from anvil_voice.accounts.factories import OrganizationFactory
from sessions.models import CallEvent, CallSession, CallStatus, SessionKind, Speaker, TranscriptTurn
from voices.factories import VoiceFactory


class CallSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallSession

    organization = factory.SubFactory(OrganizationFactory)
    kind = SessionKind.CAMPAIGN
    to_number = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    from_number = "+14155550100"
    status = CallStatus.COMPLETED


class TranscriptTurnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TranscriptTurn

    session = factory.SubFactory(CallSessionFactory)
    index = factory.Sequence(lambda n: n)
    speaker = Speaker.AGENT
    text = "Hello there."
    start_ms = 0
    end_ms = 1000


class CallEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallEvent

    session = factory.SubFactory(CallSessionFactory)
    kind = "status.completed"


# The voice factory lives with its app; re-exported here for session tests (caller IDs and
# the do-not-call list are campaigns' and come from `campaigns.factories`).
__all__ = [
    "CallEventFactory",
    "CallSessionFactory",
    "TranscriptTurnFactory",
    "VoiceFactory",
]
