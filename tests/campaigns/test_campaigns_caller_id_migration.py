"""The migration to one organization per caller ID does not fail on numbers already shared.

Runs the real migrations: back to before them, registers one number in three organizations
(possible then), and forward again.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from anvil_voice.accounts.factories import OrganizationFactory
from campaigns.factories import CallerIdFactory, CampaignFactory
from campaigns.models import CallerId, Campaign

BEFORE = ("campaigns", "0004_campaign_dialling_state")


def migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_first_registration_and_detaches_the_later_ones():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    first, unused, in_use = (OrganizationFactory() for _ in range(3))
    # The campaign is made with today's model (later migrations add columns the old schema
    # lacks) and pointed at the shared number once that can be registered.
    campaign = CampaignFactory(organization=in_use)
    placeholder = campaign.caller_id_id
    migrate([BEFORE])
    try:
        kept = CallerIdFactory(organization=first, phone_number="+15555550150")
        CallerIdFactory(organization=unused, phone_number="+15555550150", is_default=True)
        later = CallerIdFactory(
            organization=in_use, phone_number="+15555550150", is_default=True, label="Sales"
        )
        Campaign.objects.filter(pk=campaign.pk).update(caller_id=later)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(CallerId._meta.db_table)} WHERE id = %s",
                [placeholder],
            )
        other = CallerIdFactory(organization=unused, phone_number="+15555550151")
    finally:
        migrate(leaves)

    rows = {row.pk: row for row in CallerId.objects.all()}
    assert sorted(rows) == sorted([kept.pk, later.pk, other.pk])
    assert (rows[kept.pk].organization_id, rows[kept.pk].phone_number) == (
        first.pk,
        "+15555550150",
    )
    detached = rows[later.pk]
    assert (detached.phone_number, detached.label, detached.is_default) == (
        f"dup-{later.pk}",
        "+15555550150 is registered to another organization",
        False,
    )
    assert Campaign.objects.get(pk=campaign.pk).caller_id_id == later.pk
    assert rows[other.pk].phone_number == "+15555550151"
