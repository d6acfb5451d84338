"""Helpers shared by the resilience suites: database snapshots and a whole tenant's graph.

A snapshot is every row of every model of ours (accounts, telephony, voices, scripts,
campaigns, sessions, webhooks), keyed by table and primary key, so "nothing changed" can be
asserted without knowing in advance which table a buggy endpoint might touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.apps import apps
from django.core.files.base import ContentFile
from django.db import models

from anvil_voice.accounts.models import ApiKey, Organization
from anvil_voice.webhooks import services as webhook_services
from campaigns.factories import (
    CallerIdFactory,
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    DoNotCallEntryFactory,
)
from campaigns.models import CallerId as CallerIdModel
from campaigns.models import Campaign, CampaignContact, Contact, ContactList, DoNotCallEntry
from campaigns.rehearsal.models import Rehearsal
from scripts.factories import ScriptFactory
from scripts.models import Script
from sessions.factories import CallEventFactory, CallSessionFactory, TranscriptTurnFactory
from sessions.models import CallSession
from voices import storage
from voices.factories import VoiceFactory, VoiceSampleFactory, tone_wav
from voices.models import Voice, VoicePreview

OUR_APPS = ("accounts", "telephony", "voices", "scripts", "campaigns", "sessions", "webhooks")
# Written by every authenticated request (the key's "last used" stamp): not a tenant change.
VOLATILE_FIELDS: dict[type[models.Model], set[str]] = {ApiKey: {"last_used_at"}}

Snapshot = dict[str, dict[Any, dict[str, Any]]]


def our_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if model._meta.app_label in OUR_APPS]


def snapshot() -> Snapshot:
    """Every row of our tables: {table: {pk: {column: value}}}."""
    result: Snapshot = {}
    for model in our_models():
        skip = VOLATILE_FIELDS.get(model, set())
        rows = {}
        for row in model._default_manager.order_by("pk").values():
            rows[row["id"] if "id" in row else repr(row)] = {
                key: value for key, value in row.items() if key not in skip
            }
        result[model._meta.db_table] = rows
    return result


@dataclass
class Diff:
    added: dict[str, list[dict[str, Any]]]
    removed: dict[str, list[Any]]
    changed: dict[str, list[Any]]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(before: Snapshot, after: Snapshot) -> Diff:
    added: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, list[Any]] = {}
    changed: dict[str, list[Any]] = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        if rows := [new[pk] for pk in new.keys() - old.keys()]:
            added[table] = rows
        if pks := sorted(old.keys() - new.keys(), key=repr):
            removed[table] = pks
        if pks := sorted((pk for pk in old.keys() & new.keys() if old[pk] != new[pk]), key=repr):
            changed[table] = pks
    return Diff(added, removed, changed)


# --- one organization's whole graph ----------------------------------------------------------

# Path resource -> the Tenant attribute holding that resource's object.
RESOURCES = {
    "api-keys": "api_key",
    "voices": "voice",
    "scripts": "script",
    "sessions": "session",
    "campaigns": "campaign",
    "contact-lists": "contact_list",
    "do-not-call": "do_not_call",
    "phone-numbers": "caller_id",
    "webhooks": "webhook",
    "rehearsals": "rehearsal",
    # Not a path resource: the `{session_id}` of `/rehearsals/{id}/calls/{session_id}`.
    "rehearsal-calls": "rehearsal_session",
}


@dataclass
class Tenant:
    """One of everything an organization can own, reachable through the API."""

    organization: Organization
    api_key: ApiKey
    script: Script
    voice: Voice
    preview: VoicePreview
    contact_list: ContactList
    contact: Contact
    caller_id: CallerIdModel
    campaign: Campaign
    campaign_contact: CampaignContact
    session: CallSession
    do_not_call: DoNotCallEntry
    webhook: Any
    rehearsal: Rehearsal
    rehearsal_session: CallSession

    def ids(self) -> dict[str, int]:
        """Path resource (the first segment after /api/v1/voice/) -> this tenant's object id."""
        return {resource: getattr(self, attribute).pk for resource, attribute in RESOURCES.items()}


def build_tenant(organization: Organization, api_key: ApiKey, *, digits: str) -> Tenant:
    """`digits` (two) keep the tenants' phone numbers apart where uniqueness is per number."""
    script = cast(Script, ScriptFactory(organization=organization))
    voice = cast(Voice, VoiceFactory(organization=organization))
    VoiceSampleFactory(voice=voice)
    preview = VoicePreview.objects.create(
        voice=voice,
        text="Hello from the preview.",
        text_sha256="0" * 64,
        file=storage.store(
            key=f"voices/{organization.pk}/{voice.uid.hex}/previews/matrix.mp3",
            content=ContentFile(tone_wav(0.2)),
        ),
        duration_seconds=0.2,
        size_bytes=100,
    )
    contact_list = cast(ContactList, ContactListFactory(organization=organization))
    contact = cast(
        Contact, ContactFactory(contact_list=contact_list, phone_number=f"+1212555{digits}01")
    )
    caller_id = cast(
        CallerIdModel,
        CallerIdFactory(organization=organization, phone_number=f"+1415555{digits}00"),
    )
    campaign: Campaign = CampaignFactory(  # type: ignore[assignment]
        organization=organization,
        script=script,
        voice=voice,
        contact_list=contact_list,
        caller_id=caller_id,
    )
    campaign_contact = CampaignContact.objects.create(
        campaign=campaign, contact=contact, organization=organization
    )
    session: CallSession = CallSessionFactory(  # type: ignore[assignment]
        organization=organization,
        campaign=campaign,
        contact=contact,
        target=campaign_contact,
        voice=voice,
        to_number=contact.phone_number,
        from_number=caller_id.phone_number,
    )
    TranscriptTurnFactory(session=session, index=0)
    CallEventFactory(session=session)
    do_not_call: DoNotCallEntry = DoNotCallEntryFactory(  # type: ignore[assignment]
        organization=organization, phone_number=f"+1212555{digits}99"
    )
    webhook = webhook_services.webhook_endpoint_create(
        organization=organization,
        url=f"https://hooks.example.com/{organization.slug}",
        events=["session.completed"],
    )
    rehearsal = Rehearsal.objects.create(
        organization=organization,
        campaign=campaign,
        mix={"interested": 1.0},
        mix_source="given",
        size=1,
        simulated_start=campaign.created_at,
        status="completed",
    )
    rehearsal_session: CallSession = CallSessionFactory(  # type: ignore[assignment]
        organization=organization, campaign=campaign, rehearsal=rehearsal, carrier="rehearsal"
    )
    return Tenant(
        rehearsal=rehearsal,
        rehearsal_session=rehearsal_session,
        organization=organization,
        api_key=api_key,
        script=script,
        voice=voice,
        preview=preview,
        contact_list=contact_list,
        contact=contact,
        caller_id=caller_id,
        campaign=campaign,
        campaign_contact=campaign_contact,
        session=session,
        do_not_call=do_not_call,
        webhook=webhook,
    )
