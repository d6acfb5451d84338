"""`ReadPlanMixin` (anvil_voice/api/serializers.py) answers exactly what DRF's own
`to_representation` would, for model rows (plain columns read directly) and everything else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import serializers

from anvil_voice.api.serializers import CamelCaseMixin, ReadPlanMixin
from campaigns.api.serializers import CampaignSerializer, ContactSerializer
from campaigns.factories import CampaignFactory, ContactFactory
from scripts.api.serializers import ScriptSerializer
from scripts.factories import ScriptFactory
from sessions.api.serializers import SessionDetailSerializer, SessionSerializer
from sessions.factories import CallSessionFactory, TranscriptTurnFactory
from sessions.models import ScheduledCallback
from voices.api.serializers import VoiceDetailSerializer, VoiceSerializer
from voices.factories import VoiceFactory, VoiceSampleFactory


def _drf(serializer: serializers.Serializer, instance: Any) -> dict[str, Any]:
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.mark.django_db
def test_model_rows_read_the_same_as_with_drf(acme, monkeypatch):
    voice = VoiceFactory.create(organization=acme, labels={"accent": "scottish"})
    VoiceSampleFactory.create(voice=voice)
    campaign = CampaignFactory.create(organization=acme, voice=voice)
    contact = ContactFactory.create(contact_list=campaign.contact_list, variables={"a": 1})
    session = CallSessionFactory.create(
        organization=acme,
        campaign=campaign,
        contact=contact,
        voice=voice,
        answered_at=timezone.now(),
        extracted={"callback_at": "2026-12-08T15:00:00Z"},
    )
    TranscriptTurnFactory.create(session=session)
    ScheduledCallback.objects.create(
        organization=acme,
        source_session=session,
        campaign=campaign,
        contact=contact,
        at=timezone.now() + timedelta(days=1),
        requested_at=timezone.now(),
    )
    cases = [
        (VoiceSerializer(), voice),
        (VoiceDetailSerializer(), voice),
        (ScriptSerializer(), ScriptFactory.create(organization=acme)),
        (CampaignSerializer(), campaign),
        (ContactSerializer(), contact),
        (SessionSerializer(), session),
        (SessionDetailSerializer(), session),
    ]
    planned = []
    for serializer, instance in cases:
        planned.append(list(serializer.to_representation(instance).items()))
        plan = serializer._read_plans[type(instance)]
        assert any(read is not None for _, read, _ in plan), "columns are read directly"
    # The same serializers (their own overrides included) with DRF's reading instead, and
    # their fields built by DRF for the instance (not copied from the class's template).
    monkeypatch.setattr(ReadPlanMixin, "to_representation", _drf)
    monkeypatch.setattr(CamelCaseMixin, "get_fields", CamelCaseMixin._build_fields)
    for (serializer, instance), expected in zip(cases, planned, strict=True):
        fresh = type(serializer)()
        assert list(fresh.to_representation(instance).items()) == expected, serializer


def test_a_dict_row_keeps_drfs_path():
    from anvil_voice.api.serializers import CamelCaseSerializer

    class CamelRow(CamelCaseSerializer):
        first_name = serializers.CharField()
        note = serializers.CharField(required=False)

    row = {"first_name": "Ada"}
    serializer = CamelRow()
    assert serializer.to_representation(row) == _drf(serializer, row) == {"firstName": "Ada"}
    assert all(read is None for _, read, _ in serializer._read_plans[dict])


def test_template_fields_are_copies_bound_to_each_serializer():
    first, second = VoiceDetailSerializer(), VoiceDetailSerializer(context={"n": 2})
    for name, field in first.fields.items():
        assert second.fields[name] is not field
        assert field.parent is first
        assert second.fields[name].parent is second
    # A nested serializer's own fields reach its new parent's context.
    assert second.fields["samples"].child.context == {"n": 2}


@pytest.mark.django_db
def test_the_session_list_loads_only_what_a_row_shows_in_fixed_queries(owner):
    columns = SessionSerializer().read_columns()
    assert columns is not None
    assert {"recording", "extracted", "queued_at", "campaign"} <= set(columns)
    assert "compliance" not in columns
    assert "summary" not in columns
    assert SessionDetailSerializer().read_columns() is None  # method fields it cannot know

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner.client.get("/api/v1/voice/sessions?ordering=duration").status_code == 200
        return len(captured)

    CallSessionFactory.create(organization=owner.organization)
    queries()  # the key's lookup and its last-used time: once, then cached
    one = queries()
    CallSessionFactory.create_batch(3, organization=owner.organization, duration_seconds=7)
    assert queries() == one  # no deferred column read again per row
