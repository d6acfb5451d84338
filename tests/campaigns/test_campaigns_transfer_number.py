"""A campaign's transfer number (overriding its script's): E.164, not on the do-not-call list,
and what the live call is set up with."""

from __future__ import annotations

import pytest

from campaigns.models import DoNotCallEntry
from campaigns.services.lifecycle import campaign_transfer_errors

pytestmark = pytest.mark.django_db


def test_an_e164_number_off_the_list_is_accepted_and_empty_means_the_scripts(acme):
    assert campaign_transfer_errors(organization_id=acme.pk, transfer_number="+12125550118") == {}
    assert campaign_transfer_errors(organization_id=acme.pk, transfer_number="") == {}


def test_a_number_not_in_e164_form_or_on_the_list_is_refused(acme, settings):
    settings.CAMPAIGNS_DEFAULT_REGION = "US"
    assert campaign_transfer_errors(organization_id=acme.pk, transfer_number="(212) 555-0118") == {
        "transfer_number": ["Give the number in E.164 form: +12125550118."]
    }
    assert campaign_transfer_errors(organization_id=acme.pk, transfer_number="call me") == {
        "transfer_number": ["'call me' is not a phone number."]
    }
    DoNotCallEntry.objects.create(organization=acme, phone_number="+12125550118")
    assert campaign_transfer_errors(organization_id=acme.pk, transfer_number="+12125550118") == {
        "transfer_number": ["The transfer number is on the do-not-call list."]
    }


def test_the_campaigns_number_overrides_the_scripts_for_the_call():
    from types import SimpleNamespace
    from typing import Any, cast

    from sessions.live.conversation import _with_campaign_transfer

    campaign = cast(
        Any, SimpleNamespace(transfer_number="+12125550119", transfer_target_kind="business")
    )
    script = {"transfer": {"number": "+12125550118", "on_agreement": True}}
    assert _with_campaign_transfer(script, campaign)["transfer"] == {
        "number": "+12125550119",
        "on_agreement": True,
        "target_kind": "business",
    }
    assert _with_campaign_transfer({}, campaign)["transfer"] == {
        "number": "+12125550119",
        "target_kind": "business",
    }
    assert _with_campaign_transfer({"transfer": None}, None) == {"transfer": None}
