"""Factories for call sessions and what hangs off them (tests and seeding).

Sub-factories keep one organization across the graph: a session's campaign, contact, script
version and voice all belong to the session's organization.
"""

from __future__ import annotations

import factory

from anvil_voice.accounts.factories import OrganizationFactory
from campaigns.factories import CallerIdFactory, DoNotCallEntryFactory
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


# The voice, caller-ID and do-not-call factories live with their own apps; re-exported here so
# session tests can build a whole call graph from one module.
__all__ = [
    "CallEventFactory",
    "CallSessionFactory",
    "CallerIdFactory",
    "DoNotCallEntryFactory",
    "TranscriptTurnFactory",
    "VoiceFactory",
]
